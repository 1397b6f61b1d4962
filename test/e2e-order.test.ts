// Per-sender order across the relay's refusals, with the real binary against a real relay whose
// send rate limit is low: a backlog flushed over the WebSocket (64 sends in flight) and over HTTP
// (one-shot `send`) runs into `rate_limited` again and again, and bob must read every message once,
// in the order alice wrote them. Before the fix, sends already in flight behind a refused one were
// stored first (issue 13.1: 33 of 2,000 out of order).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { jsonLines, makeTempRoot, startUsers, type TestHome } from './util/fastchat-cli.js';
import { withCore } from './util/client-core.js';
import { RELAY_TEST_ARGS } from './util/fault.js';
import type { RelayProcess } from './util/relay-process.js';

/**
 * Deliveries per second and burst: a backlog of BACKLOG overruns the burst many times over, and a
 * sender slowed by a loaded machine (one-shot HTTP sends one after another) still outruns the rate
 * (at 100/s and at 40/s it did not at load average 12–18: one-shot sends went out at ~15/s, no
 * refusal, and the test failed its precondition).
 */
const RATE = 10;
const BURST = 10;
const BACKLOG = 150;
/** Bounds on the commands each flush may take (every one must make progress, so few are needed). */
const MAX_RUNS = 30;

function outboxSize(home: TestHome): number {
  const db = new Database(join(home.dir, 'store.db'), { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function queueBacklog(home: TestHome, peer: string, prefix: string, n: number): Promise<string[]> {
  const texts = Array.from({ length: n }, (_, i) => `${prefix} ${String(i).padStart(4, '0')}`);
  await withCore(home, async (c) => {
    const { queueText } = await import('../client/core/outbox.js');
    for (const t of texts) queueText(c, peer, t);
  });
  return texts;
}

/** Runs `inbox --json` on the receiver until `n` messages came in; their texts in printed order. */
async function receive(home: TestHome, n: number): Promise<string[]> {
  const got: string[] = [];
  for (let i = 0; i < MAX_RUNS && got.length < n; i++) {
    const r = await home.ok(['inbox', '--json'], { timeoutMs: 120_000 });
    got.push(...jsonLines(r.stdout).map((m) => m.text as string));
  }
  return got;
}

/** Where the received order first departs from the sent one, for a readable failure. */
function firstDisorder(sent: string[], got: string[]): string {
  const i = got.findIndex((t, k) => t !== sent[k]);
  return i < 0 ? 'none' : `position ${i}: got "${got[i]}", expected "${sent[i]}" (${got.length} received)`;
}

describe('per-sender order across rate-limit refusals', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob'], {
      relayArgs: [...RELAY_TEST_ARGS, '--rate-limit-send', String(RATE), '--rate-limit-send-burst', String(BURST)],
    }));
    await alice.ok(['send', '@bob', 'hello']);
    assert.deepEqual(await receive(bob, 1), ['hello']);
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('delivers a backlog flushed over the WebSocket into the send rate limit in exact order', { timeout: 300_000 }, async () => {
    const sent = await queueBacklog(alice, 'bob', 'ws', BACKLOG);
    const refusedBefore = await refusals(relay, 'rate_limited');
    for (let i = 0; i < MAX_RUNS && outboxSize(alice) > 0; i++) await alice.ok(['inbox'], { timeoutMs: 120_000 });
    assert.equal(outboxSize(alice), 0, 'the backlog left');
    const got = await receive(bob, BACKLOG);
    assert.equal(got.length, BACKLOG, 'every message arrived once');
    assert.deepEqual(got, sent, `order broken at ${firstDisorder(sent, got)}`);
    assert.ok((await refusals(relay, 'rate_limited')) > refusedBefore, 'the rate limit refused sends on the way');
  });

  it('delivers a backlog flushed by one-shot send over HTTP into the send rate limit in exact order', { timeout: 300_000 }, async () => {
    const sent = await queueBacklog(alice, 'bob', 'http', BACKLOG);
    const refusedBefore = await refusals(relay, 'rate_limited');
    let last = 0;
    for (let i = 0; i < MAX_RUNS && outboxSize(alice) > 0; i++) {
      await alice.ok(['send', '@bob', `http tail ${i}`], { timeoutMs: 120_000 });
      sent.push(`http tail ${i}`);
      last = i;
    }
    assert.equal(outboxSize(alice), 0, `the backlog left (after ${last + 1} sends)`);
    const got = await receive(bob, sent.length);
    assert.deepEqual(got, sent, `order broken at ${firstDisorder(sent, got)}`);
    assert.ok((await refusals(relay, 'rate_limited')) > refusedBefore, 'the rate limit refused sends on the way');
  });
});

/** Sends the relay refused with `code` so far (its /metrics counter). */
async function refusals(relay: RelayProcess, code: string): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  const m = new RegExp(`^fastchat_rejects_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}
