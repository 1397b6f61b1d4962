// Fault suite: processes stopped and killed at random points (issue 13). While alice's client flushes
// batches of messages, bob's real `fastchat inbox` runs and, each round, one of four faults hits:
// inbox killed -9, inbox stopped (SIGSTOP) and continued, the relay killed -9 (and restarted on its
// database), the relay stopped and continued. Then everything is flushed and read, and the
// delivery checker judges what bob's inbox printed against what alice was told.
//
// The rounds are seeded: a failure prints its seed; FASTCHAT_FAULTS_SEED=<seed> replays it.
// `npm run faults` (FASTCHAT_FAULTS=long) runs more rounds with bigger batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Client } from '../client/core/context.js';
import { openCore } from './util/client-core.js';
import { DeliveryChecker } from './util/delivery-checker.js';
import { startUsers, TEST_CLIENT_ENV, type TestHome } from './util/fastchat-cli.js';
import { prng, RELAY_TEST_ARGS, sleep, within } from './util/fault.js';
import { FASTCHAT_BIN } from './util/paths.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';

const LONG = process.env.FASTCHAT_FAULTS === 'long';
const ROUNDS = LONG ? 16 : 4;
const BATCH = LONG ? 150 : 40;
const FAULTS = ['kill-inbox', 'stop-inbox', 'kill-relay', 'stop-relay'] as const;

interface InboxRun {
  proc: ChildProcess;
  done: Promise<number | null>;
  run: string;
}

/** `fastchat inbox --json` for bob; every complete line it prints counts as shown, in order. */
function startInbox(home: TestHome, onShown: (from: string, id: string, run: string) => void): InboxRun {
  const run = `inbox-${++runs}`;
  const proc = spawn(process.execPath, [FASTCHAT_BIN, 'inbox', '--json'], { env: { ...process.env, ...TEST_CLIENT_ENV, ...home.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const m = JSON.parse(line) as { id: string; from: string };
      onShown(m.from, m.id, run);
    }
  });
  proc.stderr!.resume();
  const done = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  return { proc, done, run };
}

let runs = 0;

test("killing and stopping the relay and the receiving client at random points loses and reorders nothing, and repeats only a killed client's last line", { timeout: 240_000 }, async (t) => {
  const seed = Number(process.env.FASTCHAT_FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (replay: FASTCHAT_FAULTS_SEED=${seed})`);
  const rnd = prng(seed);
  const { tmp, relay: first, dbPath, homes } = await startUsers(['alice', 'bob'], { relayArgs: RELAY_TEST_ARGS, prefix: 'fastchat-kill-' });
  let relay: RelayProcess = first;
  let alice: Client | null = null;
  const running = new Set<ChildProcess>();
  t.after(async () => {
    for (const p of running) p.kill('SIGKILL');
    alice?.close();
    await relay.stop();
    tmp.cleanup();
  });
  const check = new DeliveryChecker();
  const { queueText, deliverOutbox, countOutbox } = await import('../client/core/outbox.js');
  const { relayTarget } = await import('../client/core/context.js');
  alice = await openCore(homes.alice);
  const a = alice;
  let n = 0;
  const toldSent = (): void => {
    for (const r of a.db.prepare("SELECT id FROM messages WHERE peer = 'bob' AND direction = 'out' AND status IN ('sent', 'delivered')").all() as { id: string }[]) check.sent('alice', r.id);
  };
  const flush = async (): Promise<void> => {
    try {
      await deliverOutbox(a, relayTarget(a));
    } catch {
      // the relay went away under the flush: the rest stays queued for the next one
    }
    toldSent();
  };
  const restartRelay = async (): Promise<void> => {
    relay = await startRelayProcess({ db: dbPath, port: first.port, args: RELAY_TEST_ARGS });
  };
  const shown = (from: string, id: string, run: string): void => check.shown('bob', from, id, run);

  const deadline = Date.now() + (LONG ? 180_000 : 60_000);
  for (let round = 0; round < ROUNDS && Date.now() < deadline; round++) {
    for (let i = 0; i < BATCH; i++, n++) check.queued('alice', queueText(a, 'bob', `round ${round} message ${n}`).id, 'bob');
    const fault = FAULTS[(round + rnd.int(FAULTS.length)) % FAULTS.length]!;
    const flushing = flush();
    const before = check.counts().shown;
    const started = Date.now();
    const inbox = startInbox(homes.bob, shown);
    running.add(inbox.proc);
    // Strike while bob is receiving: once his first line of this round is out (or after 3 s), plus
    // a random moment of up to 150 ms.
    while (check.counts().shown === before && Date.now() - started < 3000 && inbox.proc.exitCode === null) await sleep(5);
    await sleep(rnd.int(150));
    const at = Date.now() - started;
    if (fault === 'kill-inbox') {
      inbox.proc.kill('SIGKILL');
      check.killed(inbox.run);
    }
    else if (fault === 'stop-inbox' || fault === 'stop-relay') {
      const target = fault === 'stop-inbox' ? inbox.proc : relay.proc;
      target.kill('SIGSTOP');
      await sleep(300 + rnd.int(1200));
      target.kill('SIGCONT');
    } else {
      await relay.kill();
      await restartRelay();
    }
    await within(Promise.all([flushing, inbox.done]), 60_000, `round ${round} (${fault} at ${at} ms)`);
    running.delete(inbox.proc);
    t.diagnostic(`round ${round}: ${fault} at ${at} ms; ${check.counts().shown} shown so far`);
  }

  // Everything flushed and read: alice's outbox empties, bob's inbox runs until it prints nothing new.
  for (let i = 0; i < 10 && countOutbox(a) > 0; i++) await flush();
  assert.equal(countOutbox(a), 0, 'alice flushed everything');
  for (let i = 0, before = -1; i < 10 && check.counts().shown !== before; i++) {
    before = check.counts().shown;
    const inbox = startInbox(homes.bob, shown);
    running.add(inbox.proc);
    assert.equal(await within(inbox.done, 60_000, 'the final inbox'), 0);
    running.delete(inbox.proc);
  }
  t.diagnostic(`counts ${JSON.stringify(check.counts())}`);
  assert.equal(check.report(), '', `seed ${seed}`);
  assert.equal(check.counts().sent, n);
});
