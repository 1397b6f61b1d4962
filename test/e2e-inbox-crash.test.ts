// `fastchat inbox` killed with SIGKILL at random points while it works through a large backlog
// (issue 13.6). Every message the relay handed over and bob's inbox acknowledged must be printed by
// some inbox run, and at most the one being printed when a run died may be printed twice. Half the
// runs have a reader that stops reading, as a pager or a stalled terminal would: the pipe fills and
// printed lines wait inside the process, which is where a message used to be acknowledged, counted
// as shown, and lost with the process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { jsonLines, makeTempRoot, startUsers, TEST_CLIENT_ENV, type TestHome } from './util/fastchat-cli.js';
import { withCore } from './util/client-core.js';
import { prng, RELAY_TEST_ARGS, sleep, waitFor } from './util/fault.js';
import { FASTCHAT_BIN } from './util/paths.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';

/** Larger than a pipe and a paused reader's buffer hold (~500 lines), so a stalled run fills them. */
const BACKLOG = 1200;
/** For the relay dying mid-drain: enough that inbox is still receiving when it dies. */
const DRAIN_BACKLOG = 800;
const KILLS = 10;
/** A kill lands this long after the start (ms): from before the first frame to well into the backlog. */
const KILL_AFTER_MS = [250, 1500] as const;
const FINAL_RUNS = 10;

interface Run {
  lines: string[];
  killed: boolean;
  code: number | null;
  /** The run's last stderr line (warnings and errors only: never a message body). */
  lastError: string;
}

/** One `inbox --json` run, killed after `killAfterMs` unless it ends first; complete lines only. */
async function inboxRun(home: TestHome, killAfterMs: number | null, stallReader: boolean): Promise<Run> {
  const child = spawn(process.execPath, [FASTCHAT_BIN, 'inbox', '--json'], { env: { ...process.env, ...TEST_CLIENT_ENV, ...home.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  let code: number | null = null;
  const exited = new Promise<void>((r) =>
    child.once('close', (c) => {
      code = c;
      r();
    }),
  );
  // The listener is attached at once even for a stalled reader, which pauses it instead: a child
  // that exits while nobody listens has its output flushed away by Node (child_process resumes
  // unread stdio on exit), which would read as lines the inbox lost.
  child.stdout.on('data', (d: string) => (out += d));
  if (stallReader) child.stdout.pause();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, killAfterMs ?? 120_000);
  try {
    if (stallReader) {
      // Read nothing until the kill, then everything the pipe still holds.
      await Promise.race([exited, sleep(killAfterMs ?? 0)]);
      child.stdout.resume();
    }
    await exited;
  } finally {
    clearTimeout(timer);
  }
  // A line cut by the kill (no newline yet) was not printed; its message is printed again later.
  const complete = out.slice(0, out.lastIndexOf('\n') + 1);
  const errLines = err.split('\n').filter((l) => l.length > 0);
  return { lines: complete.split('\n').filter((l) => l.length > 0), killed, code, lastError: errLines.at(-1) ?? '' };
}

function count(db: string, sql: string): number {
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare(sql).get() as { n: number }).n;
  } finally {
    d.close();
  }
}

describe('inbox killed at random points', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob'], { relayArgs: RELAY_TEST_ARGS }));
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('prints every acknowledged message, each once but for at most one repeat per kill', { timeout: 600_000 }, async () => {
    const seed = Number(process.env.FASTCHAT_TEST_SEED ?? Date.now() % 1_000_000);
    const rng = prng(seed);
    const sent = Array.from({ length: BACKLOG }, (_, i) => `backlog ${String(i).padStart(4, '0')}`);
    await withCore(alice, async (c) => {
      const { queueText } = await import('../client/core/outbox.js');
      for (const t of sent) queueText(c, 'bob', t);
    });
    await alice.ok(['inbox'], { timeoutMs: 180_000 });
    assert.equal(count(relay.db, "SELECT COUNT(*) AS n FROM deliveries WHERE username = 'bob'"), BACKLOG, 'the backlog waits at the relay');

    const printed = new Map<string, number>();
    const note = (r: Run): void => {
      for (const m of jsonLines(r.lines.join('\n'))) printed.set(m.text, (printed.get(m.text) ?? 0) + 1);
    };
    let kills = 0;
    const runs: string[] = [];
    const log = (r: Run, stalled: boolean): void => {
      const texts = jsonLines(r.lines.join('\n')).map((m: { text: string }) => m.text);
      const range = texts.length > 0 ? ` (${texts[0]} … ${texts.at(-1)})` : '';
      runs.push(`${stalled ? 'stalled reader, ' : ''}${r.killed ? 'killed' : `exit ${r.code}`}, ${r.lines.length} lines${range}${r.lastError ? `, stderr: ${r.lastError}` : ''}`);
    };
    for (let k = 0; k < KILLS; k++) {
      const killAfter = KILL_AFTER_MS[0] + rng.int(KILL_AFTER_MS[1] - KILL_AFTER_MS[0]);
      const stalled = rng.next() < 0.5;
      const r = await inboxRun(bob, killAfter, stalled);
      if (r.killed) kills++;
      note(r);
      log(r, stalled);
    }
    for (let k = 0; k < FINAL_RUNS; k++) {
      const r = await inboxRun(bob, null, false);
      note(r);
      log(r, false);
      // An unkilled run must succeed: one that failed printed nothing because it failed, not
      // because nothing was left.
      assert.equal(r.code, 0, `an inbox run that was not killed failed (seed ${seed}):\n${runs.join('\n')}`);
      if (r.lines.length === 0 && count(relay.db, "SELECT COUNT(*) AS n FROM deliveries WHERE username = 'bob'") === 0) break;
    }
    const store = join(bob.dir, 'store.db');
    const failures = new Database(store, { readonly: true });
    const failed = failures.prepare("SELECT error, COUNT(*) AS n FROM messages WHERE direction = 'in' AND status = 'failed' GROUP BY error").all() as { error: string; n: number }[];
    const unread = count(store, "SELECT COUNT(*) AS n FROM messages WHERE direction = 'in' AND unread > 0");
    failures.close();
    const context = `seed ${seed}, ${kills} kills (FASTCHAT_TEST_SEED=${seed} replays it); bob's store: ${unread} unread, failed ${JSON.stringify(failed)}; runs:\n${runs.join('\n')}`;
    // The relay commits an ack-only turn up to a few ms after it (docs/RELAY.md "Durability").
    const bobsQueue = () => count(relay.db, "SELECT COUNT(*) AS n FROM deliveries WHERE username = 'bob'");
    await waitFor(() => bobsQueue() === 0, 5000, "bob's last acks to commit").catch(() => {});
    assert.equal(bobsQueue(), 0, `bob acknowledged everything (${context})`);
    const never = sent.filter((t) => !printed.has(t));
    assert.deepEqual(never.slice(0, 10), [], `${never.length} acknowledged messages were never printed (${context})`);
    const repeats = [...printed.values()].reduce((n, c) => n + c - 1, 0);
    assert.ok(repeats <= kills, `${repeats} repeated lines for ${kills} kills (${context})`);
    assert.deepEqual(failed, [], `no message failed to decrypt (${context})`);
    assert.equal(unread, 0, `nothing is left unread (${context})`);
  });

  it('says how many messages are still queued when the connection ends before the relay sent everything', { timeout: 300_000 }, async () => {
    const sent = Array.from({ length: DRAIN_BACKLOG }, (_, i) => `second ${String(i).padStart(4, '0')}`);
    await withCore(alice, async (c) => {
      const { queueText } = await import('../client/core/outbox.js');
      for (const t of sent) queueText(c, 'bob', t);
    });
    await alice.ok(['inbox'], { timeoutMs: 180_000 });
    const child = spawn(process.execPath, [FASTCHAT_BIN, 'inbox'], { env: { ...process.env, ...TEST_CLIENT_ENV, ...bob.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    // The relay dies while bob is part-way through the backlog.
    for (let i = 0; i < 600 && out.split('\n').length < 20 && child.exitCode === null; i++) await sleep(50);
    const { db, port } = relay;
    await relay.kill();
    assert.equal(await exited, 0);
    assert.doesNotMatch(err, /no new messages/);
    const m = /stopped before the relay had sent everything: (\d+) messages? (?:is|are) still queued there/.exec(err);
    assert.ok(m, `inbox says what it left behind:\n${err}`);
    relay = await startRelayProcess({ db, port, args: RELAY_TEST_ARGS });
    const left = count(relay.db, "SELECT COUNT(*) AS n FROM deliveries WHERE username = 'bob'");
    assert.ok(Number(m[1]) > 0 && Number(m[1]) <= left, `told ${m[1]}, ${left} still queued (acks on the way when the relay died stay queued)`);
    const lines = out.split('\n').filter((l) => l.includes('second '));
    for (let k = 0; k < FINAL_RUNS && left > 0; k++) {
      const r = await bob.ok(['inbox'], { timeoutMs: 120_000 });
      lines.push(...r.stdout.split('\n').filter((l) => l.includes('second ')));
      if (/no new messages/.test(r.stderr)) break;
    }
    assert.deepEqual([...new Set(lines.map((l) => /second \d+/.exec(l)![0]))].sort(), sent);
  });
});
