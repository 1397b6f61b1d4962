// Storing a `history` payload (docs/PROTOCOL.md D.12 step 4, §12.2) on a temp home, without a
// relay: what incoming.ts hands storeHistory once the sender is one of our own listed devices.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { assembleClient } from './assemble.js';
import type { Client } from './context.js';
import { openTestStore as openDb } from '../../test/util/client-store.js';
import { history } from './history.js';
import { storeHistory } from './history-transfer.js';
import { homePaths } from './home.js';
import { encodePayload, HISTORY_MAX_ENTRIES, parsePayload, PayloadError, type HistoryPayload } from './payload.js';
import { unreadAfter } from './unread.js';

let root: string;
let client: Client;
const SENT = '2026-01-02T03:04:05.678Z';
const entry = (id: string, direction: 'in' | 'out', text: string) => ({ peer: 'bob', direction, id, sentAt: SENT, text, status: direction === 'in' ? ('received' as const) : ('delivered' as const) });
const payload = (entries: HistoryPayload['entries']): HistoryPayload => ({ v: 1, type: 'history', id: 'h1', sentAt: SENT, entries });

before(async () => {
  await sodiumReady();
  root = mkdtempSync(join(tmpdir(), 'fastchat-history-transfer-'));
  const random = systemRandom();
  const home = homePaths(join(root, 'laptop'));
  mkdirSync(home.dir, { recursive: true });
  client = assembleClient({ home, config: { username: 'alice', deviceId: 2 }, secrets: { identity: generateIdentity(random), storageKey: random(32) }, db: openDb(home.store), random, keystoreWasCurrent: false });
});
after(() => {
  client?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('storeHistory', () => {
  it('stores each entry in order with its sentAt and status, as read, and queues nothing (no receipt)', () => {
    const r = storeHistory(client, 1, payload([entry('m1', 'out', 'hi bob'), entry('m2', 'in', 'hi alice')]));
    assert.deepEqual([r.entries, r.added], [2, 2]);
    assert.deepEqual(
      history(client, 'bob', 10).map((e) => [e.id, e.direction, e.text, e.sentAt, e.status]),
      [['m1', 'out', 'hi bob', SENT, 'delivered'], ['m2', 'in', 'hi alice', SENT, 'received']],
    );
    assert.deepEqual(unreadAfter(client, 0, 10), []);
    assert.equal((client.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n, 0);
  });

  it('adds nothing for an entry it holds already (a replayed or repeated batch), whatever its text', () => {
    const r = storeHistory(client, 1, payload([entry('m1', 'out', 'rewritten'), entry('m3', 'out', 'new')]));
    assert.deepEqual([r.entries, r.added], [2, 1]);
    assert.deepEqual(history(client, 'bob', 10).map((e) => e.text), ['hi bob', 'hi alice', 'new']);
  });

  it('refuses a payload naming this account as a peer, and stores none of its entries', () => {
    assert.throws(() => storeHistory(client, 1, payload([entry('m9', 'out', 'fine'), { ...entry('m10', 'out', 'to myself'), peer: 'alice' }])), PayloadError);
    assert.equal(history(client, 'alice', 10).length, 0);
    assert.ok(!history(client, 'bob', 10).some((e) => e.id === 'm9'));
  });
});

describe('the history payload schema', () => {
  const ok = payload([entry('m1', 'out', 'hi')]);
  const bytes = (p: unknown) => new TextEncoder().encode(JSON.stringify(p));
  it('accepts a well-formed batch', () => {
    assert.deepEqual(parsePayload(encodePayload(ok)), ok);
  });
  for (const [what, bad] of [
    ['no entries', payload([])],
    [`more than ${HISTORY_MAX_ENTRIES} entries`, payload(Array.from({ length: HISTORY_MAX_ENTRIES + 1 }, (_, i) => entry(`m${i}`, 'in', '')))],
    ['an incoming entry not received', payload([{ ...entry('m1', 'in', 'x'), status: 'delivered' }])],
    ['an outgoing entry marked received', payload([{ ...entry('m1', 'out', 'x'), status: 'received' }])],
    ['an unknown direction', payload([{ ...entry('m1', 'out', 'x'), direction: 'sideways' as 'in' }])],
    ['a peer that is no username', payload([{ ...entry('m1', 'out', 'x'), peer: '../bob' }])],
    ['an entry id outside the id alphabet', payload([entry('m 1', 'out', 'x')])],
    ['a sentAt in milliseconds', payload([{ ...entry('m1', 'out', 'x'), sentAt: 1767322800000 as unknown as string }])],
    ['an unknown field in an entry', payload([{ ...entry('m1', 'out', 'x'), unread: 1 } as HistoryPayload['entries'][number]])],
    ['an entry without text', payload([{ ...entry('m1', 'out', 'x'), text: undefined as unknown as string }])],
  ] as const) {
    it(`refuses ${what} as bad_payload, whole`, () => {
      assert.throws(() => parsePayload(bytes(bad)), PayloadError);
    });
  }
});

describe('historyBatches', () => {
  it('cuts a long history into payloads under both bounds, oldest first, and leaves out what it cannot carry', async () => {
    const { historyBatches, HISTORY_PAYLOAD_MAX_BYTES } = await import('./history-transfer.js');
    const random = systemRandom();
    const home = homePaths(join(root, 'desk'));
    mkdirSync(home.dir, { recursive: true });
    const c = assembleClient({ home, config: { username: 'alice', deviceId: 1 }, secrets: { identity: generateIdentity(random), storageKey: random(32) }, db: openDb(home.store), random, keystoreWasCurrent: false });
    try {
      const put = c.db.prepare("INSERT INTO messages (id, peer, direction, body, sent_at, status) VALUES (?, ?, ?, ?, ?, 'sent')");
      const seal = (peer: string, id: string, text: string) => Buffer.from(c.sealer.seal('message', [peer, 'out', id], new TextEncoder().encode(text)));
      const expected: string[] = [];
      for (let i = 0; i < 1200; i++) {
        const peer = i % 2 ? 'bob' : 'carol';
        // Every 100th message is long (16,000 two-byte characters): byte-bound batches too.
        put.run(`m${i}`, peer, 'out', seal(peer, `m${i}`, i % 100 === 0 ? 'é'.repeat(16_000) : `message ${i}`), SENT);
        expected.push(`m${i}`);
      }
      put.run('sealed-elsewhere', 'bob', 'out', seal('bob', 'other-row', 'moved'), SENT); // unreadable here
      put.run('from-stranger', 'dave', 'out', seal('dave', 'from-stranger', 'hi'), SENT);
      c.db.prepare("INSERT INTO peer_states (username, state, since) VALUES ('dave', 'request', 0)").run();
      const sent = { entries: 0, payloads: 0, skipped: 0, pending: 0 };
      const batches = [...historyBatches(c, sent)];
      for (const b of batches) {
        assert.ok(b.entries.length <= HISTORY_MAX_ENTRIES);
        assert.ok(encodePayload(b).length <= HISTORY_PAYLOAD_MAX_BYTES, `${encodePayload(b).length} bytes`);
        assert.deepEqual(parsePayload(encodePayload(b)), b);
      }
      assert.ok(batches.length >= 4, `${batches.length} batches`);
      assert.deepEqual(batches.flatMap((b) => b.entries.map((e) => e.id)), expected);
      assert.equal(sent.skipped, 1, 'the unreadable one (a pending request is left out, not counted)');
    } finally {
      c.close();
    }
  });
});
