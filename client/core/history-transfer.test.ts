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
import { HistoryRefused, storeHistory } from './history-receive.js';
import { createGroup } from '../../crypto/group/index.js';
import { toHex } from '../../crypto/encoding.js';
import { groupHistory } from './groups.js';
import { appendRecord, loadGroup, saveGroup } from './group-store.js';
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

describe('storeHistory with group entries', () => {
  let team: Uint8Array;
  let hex: string;
  const gentry = (id: string, sender: string, text: string, over: Record<string, unknown> = {}) => ({
    group: hex,
    sender,
    direction: sender === 'alice' ? ('out' as const) : ('in' as const),
    id,
    sentAt: SENT,
    text,
    status: sender === 'alice' ? ('sent' as const) : ('received' as const),
    ...over,
  });
  const texts = () => groupHistory(client, loadGroup(client, team)!, 100).map((e) => [e.from, e.id, e.direction, e.text, e.sentAt, e.status]);
  const count = (sql: string) => (client.db.prepare(sql).get() as { n: number }).n;
  before(() => {
    const random = systemRandom();
    const g = createGroup({ user: 'alice', identity: generateIdentity(random) }, 'team', [{ user: 'bob', signPublic: generateIdentity(random).signPublic }], random).state;
    saveGroup(client, g, 'active', 1);
    team = g.groupId;
    hex = toHex(team);
  });

  it("stores a group's entries in order, keyed (group, sender, id), with sentAt and status, as read, queueing nothing", () => {
    const r = storeHistory(client, 1, payload([gentry('g1', 'alice', 'hello team'), gentry('g1', 'bob', 'same id, other sender'), gentry('g2', 'bob', 'hi')] as never));
    assert.deepEqual([r.entries, r.added], [3, 3]);
    assert.deepEqual(texts(), [
      ['alice', 'g1', 'out', 'hello team', SENT, 'sent'],
      ['bob', 'g1', 'in', 'same id, other sender', SENT, 'received'],
      ['bob', 'g2', 'in', 'hi', SENT, 'received'],
    ]);
    assert.deepEqual(unreadAfter(client, 0, 10), []);
    assert.equal(count('SELECT COUNT(*) AS n FROM outbox'), 0);
    // Taken once: the same batch again, or one rewriting a stored message, adds nothing.
    assert.equal(storeHistory(client, 1, payload([gentry('g1', 'bob', 'rewritten'), gentry('g2', 'bob', 'again')] as never)).added, 0);
    assert.equal(texts().length, 3);
  });

  it('refuses a batch naming a group this device does not hold, whole: none of its entries is stored, pairwise or group', () => {
    const before = count('SELECT (SELECT COUNT(*) FROM group_messages) + (SELECT COUNT(*) FROM messages) AS n');
    const stranger = 'ab'.repeat(32);
    assert.throws(
      () => storeHistory(client, 1, payload([entry('p1', 'out', 'pairwise'), gentry('g3', 'bob', 'held group'), gentry('g4', 'bob', 'unknown group', { group: stranger })] as never)),
      (e: unknown) => e instanceof HistoryRefused && e.code === 'history_unknown_group',
    );
    assert.equal(count('SELECT (SELECT COUNT(*) FROM group_messages) + (SELECT COUNT(*) FROM messages) AS n'), before);
  });

  for (const [what, bad] of [
    ['an outgoing entry from another member', { sender: 'bob', direction: 'out', status: 'sent' }],
    ['an incoming entry from this account', { sender: 'alice', direction: 'in', status: 'received' }],
  ] as const) {
    it(`refuses ${what} whole, storing nothing`, () => {
      const n = texts().length;
      assert.throws(() => storeHistory(client, 1, payload([gentry('g5', 'bob', 'fine'), gentry('g6', 'bob', 'x', bad)] as never)), PayloadError);
      assert.equal(texts().length, n);
    });
  }
});

describe('the history payload schema', () => {
  const ok = payload([entry('m1', 'out', 'hi')]);
  const gentry = (group: string) => ({ group, sender: 'bob', direction: 'in', id: 'g1', sentAt: SENT, text: 'hi', status: 'received' });
  const bytes = (p: unknown) => new TextEncoder().encode(JSON.stringify(p));
  it('accepts a well-formed batch', () => {
    assert.deepEqual(parsePayload(encodePayload(ok)), ok);
  });
  it('accepts a pairwise entry marked read (a later sender may send it), and refuses a group entry marked read', () => {
    const read = payload([{ ...entry('m1', 'out', 'hi'), status: 'read' as const }]);
    assert.deepEqual(parsePayload(encodePayload(read)), read);
    assert.throws(() => parsePayload(bytes(payload([{ ...gentry('ab'.repeat(32)), direction: 'out', sender: 'alice', status: 'read' }] as never))), PayloadError);
  });
  it('accepts a batch of group entries, and one mixing both shapes', () => {
    const mixed = payload([entry('m1', 'out', 'hi'), gentry('ab'.repeat(32))] as never);
    assert.deepEqual(parsePayload(encodePayload(mixed)), mixed);
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
    // Group entries (one bad entry refuses the batch, whatever the others are).
    ['a group entry with a group id not 64 lowercase hex digits', payload([entry('m1', 'out', 'x'), { ...gentry('AB'.repeat(32)) }] as never)],
    ['a group entry with a short group id', payload([gentry('ab'.repeat(16))] as never)],
    ['a group entry marked delivered (groups have no receipts)', payload([{ ...gentry('ab'.repeat(32)), status: 'delivered' }] as never)],
    ['a group entry with a peer besides its group', payload([{ ...gentry('ab'.repeat(32)), peer: 'bob' }] as never)],
    ['a group entry without a sender', payload([{ ...gentry('ab'.repeat(32)), sender: undefined }] as never)],
    ['a group entry with a sender that is no username', payload([{ ...gentry('ab'.repeat(32)), sender: 'Bob!' }] as never)],
    ['a group entry received but sent out', payload([{ ...gentry('ab'.repeat(32)), direction: 'out' }] as never)],
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
      const batches = [...historyBatches(c, sent)].filter((b) => b.type === 'history');
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

  it('sends a message read by its peer as delivered, which a device that predates read receipts takes', async () => {
    const { historyBatches } = await import('./history-transfer.js');
    const random = systemRandom();
    const home = homePaths(join(root, 'desk-read'));
    mkdirSync(home.dir, { recursive: true });
    const c = assembleClient({ home, config: { username: 'alice', deviceId: 1 }, secrets: { identity: generateIdentity(random), storageKey: random(32) }, db: openDb(home.store), random, keystoreWasCurrent: false });
    try {
      const put = c.db.prepare("INSERT INTO messages (id, peer, direction, body, sent_at, status) VALUES (?, 'bob', 'out', ?, ?, ?)");
      for (const [id, status] of [['m1', 'read'], ['m2', 'delivered'], ['m3', 'sent']] as const) put.run(id, Buffer.from(c.sealer.seal('message', ['bob', 'out', id], new TextEncoder().encode(id))), SENT, status);
      const sent = { entries: 0, payloads: 0, skipped: 0, pending: 0 };
      const entries = [...historyBatches(c, sent)].flatMap((b) => (b.type === 'history' ? b.entries : []));
      assert.deepEqual(entries.map((e) => [e.id, e.status]), [['m1', 'delivered'], ['m2', 'delivered'], ['m3', 'sent']]);
    } finally {
      c.close();
    }
  });

  it("sends each active group's messages after its chain, a group per batch, and nothing of a group it left", async () => {
    const { historyBatches } = await import('./history-transfer.js');
    const random = systemRandom();
    const home = homePaths(join(root, 'desk-groups'));
    mkdirSync(home.dir, { recursive: true });
    const identity = generateIdentity(random);
    const c = assembleClient({ home, config: { username: 'alice', deviceId: 1 }, secrets: { identity, storageKey: random(32) }, db: openDb(home.store), random, keystoreWasCurrent: false });
    try {
      const bob = { user: 'bob', signPublic: generateIdentity(random).signPublic };
      const groups = ['team', 'ops', 'old'].map((name) => createGroup({ user: 'alice', identity }, name, [bob], random));
      groups.forEach((g, i) => {
        saveGroup(c, g.state, i === 2 ? 'left' : 'active', i);
        appendRecord(c, g.state.groupId, 0, g.record);
      });
      const put = c.db.prepare('INSERT INTO group_messages (group_id, id, sender, direction, body, sent_at, status) VALUES (?, ?, ?, ?, ?, ?, ?)');
      // Interleaved across groups, as they arrive: each group's batch keeps its own order.
      const rows: [number, string, string, string][] = [[0, 't1', 'alice', 'queued'], [1, 'o1', 'bob', 'received'], [0, 't2', 'bob', 'received'], [2, 'x1', 'bob', 'received'], [1, 'o2', 'alice', 'failed']];
      for (const [g, id, sender, status] of rows) {
        const gid = groups[g]!.state.groupId;
        put.run(Buffer.from(gid), id, sender, sender === 'alice' ? 'out' : 'in', Buffer.from(c.sealer.seal('group_message', [gid, sender, id], new TextEncoder().encode(`text ${id}`))), SENT, status);
      }
      put.run(Buffer.from(groups[0]!.state.groupId), 't3', 'bob', 'in', null, SENT, 'failed'); // no text: not sent, not counted
      const sent = { entries: 0, payloads: 0, skipped: 0, pending: 0 };
      const out = [...historyBatches(c, sent)];
      const hexOf = (i: number) => toHex(groups[i]!.state.groupId);
      assert.deepEqual(
        out.map((p) => (p.type === 'group_change' ? ['chain', p.records.length] : ['history', p.entries.map((e) => ('group' in e ? [e.group === hexOf(0) ? 'team' : e.group === hexOf(1) ? 'ops' : '?', e.sender, e.id, e.status] : e.id))])),
        [
          ['chain', 1],
          ['history', [['team', 'alice', 't1', 'sent'], ['team', 'bob', 't2', 'received']]],
          ['chain', 1],
          ['history', [['ops', 'bob', 'o1', 'received'], ['ops', 'alice', 'o2', 'failed']]],
        ],
      );
      assert.equal(sent.skipped, 0);
      for (const p of out) assert.deepEqual(parsePayload(encodePayload(p)), p);
    } finally {
      c.close();
    }
  });
});
