// The Store's promises (store/types.ts), checked against every engine: SQLite always, and
// PostgreSQL on a server the test starts on 127.0.0.1 (test/util/postgres.ts). What only one
// engine has (SQLite's commit counter and pragmas) is tested beside it (sqlite.test.ts).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { isRelayError } from '../errors.js';
import { LIMITS, msg, storeBackends, type StoreUnderTest } from '../../test/util/stores.js';
import type { SubmitRequest } from './types.js';
import { deviceListHash, parseDeviceList } from '../../crypto/device-list.js';
import { chain, device, forged } from '../../test/util/device-lists.js';

/** A group message of group `g` at `epoch` (its cleartext header, as send.ts reads it). */
const grp = (id: string, to: [string, number][], g: number, epoch: number, synced = false): SubmitRequest => ({
  ...msg(id, to),
  fence: { groupId: new Uint8Array(32).fill(g), epoch, synced },
});

/** A store with alice/1, bob/1, bob/2 and carol/1. */
async function populated(b: { open(t: TestContext): Promise<StoreUnderTest> }, t: TestContext): Promise<{ s: StoreUnderTest['store']; rows: StoreUnderTest['rows'] }> {
  const u = await b.open(t);
  const s = u.store;
  for (const name of ['alice', 'bob', 'carol']) {
    await s.createUser(name, '$argon2id$x', 0);
    await s.touchDevice(name, 1, 0);
  }
  await s.touchDevice('bob', 2, 0);
  return { s, rows: u.rows };
}

for (const backend of storeBackends()) {
describe(`${backend.name} store`, () => {
  before(() => backend.start());
  after(() => backend.stop());
  const engine = { setup: (t: TestContext) => populated(backend, t) };

  test('a resubmitted client id returns the first ack and adds no rows', async (t) => {
    const { s, rows } = await engine.setup(t);
    const [a] = await s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
    const [b] = await s.submitBatch([msg('m1', [['bob', 1]], 'different')], 2000, LIMITS);
    assert.ok(a!.ok && b!.ok);
    assert.ok(b && b.ok);
    assert.equal(b.duplicate, true);
    assert.equal(b.storedAt, 1000);
    assert.equal(await rows('messages'), 1);
    assert.equal(await rows('deliveries'), 1);
  });

  test('a duplicate is still recognised after the message was delivered and deleted', async (t) => {
    const { s, rows } = await engine.setup(t);
    await s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
    const [d] = await s.pending({ user: 'bob', device: 1 }, 0, 10);
    assert.equal((await s.ackBatch([{ to: { user: 'bob', device: 1 }, deliveryId: d!.deliveryId }])), 1);
    const [again] = await s.submitBatch([msg('m1', [['bob', 1]])], 2000, LIMITS);
    assert.ok(again && again.ok && again.duplicate);
    assert.equal(await rows('messages'), 0);
  });

  test('a group message is stored once and deleted when the last recipient acknowledges it', async (t) => {
    const { s, rows } = await engine.setup(t);
    await s.submitBatch([msg('g1', [['bob', 1], ['bob', 2], ['carol', 1], ['carol', 1]])], 1000, LIMITS);
    assert.equal(await rows('messages'), 1);
    assert.equal(await rows('deliveries'), 3);
    for (const [user, device] of [['bob', 1], ['bob', 2]] as const) {
      const [d] = await s.pending({ user, device }, 0, 10);
      await s.ackBatch([{ to: { user, device }, deliveryId: d!.deliveryId }]);
    }
    assert.equal(await rows('messages'), 1);
    const [d] = await s.pending({ user: 'carol', device: 1 }, 0, 10);
    assert.deepEqual(d!.from, { user: 'alice', device: 1 });
    await s.ackBatch([{ to: { user: 'carol', device: 1 }, deliveryId: d!.deliveryId }]);
    assert.equal(await rows('messages'), 0);
  });

  test('an ack names the recipient: another device cannot delete someone else\'s delivery', async (t) => {
    const { s, rows } = await engine.setup(t);
    await s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
    const [d] = await s.pending({ user: 'bob', device: 1 }, 0, 10);
    assert.equal((await s.ackBatch([{ to: { user: 'carol', device: 1 }, deliveryId: d!.deliveryId }])), 0);
    assert.equal((await s.pending({ user: 'bob', device: 1 }, 0, 10)).length, 1);
  });

  test('refuses unknown users and devices and a full queue (count or bytes) with typed errors, storing nothing', async (t) => {
    const { s, rows } = await engine.setup(t);
    const lim = { ...LIMITS, maxMessages: 2, maxBytes: 12 };
    const res = await s.submitBatch(
      [msg('a', [['ghost', 1]]), msg('b', [['bob', 9]]), msg('c', [['bob', 1]], '12345'), msg('d', [['bob', 1]], '12345'), msg('e', [['bob', 1]], '12345'), msg('f', [['bob', 2]], 'x'.repeat(13))],
      1000,
      lim,
    );
    const codes = res.map((r) => (r.ok ? 'ok' : r.error.code));
    assert.deepEqual(codes, ['unknown_user', 'unknown_device', 'ok', 'ok', 'queue_full', 'queue_full']);
    assert.ok(res.every((r) => r.ok || isRelayError(r.error)));
    // The refused group message to bob/1 (full) and carol/1 stores nothing for carol either.
    const [g] = await s.submitBatch([msg('g', [['carol', 1], ['bob', 1]])], 1000, lim);
    assert.ok(!g!.ok);
    assert.equal((await s.pending({ user: 'carol', device: 1 }, 0, 10)).length, 0);
    assert.equal(await rows('messages'), 2);
  });

  test('pending returns a device queue in order from a cursor', async (t) => {
    const { s, rows } = await engine.setup(t);
    await s.submitBatch([1, 2, 3, 4, 5].map((i) => msg(`m${i}`, [['bob', 1]], `body${i}`)), 1000, LIMITS);
    const first = await s.pending({ user: 'bob', device: 1 }, 0, 2);
    assert.deepEqual(first.map((m) => m.clientId), ['m1', 'm2']);
    const rest = await s.pending({ user: 'bob', device: 1 }, first[1]!.deliveryId, 10);
    assert.deepEqual(rest.map((m) => m.clientId), ['m3', 'm4', 'm5']);
    assert.equal(new TextDecoder().decode(rest[2]!.body), 'body5');
  });

  test('the sweep deletes messages past their TTL, expired sessions and old dedup records', async (t) => {
    const { s, rows } = await engine.setup(t);
    await s.submitBatch([msg('old', [['bob', 1]])], 1000, LIMITS);
    await s.submitBatch([msg('new', [['bob', 1]])], 50_000, LIMITS);
    await s.createSession(new Uint8Array(32).fill(1), 'bob', 1, 0, 30_000);
    const r = await s.sweep(1000 + LIMITS.ttlMs, LIMITS.ttlMs);
    assert.equal(r.messages, 1);
    assert.equal(r.sessions, 1);
    assert.deepEqual((await s.pending({ user: 'bob', device: 1 }, 0, 10)).map((m) => m.clientId), ['new']);
    assert.equal(await rows('sent_ids'), 1);
  });

  test('deleting a user removes its devices, keys, sessions and queued messages', async (t) => {
    const { s, rows } = await engine.setup(t);
    await s.putBundle('bob', 1, { dhPublic: new Uint8Array(32), signPublic: new Uint8Array(32), signature: new Uint8Array(64) }, { id: 1, createdAt: 0, publicKey: new Uint8Array(32), signature: new Uint8Array(64) }, [{ id: 1, publicKey: new Uint8Array(32) }], 0);
    await s.createSession(new Uint8Array(32).fill(2), 'bob', 1, 0, 1e15);
    await s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
    assert.equal((await s.deleteUser('bob')), true);
    for (const t of ['devices WHERE username = \'bob\'', 'one_time_prekeys', 'sessions', 'deliveries', 'messages']) assert.equal(await rows(t), 0, t);
    assert.equal((await s.takeBundles('bob')), undefined);
  });

  test('commitBatch applies acks before sends in one transaction, and returns delivery ids the queue then lists', async (t) => {
    const { s, rows } = await engine.setup(t);
    const lim = { ...LIMITS, maxMessages: 1 };
    const [first] = await s.submitBatch([msg('m1', [['bob', 1]])], 1000, lim);
    assert.ok(first && first.ok);
    const [queued] = await s.pending({ user: 'bob', device: 1 }, 0, 10);
    assert.deepEqual(first.deliveryIds, [queued!.deliveryId]);
    // bob's queue is full (1 of 1); his ack in the same batch makes room for the send.
    const r = await s.commitBatch([{ to: { user: 'bob', device: 1 }, deliveryId: queued!.deliveryId }], [msg('m2', [['bob', 1], ['bob', 2]])], 2000, lim);
    assert.equal(r.acked, 1);
    const [second] = r.results;
    assert.ok(second && second.ok && !second.duplicate);
    assert.deepEqual(second.recipients, [{ user: 'bob', device: 1 }, { user: 'bob', device: 2 }]);
    assert.equal(second.deliveryIds.length, 2);
    for (const [i, d] of [1, 2].entries()) assert.equal(second.deliveryIds[i], (await s.pending({ user: 'bob', device: d }, 0, 10))[0]!.deliveryId);
    assert.ok(second.deliveryIds[0]! > queued!.deliveryId);
    assert.equal(await rows('messages'), 1);
  });

  test('a refused send leaves no dedup record: the same id sent again once it can be stored is stored, in the same batch or a later one', async (t) => {
    const { s } = await engine.setup(t);
    const bob = { user: 'bob', device: 1 };
    const lim = { ...LIMITS, maxMessages: 1 };
    const first = await s.submitBatch([msg('m1', [['bob', 1]]), msg('m2', [['bob', 1]]), msg('m3', [['bob', 9]]), msg('m3', [['carol', 1]])], 1000, lim);
    assert.deepEqual(first.map((r) => (r.ok ? (r.duplicate ? 'duplicate' : 'stored') : r.error.code)), ['stored', 'queue_full', 'unknown_device', 'stored']);
    const [queued] = await s.pending(bob, 0, 10);
    const r = await s.commitBatch([{ to: bob, deliveryId: queued!.deliveryId }], [msg('m2', [['bob', 1]])], 2000, lim);
    assert.ok(r.results[0]!.ok && !r.results[0]!.duplicate);
    assert.deepEqual((await s.pending(bob, 0, 10)).map((m) => m.clientId), ['m2']);
  });

  test('below the disk headroom new messages are refused with storage_full, acks commit and a resubmit is still acked', async (t) => {
    const { s, rows } = await engine.setup(t);
    const [first] = await s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
    assert.ok(first!.ok);
    const queued = (await s.pending({ user: 'bob', device: 1 }, 0, 10))[0]!;
    const full = { ...LIMITS, storageFull: true };
    const r = await s.commitBatch([{ to: { user: 'bob', device: 1 }, deliveryId: queued.deliveryId }], [msg('m2', [['bob', 1]]), msg('m1', [['bob', 1]])], 2000, full);
    assert.equal(r.acked, 1, 'the ack committed');
    const [m2, again] = r.results;
    assert.ok(!m2!.ok && isRelayError(m2!.error, 'storage_full'), 'a new message is refused');
    assert.ok(again!.ok && again!.duplicate, 'an already stored one is answered as stored');
    assert.equal(await rows('deliveries'), 0);
  });

  test('the sweep queues an expiry notice to the sender of each undelivered expired message, and none for delivered ones', async (t) => {
    const { s, rows } = await engine.setup(t);
    await s.submitBatch([msg('gone1', [['bob', 1], ['carol', 1]]), msg('gone2', [['bob', 2]])], 1000, LIMITS);
    await s.submitBatch([msg('fresh', [['bob', 1]])], 50_000, LIMITS);
    // carol fetched gone1: only bob/1's copy of it expires undelivered.
    const carol = (await s.pending({ user: 'carol', device: 1 }, 0, 10))[0]!;
    await s.ackBatch([{ to: { user: 'carol', device: 1 }, deliveryId: carol.deliveryId }]);
    const r = await s.sweep(1000 + LIMITS.ttlMs, LIMITS.ttlMs);
    assert.equal(r.messages, 2);
    assert.deepEqual(r.notices.map((n) => [n.to, n.messages]), [[{ user: 'alice', device: 1 }, 2]]);
    const [notice] = await s.pending({ user: 'alice', device: 1 }, 0, 10);
    assert.equal(notice!.kind, 'expired');
    assert.equal(notice!.deliveryId, r.notices[0]!.deliveryId);
    const items = JSON.parse(new TextDecoder().decode(notice!.body)) as { id: string; to: { user: string; device: number }; sentAt: string }[];
    assert.deepEqual(items.map((i) => [i.id, i.to]), [['gone1', { user: 'bob', device: 1 }], ['gone2', { user: 'bob', device: 2 }]]);
    assert.equal(items[0]!.sentAt, new Date(1000).toISOString());
    assert.deepEqual((await s.pending({ user: 'bob', device: 1 }, 0, 10)).map((m) => m.clientId), ['fresh']);
    // A notice never fetched expires in turn without a notice of its own: the next one names only 'fresh'.
    const later = await s.sweep(10 * LIMITS.ttlMs, LIMITS.ttlMs);
    assert.deepEqual(later.notices.map((n) => [n.to.user, n.messages]), [['alice', 1]]);
    const left = await s.pending({ user: 'alice', device: 1 }, 0, 10);
    assert.deepEqual(left.map((m) => JSON.parse(new TextDecoder().decode(m.body))[0].id), ['fresh']);
    // It is acked like a message.
    await s.ackBatch([{ to: { user: 'alice', device: 1 }, deliveryId: left[0]!.deliveryId }]);
    assert.equal((await s.pending({ user: 'alice', device: 1 }, 0, 10)).length, 0);
  });

  test('an expiry preview counts what would go and the clock of the last sweep', async (t) => {
    const { s, rows } = await engine.setup(t);
    assert.equal((await s.expiryPreview(0)).clockHigh, null);
    await s.submitBatch([msg('a', [['bob', 1]]), msg('b', [['bob', 1], ['carol', 1]])], 1000, LIMITS);
    await s.createSession(new Uint8Array(32).fill(1), 'bob', 1, 0, 30_000);
    const p = await s.expiryPreview(1000 + LIMITS.ttlMs);
    assert.deepEqual(p, { queued: 3, expiring: 3, sessions: 1, expiringSessions: 1, clockHigh: null });
    await s.sweep(5000, LIMITS.ttlMs);
    assert.equal((await s.expiryPreview(6000)).clockHigh, 5000);
  });

  test('the stale-epoch fence refuses an older epoch of a group within a batch and across batches, a synced send passes without lowering it, and the sweep forgets it', async (t) => {
    const { s, rows } = await engine.setup(t);
    const codes = (rs: Awaited<ReturnType<typeof s.submitBatch>>) => rs.map((r) => (r.ok ? 'ok' : r.error.code));
    assert.deepEqual(codes(await s.submitBatch([grp('a3', [['bob', 1]], 1, 3), grp('a2', [['bob', 1]], 1, 2), grp('b0', [['bob', 1]], 2, 0)], 1000, LIMITS)), ['ok', 'stale_epoch', 'ok']);
    assert.deepEqual(codes(await s.submitBatch([grp('a2b', [['carol', 1]], 1, 2), grp('a2s', [['carol', 1]], 1, 2, true), grp('a2c', [['carol', 1]], 1, 2), grp('a4', [['carol', 1]], 1, 4)], 2000, LIMITS)), ['stale_epoch', 'ok', 'stale_epoch', 'ok']);
    assert.deepEqual(codes(await s.submitBatch([grp('a3x', [['bob', 1]], 1, 3), grp('a3', [['bob', 1]], 1, 3)], 3000, LIMITS)), ['stale_epoch', 'ok'], 'a resubmitted id is a duplicate, not stale');
    assert.equal(await rows('group_fences WHERE epoch >= 0'), 2);
    await s.sweep(2000 + LIMITS.ttlMs, LIMITS.ttlMs);
    assert.equal(await rows('group_fences'), 0, 'forgotten a message TTL after the group\'s last message');
    assert.deepEqual(codes(await s.submitBatch([grp('late', [['bob', 1]], 1, 1)], 70_000, LIMITS)), ['ok']);
  });

  test('within one batch, a send refused as queue_full refuses the later sends of its stream to that recipient (out_of_order), not those of other streams', async (t) => {
    const { s, rows } = await engine.setup(t);
    const limits = { ...LIMITS, maxBytes: 1000 };
    const sized = (id: string, bytes: number, stream?: number): SubmitRequest => ({ ...msg(id, [['bob', 1]], 'x'.repeat(bytes)), ...(stream !== undefined ? { stream } : {}) });
    assert.ok((await s.submitBatch([sized('m1', 600)], 1000, limits))[0]!.ok);
    // m2 does not fit, m3 would: stored, it would reach bob before m2 is sent again.
    const r = await s.submitBatch([sized('m2', 600, 7), sized('m3', 100, 7), sized('c1', 100, 8), { ...sized('m4', 100, 7), to: [{ user: 'carol', device: 1 }] }], 2000, limits);
    assert.deepEqual(
      r.map((x) => (x.ok ? 'ok' : x.error.code)),
      ['queue_full', 'out_of_order', 'ok', 'ok'],
    );
    assert.ok(!r[1]!.ok && isRelayError(r[1]!.error, 'out_of_order'));
    // Without a stream (HTTP, one request at a time per recipient) each send is judged alone.
    assert.deepEqual((await s.submitBatch([sized('h1', 600), sized('h2', 100)], 3000, limits)).map((x) => (x.ok ? 'ok' : x.error.code)), ['queue_full', 'ok']);
  });


  test('within one batch, each send is judged on its own sender and recipients: a block of one sender holds no other, an unknown device stays refused, and a group body goes with its last ack of the batch', async (t) => {
    const { s, rows } = await engine.setup(t);
    await s.blocks.block('bob', 'alice', 500, 2);
    const from = (user: string, r: SubmitRequest): SubmitRequest => ({ ...r, sender: { user, device: 1 } });
    const r = await s.submitBatch([
      msg('a1', [['bob', 1]]), from('carol', msg('c1', [['bob', 1]])), msg('a2', [['bob', 1], ['carol', 1]]),
      msg('a3', [['bob', 9]]), from('carol', msg('c2', [['bob', 9]])), from('carol', msg('c3', [['bob', 1]])),
    ], 1000, LIMITS);
    assert.deepEqual(r.map((x) => (x.ok ? x.recipients.map((a) => `${a.user}/${a.device}`).join(',') : x.error.code)), ['', 'bob/1', 'carol/1', 'unknown_device', 'unknown_device', 'bob/1']);
    assert.deepEqual((await s.pending({ user: 'bob', device: 1 }, 0, 10)).map((m) => m.clientId), ['c1', 'c3']);
    // A group message to three devices: two acks in one batch keep its body, the third deletes it.
    await s.blocks.unblock('bob', 'alice');
    const [g] = await s.submitBatch([msg('g1', [['bob', 1], ['bob', 2], ['carol', 1]])], 2000, LIMITS);
    assert.ok(g && g.ok);
    const ack = (i: number) => ({ to: g.recipients[i]!, deliveryId: g.deliveryIds[i]! });
    const before = await rows('messages');
    assert.equal((await s.commitBatch([ack(0), ack(1)], [], 3000, LIMITS)).acked, 2);
    assert.equal(await rows('messages'), before);
    assert.equal((await s.commitBatch([ack(2), ack(0)], [], 3000, LIMITS)).acked, 1);
    assert.equal(await rows('messages'), before - 1);
  });
  test('a login verified against a password that has since changed is not stored, and of two changes from one old hash only the first wins', async (t) => {
    const { s, rows } = await engine.setup(t);
    const token = (n: number) => new Uint8Array(32).fill(n);
    const session = (n: number) => ({ tokenHash: token(n), device: 1, now: 0, expiresAt: 1e15 });
    assert.equal((await s.createSession(token(1), 'alice', 1, 0, 1e15)), true);
    assert.equal((await s.createSession(token(2), 'alice', 2, 0, 1e15)), true);
    assert.equal(await s.changePassword('alice', '$argon2id$x', '$argon2id$new', session(3)), 2);
    assert.equal((await s.getSession(token(1), 1)), undefined);
    assert.equal((await s.getSession(token(2), 1)), undefined);
    assert.equal((await s.getSession(token(3), 1))?.user, 'alice');
    // A login whose argon2 check ran against the old hash while the change committed.
    assert.equal((await s.createSession(token(4), 'alice', 1, 0, 1e15, '$argon2id$x')), false);
    assert.equal((await s.getSession(token(4), 1)), undefined);
    // A second change verified against the old hash loses and changes nothing.
    assert.equal(await s.changePassword('alice', '$argon2id$x', '$argon2id$other', session(5)), undefined);
    assert.equal((await s.getUser('alice'))!.passwordHash, '$argon2id$new');
    assert.equal((await s.getSession(token(3), 1))?.user, 'alice');
    assert.equal((await s.createSession(token(6), 'alice', 1, 0, 1e15, '$argon2id$new')), true);
    assert.equal((await s.deleteSessions('alice')), 2);
  });

  test('a session records when the password was verified for it: a login and a password change do, a device ticket does not', async (t) => {
    const { s } = await engine.setup(t);
    const h = (n: number) => new Uint8Array(32).fill(n);
    assert.equal(await s.createSession(h(1), 'alice', 1, 1000, 1e15, '$argon2id$x'), true);
    assert.equal((await s.getSession(h(1), 1001))?.passwordAt, 1000, 'a password login');
    assert.equal(await s.createSession(h(2), 'alice', 1, 1000, 1e15), true);
    assert.equal((await s.getSession(h(2), 1001))?.passwordAt, null, 'a session no password was verified for');
    assert.equal(await s.linking.issueTicket(h(3), 'alice', 2000, 9000, 8), 2);
    assert.deepEqual(await s.linking.redeemTicket(h(3), { tokenHash: h(4), now: 2500, expiresAt: 1e15 }, 8), { user: 'alice', device: 2, expiresAt: 1e15 });
    assert.equal((await s.getSession(h(4), 2501))?.passwordAt, null, "a device ticket's login");
    assert.equal(await s.changePassword('alice', '$argon2id$x', '$argon2id$new', { tokenHash: h(5), device: 1, now: 3000, expiresAt: 1e15 }), 3);
    assert.equal((await s.getSession(h(5), 3001))?.passwordAt, 3000, 'a password change');
  });

  test('a recipient that blocks the sender gets nothing, the sender is answered as for any send, and the block is capped, listed and lifted', async (t) => {
    const { s, rows } = await engine.setup(t);
    assert.equal(await s.blocks.block('bob', 'alice', 500, 2), true);
    assert.equal(await s.blocks.block('bob', 'alice', 500, 2), true, 'idempotent');
    assert.equal(await s.blocks.blocks('bob', 'alice'), true);
    assert.equal(await s.blocks.blocks('alice', 'bob'), false, 'a block goes one way');
    // To bob alone (both devices): acked, nothing kept but the dedup record.
    const [only] = await s.submitBatch([msg('b1', [['bob', 1], ['bob', 2]])], 1000, LIMITS);
    assert.ok(only && only.ok && !only.duplicate);
    assert.deepEqual(only.recipients, []);
    assert.equal(await rows('messages'), 0);
    const [again] = await s.submitBatch([msg('b1', [['bob', 1]])], 1100, LIMITS);
    assert.ok(again && again.ok && again.duplicate, 'a resend is a duplicate');
    // To bob and carol in one batch with another send: carol alone gets it.
    const [mixed, other] = await s.submitBatch([msg('b2', [['bob', 1], ['carol', 1]]), msg('b3', [['carol', 1]])], 1200, LIMITS);
    assert.ok(mixed && mixed.ok && other && other.ok);
    assert.deepEqual(mixed.recipients, [{ user: 'carol', device: 1 }]);
    assert.equal((await s.pending({ user: 'bob', device: 1 }, 0, 10)).length, 0);
    assert.deepEqual((await s.pending({ user: 'carol', device: 1 }, 0, 10)).map((m) => m.clientId), ['b2', 'b3']);
    assert.equal(await s.blocks.block('bob', 'carol', 500, 2), true);
    assert.equal(await s.blocks.block('bob', 'dave', 500, 2), false, 'the cap');
    assert.deepEqual(await s.blocks.list('bob'), ['alice', 'carol']);
    await s.blocks.unblock('bob', 'alice');
    assert.deepEqual(await s.blocks.list('bob'), ['carol']);
    const [after] = await s.submitBatch([msg('b4', [['bob', 1]])], 1300, LIMITS);
    assert.ok(after && after.ok);
    assert.deepEqual((await s.pending({ user: 'bob', device: 1 }, 0, 10)).map((m) => m.clientId), ['b4']);
  });

  test('a linking channel: one per name while open, its request for its account only, one answer, taken with its secret until it expires, gone when expired', async (t) => {
    const { s, rows } = await engine.setup(t);
    const L = s.linking;
    const req = Uint8Array.of(1, 2, 3);
    const secret = new Uint8Array(32).fill(7);
    assert.equal(await L.open('abc123', 'alice', req, secret, 1000, 2000), true);
    assert.equal(await L.open('abc123', 'bob', req, secret, 1500, 2500), false, 'a live name is not taken over');
    assert.deepEqual(await L.request('abc123', 'alice', 1500), { request: req, answered: false });
    assert.equal(await L.request('abc123', 'bob', 1500), undefined, "another account does not see alice's request");
    assert.equal(await L.answer('abc123', 'bob', Uint8Array.of(9), 1500), 'gone', 'nor answer it');
    assert.equal(await L.take('abc123', secret, 1500), 'waiting');
    assert.equal(await L.answer('abc123', 'alice', Uint8Array.of(4, 5), 1500), 'stored');
    assert.deepEqual(await L.request('abc123', 'alice', 1500), { request: req, answered: true }, 'an answered channel says so (a second approve stops there)');
    assert.equal(await L.answer('abc123', 'alice', Uint8Array.of(6), 1500), 'answered', 'a second answer (a replayed approve) is refused');
    assert.equal(await L.answer('abc123', 'alice', Uint8Array.of(4, 5), 1500), 'stored', 'the same answer again (an approver that lost the reply) stands');
    assert.equal(await L.take('abc123', new Uint8Array(32).fill(8), 1500), 'gone', 'a wrong secret reads nothing');
    assert.deepEqual(await L.take('abc123', secret, 1500), { message: Uint8Array.of(4, 5) });
    // A new device that lost the reply (asleep, or its connection dropped) takes it again.
    assert.deepEqual(await L.take('abc123', secret, 1999), { message: Uint8Array.of(4, 5) }, 'taken again until it expires');
    assert.equal(await L.take('abc123', new Uint8Array(32).fill(8), 1999), 'gone', 'still nothing for a wrong secret after a take');
    assert.equal(await L.answer('abc123', 'alice', Uint8Array.of(6), 1999), 'answered', 'nor a second answer after a take');
    assert.equal(await L.take('abc123', secret, 2000), 'gone', 'and nothing once it expired');
    assert.equal(await L.answer('abc123', 'alice', Uint8Array.of(4, 5), 2000), 'gone', 'an approve after expiry finds nothing');
    assert.equal(await L.expire(2000), 1, 'the sweep deletes it');
    assert.equal(await rows('link_channels'), 0);
    // Expiry: absent at once, replaceable, and swept.
    assert.equal(await L.open('def456', 'alice', req, secret, 1000, 2000), true);
    assert.equal(await L.request('def456', 'alice', 2000), undefined);
    assert.equal(await L.answer('def456', 'alice', Uint8Array.of(1), 2000), 'gone');
    assert.equal(await L.open('def456', 'bob', req, secret, 2000, 3000), true, 'an expired name is taken over');
    assert.deepEqual(await L.request('def456', 'bob', 2500), { request: req, answered: false });
    assert.equal(await L.expire(3000), 1);
    assert.equal(await rows('link_channels'), 0);
  });

  test('a device ticket takes the next free device id, logs that device in once, and none is issued past the cap', async (t) => {
    const { s, rows } = await engine.setup(t);
    const L = s.linking;
    const h = (n: number) => new Uint8Array(32).fill(n);
    // bob has devices 1 and 2: the next free id is 3, then 4 while the first ticket is live.
    assert.equal(await L.issueTicket(h(1), 'bob', 1000, 2000, 8), 3);
    assert.equal(await L.issueTicket(h(2), 'bob', 1000, 2000, 8), 4);
    assert.equal(await L.issueTicket(h(3), 'bob', 1000, 2000, 4), undefined, 'devices and live tickets count against the cap');
    assert.deepEqual(await L.redeemTicket(h(1), { tokenHash: h(11), now: 1500, expiresAt: 9000 }, 8), { user: 'bob', device: 3, expiresAt: 9000 });
    assert.deepEqual(await s.getSession(h(11), 1500), { user: 'bob', device: 3, expiresAt: 9000, banned: false, passwordAt: null });
    assert.equal(await s.deviceExists('bob', 3), true);
    assert.equal(await L.redeemTicket(h(1), { tokenHash: h(12), now: 1500, expiresAt: 9000 }, 8), undefined, 'a ticket is redeemed once');
    assert.equal(await L.redeemTicket(h(2), { tokenHash: h(13), now: 2000, expiresAt: 9000 }, 8), undefined, 'an expired ticket is refused');
    assert.equal(await s.deviceExists('bob', 4), false);
    // A login that took the ticket's id meanwhile wins; the ticket is spent, nothing else changes.
    assert.equal(await L.issueTicket(h(4), 'alice', 3000, 4000, 8), 2);
    await s.touchDevice('alice', 2, 3100);
    assert.equal(await L.redeemTicket(h(4), { tokenHash: h(14), now: 3200, expiresAt: 9000 }, 8), undefined);
    assert.equal(await s.getSession(h(14), 3200), undefined);
    assert.equal(await L.issueTicket(h(5), 'nobody', 3000, 4000, 8), undefined);
    // Spent tickets stay until they expire (the same session may ask again), then go.
    assert.equal(await L.expire(4000), 3);
    assert.equal(await rows('device_tickets'), 0);
  });

  test('a redeemed ticket answers the same session again with the same login until it expires, and every other session bad_ticket', async (t) => {
    const { s, rows } = await engine.setup(t);
    const L = s.linking;
    const h = (n: number) => new Uint8Array(32).fill(n);
    assert.equal(await L.issueTicket(h(1), 'bob', 1000, 2000, 8), 3);
    const first = await L.redeemTicket(h(1), { tokenHash: h(11), now: 1500, expiresAt: 9000 }, 8);
    assert.deepEqual(first, { user: 'bob', device: 3, expiresAt: 9000 });
    // The reply was lost: the same pair later gets the same answer (the session's expiry, not a new one), and no second device or session.
    assert.deepEqual(await L.redeemTicket(h(1), { tokenHash: h(11), now: 1900, expiresAt: 9400 }, 8), first);
    assert.equal(await rows("sessions WHERE username = 'bob' AND device_id = 3"), 1);
    assert.equal(await L.redeemTicket(h(1), { tokenHash: h(12), now: 1600, expiresAt: 9000 }, 8), undefined, 'one login per ticket');
    assert.equal(await s.getSession(h(12), 1600), undefined);
    // Device 3 is bob's now: the next ticket takes 4.
    assert.equal(await L.issueTicket(h(2), 'bob', 1600, 2600, 4), 4);
    // After the ticket would have expired, the same pair is refused too, and the sweep removes it.
    assert.equal(await L.redeemTicket(h(1), { tokenHash: h(11), now: 2000, expiresAt: 9000 }, 8), undefined);
    assert.equal(await L.expire(2000), 1);
    assert.deepEqual((await s.getSession(h(11), 2000))?.device, 3, 'the session itself lives on');
    // A session token in use already is refused and does not spend the ticket.
    assert.equal(await L.redeemTicket(h(2), { tokenHash: h(11), now: 2100, expiresAt: 9000 }, 8), undefined);
    assert.deepEqual(await L.redeemTicket(h(2), { tokenHash: h(13), now: 2100, expiresAt: 9000 }, 8), { user: 'bob', device: 4, expiresAt: 9000 });
  });

  test('a device ticket skips a device id the device list removed, so a removed device cannot come back under its id through a ticket', async (t) => {
    const { s } = await engine.setup(t);
    const h = (n: number) => new Uint8Array(32).fill(n);
    await s.touchDevice('alice', 2, 0);
    const a = await chain('alice', 1, 2);
    const v1 = a.lists[0]!.list;
    await s.putDeviceList({ user: 'alice', device: 1 }, a.lists[0]!.bytes, 8, 0);
    // Device 2 removed: its devices row is gone, so id 2 is the lowest id no device holds, but
    // a stolen device 2 must not come back under it through a ticket either.
    const v2 = forged(a.key, { user: 'alice', version: 2, prevHash: deviceListHash(v1), devices: [v1.devices[0]!] });
    assert.deepEqual((await s.putDeviceList({ user: 'alice', device: 1 }, v2, 8, 0)).removed, [2]);
    assert.equal(await s.deviceExists('alice', 2), false);
    assert.equal(await s.linking.issueTicket(h(1), 'alice', 1000, 2000, 8), 3);
    assert.deepEqual(await s.linking.redeemTicket(h(1), { tokenHash: h(11), now: 1500, expiresAt: 9000 }, 8), { user: 'alice', device: 3, expiresAt: 9000 });
    assert.equal(await s.linking.issueTicket(h(2), 'alice', 1000, 2000, 8), 4, 'and the next one past it');
    // Removed ids do not count against the cap: 1, 3 and the live ticket for 4 are three of 3.
    assert.equal(await s.linking.issueTicket(h(3), 'alice', 1000, 2000, 3), undefined);
    assert.equal(await s.deviceRemoved('alice', 2), true);
  });

  test('addDevice refuses a new device beyond the cap and keeps accepting the existing ones', async (t) => {
    const { s, rows } = await engine.setup(t);
    for (const d of [2, 3]) assert.equal((await s.addDevice('alice', d, 0, 3)), true);
    assert.equal((await s.addDevice('alice', 4, 0, 3)), false);
    assert.equal((await s.deviceExists('alice', 4)), false);
    assert.equal((await s.addDevice('alice', 2, 0, 3)), true);
  });

  test('device lists: each stored only as the successor of the newest, and read back after a version', async (t) => {
    const { s, rows } = await engine.setup(t);
    const a = await chain('alice', 4);
    const bytes = (v: number) => a.lists[v - 1]!.bytes;
    const alice1 = { user: 'alice', device: 1 };
    await refused(s.putDeviceList(alice1, bytes(2), 8, 0), 'bad_device_list', 'a first list of version 2');
    assert.deepEqual(await s.putDeviceList(alice1, bytes(1), 8, 0), { version: 1, duplicate: false, removed: [] });
    assert.deepEqual(await s.putDeviceList(alice1, bytes(1), 8, 0), { version: 1, duplicate: true, removed: [] });
    await refused(s.putDeviceList(alice1, bytes(3), 8, 0), 'bad_device_list', 'version 3 after 1');
    // Version v > 2 replaces the device version v − 1 added (test/util/device-lists.ts chain).
    for (const v of [2, 3, 4]) assert.deepEqual(await s.putDeviceList(alice1, bytes(v), 8, 0), { version: v, duplicate: false, removed: v > 2 ? [v - 1] : [] });
    await refused(s.putDeviceList(alice1, bytes(3), 8, 0), 'device_list_conflict', 'an older version again');
    assert.equal(await rows('device_lists'), 4);
    const since = async (v: number, limit = 10) => (await s.deviceLists('alice', v, limit))!.map((r) => [r.version, Buffer.from(r.list).toString('hex')]);
    assert.deepEqual(await since(0), [1, 2, 3, 4].map((v) => [v, Buffer.from(bytes(v)).toString('hex')]));
    assert.deepEqual((await since(2)).map(([v]) => v), [3, 4]);
    assert.deepEqual((await since(1, 2)).map(([v]) => v), [2, 3]);
    assert.deepEqual(await s.deviceLists('bob', 0, 10), []);
    assert.equal(await s.deviceLists('nobody', 0, 10), undefined);
  });

  test('a device list whose previous hash is not the stored list\'s, or signed by another account key, is refused', async (t) => {
    const { s, rows } = await engine.setup(t);
    const a = await chain('alice', 2);
    const alice1 = { user: 'alice', device: 1 };
    await s.putDeviceList(alice1, a.lists[0]!.bytes, 8, 0);
    const devices = a.lists[1]!.list.devices;
    // Right key and version, but it follows another version 1 (a history the relay never stored).
    const other1 = (await chain('alice', 1, 1, a.key)).lists[0]!.list;
    await refused(s.putDeviceList(alice1, forged(a.key, { user: 'alice', version: 2, prevHash: deviceListHash(other1), devices }), 8, 0), 'bad_device_list', 'wrong previous hash');
    // The right chain position under a key that is not the account's.
    const stranger = (await chain('alice', 1)).key;
    await refused(s.putDeviceList(alice1, forged(stranger, { user: 'alice', version: 2, prevHash: deviceListHash(a.lists[0]!.list), devices }), 8, 0), 'bad_device_list', 'another account key');
    assert.equal(await rows('device_lists'), 1);
    assert.deepEqual(await s.putDeviceList(alice1, a.lists[1]!.bytes, 8, 0), { version: 2, duplicate: false, removed: [] });
  });

  test('a device a new list leaves out loses its tokens, queue, bundle and prekeys at once, and cannot log in until a list holds it again', async (t) => {
    const { s, rows } = await engine.setup(t);
    await s.touchDevice('alice', 2, 0);
    const a = await chain('alice', 1, 2);
    const v1 = a.lists[0]!.list;
    const withOnly = (version: number, devices: typeof v1.devices, prev: typeof v1) => forged(a.key, { user: 'alice', version, prevHash: deviceListHash(prev), devices });
    assert.deepEqual((await s.putDeviceList({ user: 'alice', device: 1 }, a.lists[0]!.bytes, 8, 0)).removed, []);
    await s.putBundle('alice', 2, { dhPublic: new Uint8Array(32), signPublic: new Uint8Array(32), signature: new Uint8Array(64) }, { id: 1, createdAt: 0, publicKey: new Uint8Array(32), signature: new Uint8Array(64) }, [{ id: 1, publicKey: new Uint8Array(32) }], 0);
    for (const [i, d] of [1, 2].entries()) assert.ok(await s.createSession(new Uint8Array(32).fill(i + 1), 'alice', d, 0, 10_000, '$argon2id$x'));
    // One message for device 2 alone, one for both devices.
    await s.submitBatch([msg('only2', [['alice', 2]]), msg('both', [['alice', 1], ['alice', 2]])], 1000, LIMITS);
    const v2bytes = withOnly(2, [v1.devices[0]!], v1);
    assert.deepEqual(await s.putDeviceList({ user: 'alice', device: 1 }, v2bytes, 8, 0), { version: 2, duplicate: false, removed: [2] });
    assert.equal(await s.getSession(new Uint8Array(32).fill(2), 1), undefined, "device 2's token");
    assert.ok(await s.getSession(new Uint8Array(32).fill(1), 1), "device 1's token is kept");
    assert.equal(await rows("deliveries WHERE username = 'alice' AND device_id = 2"), 0);
    assert.deepEqual((await s.pending({ user: 'alice', device: 1 }, 0, 10)).map((m) => m.clientId), ['both']);
    assert.equal(await rows('messages'), 1, 'the body only device 2 waited for is gone');
    assert.equal(await rows("one_time_prekeys WHERE username = 'alice'"), 0);
    assert.equal(await s.deviceExists('alice', 2), false);
    assert.equal(await s.deviceRemoved('alice', 2), true);
    assert.equal(await s.deviceRemoved('alice', 1), false);
    assert.equal(await s.createSession(new Uint8Array(32).fill(3), 'alice', 2, 0, 10_000, '$argon2id$x'), false, 'a login as the removed device');
    assert.ok(await s.createSession(new Uint8Array(32).fill(4), 'alice', 3, 0, 10_000, '$argon2id$x'), 'a device id no list ever held');
    // The account adds device 2 back: it may log in again.
    const v2 = parseDeviceList(v2bytes);
    await s.putDeviceList({ user: 'alice', device: 1 }, withOnly(3, v1.devices, v2), 8, 0);
    assert.equal(await s.deviceRemoved('alice', 2), false);
    assert.ok(await s.createSession(new Uint8Array(32).fill(5), 'alice', 2, 0, 10_000, '$argon2id$x'));
  });

  test('a replacing upload stores a version 1 under a new account key in place of every list, and removes the devices it leaves out', async (t) => {
    const { s, rows } = await engine.setup(t);
    const old = await chain('alice', 2, 2);
    for (const l of old.lists) await s.putDeviceList({ user: 'alice', device: 1 }, l.bytes, 8, 0);
    const fresh = await chain('alice', 2);
    // Without replace, a new key's version 1 is refused; a replacing version 2 too.
    await refused(s.putDeviceList({ user: 'alice', device: 1 }, fresh.lists[0]!.bytes, 8, 0), 'bad_device_list', 'another key without replace');
    await refused(s.putDeviceList({ user: 'alice', device: 1 }, fresh.lists[1]!.bytes, 8, 0, true), 'bad_device_list', 'a replacing list of version 2');
    assert.deepEqual(await s.putDeviceList({ user: 'alice', device: 1 }, fresh.lists[0]!.bytes, 8, 0, true), { version: 1, duplicate: false, removed: [2, 3] });
    assert.equal(await rows("device_lists WHERE username = 'alice'"), 1);
    assert.deepEqual((await s.deviceLists('alice', 0, 10))!.map((r) => Buffer.from(r.list).toString('hex')), [Buffer.from(fresh.lists[0]!.bytes).toString('hex')]);
    assert.equal(await s.deviceRemoved('alice', 2), true);
    // The new history goes on from its own version 1.
    assert.equal((await s.putDeviceList({ user: 'alice', device: 1 }, fresh.lists[1]!.bytes, 8, 0)).version, 2);
  });

  test("a device list is stored only for the uploader's own account, naming the uploading device, within the device cap", async (t) => {
    const { s, rows } = await engine.setup(t);
    const a = await chain('alice', 1, 3);
    await refused(s.putDeviceList({ user: 'bob', device: 1 }, a.lists[0]!.bytes, 8, 0), 'bad_device_list', "bob uploading alice's list");
    await refused(s.putDeviceList({ user: 'alice', device: 4 }, a.lists[0]!.bytes, 8, 0), 'bad_device_list', 'a device not in the list');
    await refused(s.putDeviceList({ user: 'alice', device: 1 }, a.lists[0]!.bytes, 2, 0), 'too_many_devices', '3 devices over a cap of 2');
    await refused(s.putDeviceList({ user: 'alice', device: 1 }, a.lists[0]!.bytes.slice(0, -1), 8, 0), 'bad_device_list', 'a truncated list');
    assert.equal(await rows('device_lists'), 0);
    assert.deepEqual(await s.putDeviceList({ user: 'alice', device: 3 }, a.lists[0]!.bytes, 3, 0), { version: 1, duplicate: false, removed: [] });
  });
});
}

// Two nodes on one database: what one store's transactions promise must hold against another's
// running at the same moment (engines that nodes share only).
for (const backend of storeBackends().filter((b) => b.shared)) {
describe(`${backend.name} store, two nodes at once`, () => {
  before(() => backend.start());
  after(() => backend.stop());

  const nodes = async (t: TestContext) => {
    const u = await backend.open(t);
    return { a: u.store, b: await u.twin!(), rows: u.rows };
  };

  test('concurrent logins of new devices on two nodes never pass the device cap', async (t) => {
    const n = await nodes(t);
    await n.a.createUser('alice', '$argon2id$x', 0);
    const tries = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? n.a : n.b).addDevice('alice', i + 1, 0, 3)));
    assert.equal(tries.filter(Boolean).length, 3);
    assert.equal(await n.rows("devices WHERE username = 'alice'"), 3);
  });

  test('concurrent batches on two nodes for one device get distinct delivery ids in commit order, and the quota holds exactly', async (t) => {
    const n = await nodes(t);
    for (const u of ['alice', 'bob']) {
      await n.a.createUser(u, '$argon2id$x', 0);
      await n.a.touchDevice(u, 1, 0);
    }
    const lim = { ...LIMITS, maxMessages: 30 };
    const batches = Array.from({ length: 12 }, (_, k) => Array.from({ length: 5 }, (_, i) => msg(`k${k}-${i}`, [['bob', 1]])));
    const results = (await Promise.all(batches.map((b, k) => (k % 2 ? n.a : n.b).submitBatch(b, 1000, lim)))).flat();
    const stored = results.filter((r) => r.ok && !r.duplicate);
    assert.equal(stored.length, 30, 'exactly the quota was stored');
    assert.ok(results.every((r) => r.ok || isRelayError(r.error, 'queue_full')));
    const ids = stored.map((r) => (r.ok ? r.deliveryIds[0]! : 0));
    assert.equal(new Set(ids).size, 30);
    const queue = await n.a.pending({ user: 'bob', device: 1 }, 0, 100);
    assert.deepEqual(queue.map((m) => m.deliveryId), [...ids].sort((x, y) => x - y));
    // Within each batch the ids follow arrival order (a reader's cursor depends on it).
    for (const b of batches) {
      const mine = queue.filter((m) => b.some((x) => x.clientId === m.clientId)).map((m) => m.clientId);
      assert.deepEqual(mine, b.map((x) => x.clientId).filter((id) => mine.includes(id)));
    }
  });

  test("concurrent batches on two nodes to different recipients decide a group's stale-epoch fence one after the other", async (t) => {
    const n = await nodes(t);
    for (const u of ['alice', 'bob', 'carol']) {
      await n.a.createUser(u, '$argon2id$x', 0);
      await n.a.touchDevice(u, 1, 0);
    }
    // Node a sends [g 5, h 3] to bob while node b sends [h 5, g 3] to carol: in either order one
    // of the two epoch-3 sends is behind the fence the other batch raised. Both passing would mean
    // the batches read the fences before either raised them.
    const rounds = 16;
    const results = await Promise.all(Array.from({ length: rounds }, async (_, i) => {
      const g = 2 * i + 1;
      const h = 2 * i + 2;
      const [ra, rb] = await Promise.all([
        n.a.submitBatch([grp(`a${i}-g`, [['bob', 1]], g, 5), grp(`a${i}-h`, [['bob', 1]], h, 3)], 1000, LIMITS),
        n.b.submitBatch([grp(`b${i}-h`, [['carol', 1]], h, 5), grp(`b${i}-g`, [['carol', 1]], g, 3)], 1000, LIMITS),
      ]);
      return [...ra!, ...rb!].filter((r) => !r.ok).map((r) => (r.ok ? '' : r.error.code));
    }));
    for (const [i, refused] of results.entries()) assert.deepEqual(refused, ['stale_epoch'], `round ${i}`);
  });

  test('concurrent uploads of one device list version on two nodes: one is stored, the other refused as a conflict', async (t) => {
    const n = await nodes(t);
    await n.a.createUser('alice', '$argon2id$x', 0);
    const a = await chain('alice', 1, 2);
    await n.a.putDeviceList({ user: 'alice', device: 1 }, a.lists[0]!.bytes, 8, 0);
    let newest = a.lists[0]!.list;
    for (let round = 0; round < 12; round++) {
      // Devices 1 and 2 each sign a different next version: devices 1, 2 and a third of their own.
      const mine = (d: number) => forged(a.key, { user: 'alice', version: newest.version + 1, prevHash: deviceListHash(newest), devices: [...newest.devices.slice(0, 2), device(100 + 2 * round + d, 'alice', a.key)] });
      const tries = [mine(0), mine(1)];
      const results = await Promise.allSettled(tries.map((b, i) => (i ? n.b : n.a).putDeviceList({ user: 'alice', device: i + 1 }, b, 99, 0)));
      const won = results.findIndex((r) => r.status === 'fulfilled');
      assert.ok(won >= 0, `round ${round}: one upload is stored`);
      const lost = results[1 - won]!;
      assert.ok(lost.status === 'rejected' && isRelayError(lost.reason, 'device_list_conflict'), `round ${round}: the other is a conflict, not ${lost.status === 'rejected' ? String(lost.reason) : 'stored'}`);
      const stored = (await n.b.deviceLists('alice', newest.version, 10))!;
      assert.deepEqual(stored.map((r) => Buffer.from(r.list).toString('hex')), [Buffer.from(tries[won]!).toString('hex')]);
      newest = parseDeviceList(tries[won]!);
    }
  });

  test('concurrent bundle fetches on two nodes hand out each one-time prekey once', async (t) => {
    const n = await nodes(t);
    await n.a.createUser('bob', '$argon2id$x', 0);
    const k = (i: number): Uint8Array => new Uint8Array(32).fill(i);
    await n.a.putBundle('bob', 1, { dhPublic: k(1), signPublic: k(2), signature: new Uint8Array(64) }, { id: 1, createdAt: 0, publicKey: k(3), signature: new Uint8Array(64) }, Array.from({ length: 20 }, (_, i) => ({ id: i + 1, publicKey: k(i + 10) })), 0);
    const got = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? n.a : n.b).takeBundles('bob')));
    const ids = got.map((b) => b![0]!.oneTimePreKey?.id).filter((x): x is number => x !== undefined);
    assert.equal(ids.length, 20);
    assert.equal(new Set(ids).size, 20);
  });
});
}

/** `p` is refused with RelayError `code`. */
async function refused(p: Promise<unknown>, code: Parameters<typeof isRelayError>[1], what: string): Promise<void> {
  await assert.rejects(p, (e) => isRelayError(e, code) || assert.fail(`${what}: ${String(e)}`), what);
}
