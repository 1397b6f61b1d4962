import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRelayError } from '../errors.js';
import { openSqliteStore } from './sqlite.js';
import type { Store, SubmitRequest } from './types.js';

const LIMITS = { maxMessages: 100, maxBytes: 1 << 20, ttlMs: 60_000 };

function setup(): Store {
  const s = openSqliteStore(':memory:');
  for (const u of ['alice', 'bob', 'carol']) {
    s.createUser(u, '$argon2id$x', 0);
    s.touchDevice(u, 1, 0);
  }
  s.touchDevice('bob', 2, 0);
  return s;
}

const msg = (id: string, to: [string, number][], body = 'hello'): SubmitRequest => ({
  sender: { user: 'alice', device: 1 },
  clientId: id,
  to: to.map(([user, device]) => ({ user, device })),
  body: new TextEncoder().encode(body),
});

const rows = (s: Store, table: string): number => ((s as any).db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

test('a resubmitted client id returns the first ack and adds no rows', () => {
  const s = setup();
  const [a] = s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
  const [b] = s.submitBatch([msg('m1', [['bob', 1]], 'different')], 2000, LIMITS);
  assert.ok(a!.ok && b!.ok);
  assert.ok(b && b.ok);
  assert.equal(b.duplicate, true);
  assert.equal(b.storedAt, 1000);
  assert.equal(rows(s, 'messages'), 1);
  assert.equal(rows(s, 'deliveries'), 1);
});

test('a duplicate is still recognised after the message was delivered and deleted', () => {
  const s = setup();
  s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
  const [d] = s.pending({ user: 'bob', device: 1 }, 0, 10);
  assert.equal(s.ackBatch([{ to: { user: 'bob', device: 1 }, deliveryId: d!.deliveryId }]), 1);
  const [again] = s.submitBatch([msg('m1', [['bob', 1]])], 2000, LIMITS);
  assert.ok(again && again.ok && again.duplicate);
  assert.equal(rows(s, 'messages'), 0);
});

test('a group message is stored once and deleted when the last recipient acknowledges it', () => {
  const s = setup();
  s.submitBatch([msg('g1', [['bob', 1], ['bob', 2], ['carol', 1], ['carol', 1]])], 1000, LIMITS);
  assert.equal(rows(s, 'messages'), 1);
  assert.equal(rows(s, 'deliveries'), 3);
  for (const [user, device] of [['bob', 1], ['bob', 2]] as const) {
    const [d] = s.pending({ user, device }, 0, 10);
    s.ackBatch([{ to: { user, device }, deliveryId: d!.deliveryId }]);
  }
  assert.equal(rows(s, 'messages'), 1);
  const [d] = s.pending({ user: 'carol', device: 1 }, 0, 10);
  assert.deepEqual(d!.from, { user: 'alice', device: 1 });
  s.ackBatch([{ to: { user: 'carol', device: 1 }, deliveryId: d!.deliveryId }]);
  assert.equal(rows(s, 'messages'), 0);
});

test('an ack names the recipient: another device cannot delete someone else\'s delivery', () => {
  const s = setup();
  s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
  const [d] = s.pending({ user: 'bob', device: 1 }, 0, 10);
  assert.equal(s.ackBatch([{ to: { user: 'carol', device: 1 }, deliveryId: d!.deliveryId }]), 0);
  assert.equal(s.pending({ user: 'bob', device: 1 }, 0, 10).length, 1);
});

test('refuses unknown users and devices and a full queue (count or bytes) with typed errors, storing nothing', () => {
  const s = setup();
  const lim = { ...LIMITS, maxMessages: 2, maxBytes: 12 };
  const res = s.submitBatch(
    [msg('a', [['ghost', 1]]), msg('b', [['bob', 9]]), msg('c', [['bob', 1]], '12345'), msg('d', [['bob', 1]], '12345'), msg('e', [['bob', 1]], '12345'), msg('f', [['bob', 2]], 'x'.repeat(13))],
    1000,
    lim,
  );
  const codes = res.map((r) => (r.ok ? 'ok' : r.error.code));
  assert.deepEqual(codes, ['unknown_user', 'unknown_device', 'ok', 'ok', 'queue_full', 'queue_full']);
  assert.ok(res.every((r) => r.ok || isRelayError(r.error)));
  // The refused group message to bob/1 (full) and carol/1 stores nothing for carol either.
  const [g] = s.submitBatch([msg('g', [['carol', 1], ['bob', 1]])], 1000, lim);
  assert.ok(!g!.ok);
  assert.equal(s.pending({ user: 'carol', device: 1 }, 0, 10).length, 0);
  assert.equal(rows(s, 'messages'), 2);
});

test('pending returns a device queue in order from a cursor', () => {
  const s = setup();
  s.submitBatch([1, 2, 3, 4, 5].map((i) => msg(`m${i}`, [['bob', 1]], `body${i}`)), 1000, LIMITS);
  const first = s.pending({ user: 'bob', device: 1 }, 0, 2);
  assert.deepEqual(first.map((m) => m.clientId), ['m1', 'm2']);
  const rest = s.pending({ user: 'bob', device: 1 }, first[1]!.deliveryId, 10);
  assert.deepEqual(rest.map((m) => m.clientId), ['m3', 'm4', 'm5']);
  assert.equal(new TextDecoder().decode(rest[2]!.body), 'body5');
});

test('the sweep deletes messages past their TTL, expired sessions and old dedup records', () => {
  const s = setup();
  s.submitBatch([msg('old', [['bob', 1]])], 1000, LIMITS);
  s.submitBatch([msg('new', [['bob', 1]])], 50_000, LIMITS);
  s.createSession(new Uint8Array(32).fill(1), 'bob', 1, 0, 30_000);
  const r = s.sweep(1000 + LIMITS.ttlMs, LIMITS.ttlMs);
  assert.equal(r.messages, 1);
  assert.equal(r.sessions, 1);
  assert.deepEqual(s.pending({ user: 'bob', device: 1 }, 0, 10).map((m) => m.clientId), ['new']);
  assert.equal(rows(s, 'sent_ids'), 1);
});

test('deleting a user removes its devices, keys, sessions and queued messages', () => {
  const s = setup();
  s.putBundle('bob', 1, { dhPublic: new Uint8Array(32), signPublic: new Uint8Array(32), signature: new Uint8Array(64) }, { id: 1, createdAt: 0, publicKey: new Uint8Array(32), signature: new Uint8Array(64) }, [{ id: 1, publicKey: new Uint8Array(32) }], 0);
  s.createSession(new Uint8Array(32).fill(2), 'bob', 1, 0, 1e15);
  s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
  assert.equal(s.deleteUser('bob'), true);
  for (const t of ['devices WHERE username = \'bob\'', 'one_time_prekeys', 'sessions', 'deliveries', 'messages']) assert.equal(rows(s, t), 0, t);
  assert.equal(s.takeBundles('bob'), undefined);
});

test('uses WAL and the configured synchronous level', () => {
  const full = openSqliteStore(':memory:');
  assert.equal((full as any).db.pragma('synchronous', { simple: true }), 2);
  const normal = openSqliteStore(':memory:', { synchronous: 'NORMAL' });
  assert.equal((normal as any).db.pragma('synchronous', { simple: true }), 1);
});

test('commitBatch applies acks before sends in one transaction, and returns delivery ids the queue then lists', () => {
  const s = setup();
  const lim = { ...LIMITS, maxMessages: 1 };
  const [first] = s.submitBatch([msg('m1', [['bob', 1]])], 1000, lim);
  assert.ok(first && first.ok);
  const [queued] = s.pending({ user: 'bob', device: 1 }, 0, 10);
  assert.deepEqual(first.deliveryIds, [queued!.deliveryId]);
  // bob's queue is full (1 of 1); his ack in the same batch makes room for the send.
  const r = s.commitBatch([{ to: { user: 'bob', device: 1 }, deliveryId: queued!.deliveryId }], [msg('m2', [['bob', 1], ['bob', 2]])], 2000, lim);
  assert.equal(r.acked, 1);
  const [second] = r.results;
  assert.ok(second && second.ok && !second.duplicate);
  assert.deepEqual(second.recipients, [{ user: 'bob', device: 1 }, { user: 'bob', device: 2 }]);
  assert.deepEqual(second.deliveryIds, [1, 2].map((d) => s.pending({ user: 'bob', device: d }, 0, 10)[0]!.deliveryId));
  assert.ok(second.deliveryIds[0]! > queued!.deliveryId);
  assert.equal(rows(s, 'messages'), 1);
});

test('every write transaction counts one commit and reports it after it committed', () => {
  const seen: number[] = [];
  const s = openSqliteStore(':memory:', { onCommit: (n) => seen.push(n) });
  const before = s.commits();
  s.createUser('alice', '$argon2id$x', 0);
  s.touchDevice('alice', 1, 0);
  s.createUser('bob', '$argon2id$x', 0);
  s.touchDevice('bob', 1, 0);
  s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
  s.setBanned('bob', 5);
  assert.deepEqual(seen, [before + 1, before + 2, before + 3, before + 4, before + 5, before + 6]);
  assert.equal(s.commits(), before + 6);
  // A write that fails rolls its count back with it and reports nothing.
  assert.throws(() => s.addOneTimePreKeys('bob', 1, [{ id: 1, publicKey: new Uint8Array(32) }, { id: 2, publicKey: new Uint8Array(32) }], 1));
  assert.equal(s.commits(), before + 6);
  assert.equal(seen.length, 6);
});

test('below the disk headroom new messages are refused with storage_full, acks commit and a resubmit is still acked', () => {
  const s = setup();
  const [first] = s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
  assert.ok(first!.ok);
  const queued = s.pending({ user: 'bob', device: 1 }, 0, 10)[0]!;
  const full = { ...LIMITS, storageFull: true };
  const r = s.commitBatch([{ to: { user: 'bob', device: 1 }, deliveryId: queued.deliveryId }], [msg('m2', [['bob', 1]]), msg('m1', [['bob', 1]])], 2000, full);
  assert.equal(r.acked, 1, 'the ack committed');
  const [m2, again] = r.results;
  assert.ok(!m2!.ok && isRelayError(m2!.error, 'storage_full'), 'a new message is refused');
  assert.ok(again!.ok && again!.duplicate, 'an already stored one is answered as stored');
  assert.equal(rows(s, 'deliveries'), 0);
});

test('the sweep queues an expiry notice to the sender of each undelivered expired message, and none for delivered ones', () => {
  const s = setup();
  s.submitBatch([msg('gone1', [['bob', 1], ['carol', 1]]), msg('gone2', [['bob', 2]])], 1000, LIMITS);
  s.submitBatch([msg('fresh', [['bob', 1]])], 50_000, LIMITS);
  // carol fetched gone1: only bob/1's copy of it expires undelivered.
  const carol = s.pending({ user: 'carol', device: 1 }, 0, 10)[0]!;
  s.ackBatch([{ to: { user: 'carol', device: 1 }, deliveryId: carol.deliveryId }]);
  const r = s.sweep(1000 + LIMITS.ttlMs, LIMITS.ttlMs);
  assert.equal(r.messages, 2);
  assert.deepEqual(r.notices.map((n) => [n.to, n.messages]), [[{ user: 'alice', device: 1 }, 2]]);
  const [notice] = s.pending({ user: 'alice', device: 1 }, 0, 10);
  assert.equal(notice!.kind, 'expired');
  assert.equal(notice!.deliveryId, r.notices[0]!.deliveryId);
  const items = JSON.parse(new TextDecoder().decode(notice!.body)) as { id: string; to: { user: string; device: number }; sentAt: string }[];
  assert.deepEqual(items.map((i) => [i.id, i.to]), [['gone1', { user: 'bob', device: 1 }], ['gone2', { user: 'bob', device: 2 }]]);
  assert.equal(items[0]!.sentAt, new Date(1000).toISOString());
  assert.deepEqual(s.pending({ user: 'bob', device: 1 }, 0, 10).map((m) => m.clientId), ['fresh']);
  // A notice never fetched expires in turn without a notice of its own: the next one names only 'fresh'.
  const later = s.sweep(10 * LIMITS.ttlMs, LIMITS.ttlMs);
  assert.deepEqual(later.notices.map((n) => [n.to.user, n.messages]), [['alice', 1]]);
  const left = s.pending({ user: 'alice', device: 1 }, 0, 10);
  assert.deepEqual(left.map((m) => JSON.parse(new TextDecoder().decode(m.body))[0].id), ['fresh']);
  // It is acked like a message.
  s.ackBatch([{ to: { user: 'alice', device: 1 }, deliveryId: left[0]!.deliveryId }]);
  assert.equal(s.pending({ user: 'alice', device: 1 }, 0, 10).length, 0);
});

test('an expiry preview counts what would go and the clock of the last sweep', () => {
  const s = setup();
  assert.equal(s.expiryPreview(0).clockHigh, null);
  s.submitBatch([msg('a', [['bob', 1]]), msg('b', [['bob', 1], ['carol', 1]])], 1000, LIMITS);
  s.createSession(new Uint8Array(32).fill(1), 'bob', 1, 0, 30_000);
  const p = s.expiryPreview(1000 + LIMITS.ttlMs);
  assert.deepEqual(p, { queued: 3, expiring: 3, sessions: 1, expiringSessions: 1, clockHigh: null });
  s.sweep(5000, LIMITS.ttlMs);
  assert.equal(s.expiryPreview(6000).clockHigh, 5000);
});

test('within one batch, a send refused as queue_full refuses the later sends of its stream to that recipient (out_of_order), not those of other streams', () => {
  const s = setup();
  const limits = { ...LIMITS, maxBytes: 1000 };
  const sized = (id: string, bytes: number, stream?: number): SubmitRequest => ({ ...msg(id, [['bob', 1]], 'x'.repeat(bytes)), ...(stream !== undefined ? { stream } : {}) });
  assert.ok(s.submitBatch([sized('m1', 600)], 1000, limits)[0]!.ok);
  // m2 does not fit, m3 would: stored, it would reach bob before m2 is sent again.
  const r = s.submitBatch([sized('m2', 600, 7), sized('m3', 100, 7), sized('c1', 100, 8), { ...sized('m4', 100, 7), to: [{ user: 'carol', device: 1 }] }], 2000, limits);
  assert.deepEqual(
    r.map((x) => (x.ok ? 'ok' : x.error.code)),
    ['queue_full', 'out_of_order', 'ok', 'ok'],
  );
  assert.ok(!r[1]!.ok && isRelayError(r[1]!.error, 'out_of_order'));
  // Without a stream (HTTP, one request at a time per recipient) each send is judged alone.
  assert.deepEqual(s.submitBatch([sized('h1', 600), sized('h2', 100)], 3000, limits).map((x) => (x.ok ? 'ok' : x.error.code)), ['queue_full', 'ok']);
});

test('a login verified against a password that has since changed is not stored, and of two changes from one old hash only the first wins', () => {
  const s = setup();
  const token = (n: number) => new Uint8Array(32).fill(n);
  const session = (n: number) => ({ tokenHash: token(n), device: 1, now: 0, expiresAt: 1e15 });
  assert.equal(s.createSession(token(1), 'alice', 1, 0, 1e15), true);
  assert.equal(s.createSession(token(2), 'alice', 2, 0, 1e15), true);
  assert.equal(s.changePassword('alice', '$argon2id$x', '$argon2id$new', session(3)), 2);
  assert.equal(s.getSession(token(1), 1), undefined);
  assert.equal(s.getSession(token(2), 1), undefined);
  assert.equal(s.getSession(token(3), 1)?.user, 'alice');
  // A login whose argon2 check ran against the old hash while the change committed.
  assert.equal(s.createSession(token(4), 'alice', 1, 0, 1e15, '$argon2id$x'), false);
  assert.equal(s.getSession(token(4), 1), undefined);
  // A second change verified against the old hash loses and changes nothing.
  assert.equal(s.changePassword('alice', '$argon2id$x', '$argon2id$other', session(5)), undefined);
  assert.equal(s.getUser('alice')!.passwordHash, '$argon2id$new');
  assert.equal(s.getSession(token(3), 1)?.user, 'alice');
  assert.equal(s.createSession(token(6), 'alice', 1, 0, 1e15, '$argon2id$new'), true);
  assert.equal(s.deleteSessions('alice'), 2);
});

test('addDevice refuses a new device beyond the cap and keeps accepting the existing ones', () => {
  const s = setup();
  for (const d of [2, 3]) assert.equal(s.addDevice('alice', d, 0, 3), true);
  assert.equal(s.addDevice('alice', 4, 0, 3), false);
  assert.equal(s.deviceExists('alice', 4), false);
  assert.equal(s.addDevice('alice', 2, 0, 3), true);
});
