import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from './sqlite.js';
import { LIMITS, msg } from '../../test/util/stores.js';

test('uses WAL and the configured synchronous level', () => {
  const full = openSqliteStore(':memory:');
  assert.equal((full as any).db.pragma('synchronous', { simple: true }), 2);
  const normal = openSqliteStore(':memory:', { synchronous: 'NORMAL' });
  assert.equal((normal as any).db.pragma('synchronous', { simple: true }), 1);
});

test('every write transaction counts one commit and reports it after it committed', async () => {
  const seen: number[] = [];
  const s = openSqliteStore(':memory:', { onCommit: (n) => seen.push(n) });
  const before = s.commits();
  await s.createUser('alice', '$argon2id$x', 0);
  await s.touchDevice('alice', 1, 0);
  await s.createUser('bob', '$argon2id$x', 0);
  await s.touchDevice('bob', 1, 0);
  await s.submitBatch([msg('m1', [['bob', 1]])], 1000, LIMITS);
  await s.setBanned('bob', 5);
  assert.deepEqual(seen, [before + 1, before + 2, before + 3, before + 4, before + 5, before + 6]);
  assert.equal(s.commits(), before + 6);
  // A write that fails rolls its count back with it and reports nothing.
  await assert.rejects(s.addOneTimePreKeys('bob', 1, [{ id: 1, publicKey: new Uint8Array(32) }, { id: 2, publicKey: new Uint8Array(32) }], 1));
  assert.equal(s.commits(), before + 6);
  assert.equal(seen.length, 6);
});

test("a queue's quota holds exactly across batches while other writers change the queue: another store on the file, the sweep, a raw SQL session", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-usage-'));
  const file = join(dir, 'relay.db');
  const a = openSqliteStore(file); // the relay
  const b = openSqliteStore(file); // another process on the file (the admin command, a second relay)
  const raw = new Database(file); // a writer that does not count commits
  raw.pragma('busy_timeout = 5000');
  t.after(async () => {
    raw.close();
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const name of ['alice', 'bob']) {
    await a.createUser(name, '$argon2id$x', 0);
    await a.touchDevice(name, 1, 0);
  }
  const lim = { ...LIMITS, maxMessages: 3 };
  const bob = { user: 'bob', device: 1 };
  let n = 0;
  /** One send to bob/1 in a batch of its own through `s`: its delivery id, or the refusal's code. */
  const send = async (s: typeof a, now = 1000): Promise<number | string> => {
    const [r] = await s.submitBatch([msg(`m${n++}`, [['bob', 1]])], now, lim);
    return r!.ok ? r!.deliveryIds[0]! : r!.error.code;
  };
  const queued = (): number => (raw.prepare("SELECT count(*) AS n FROM deliveries WHERE username = 'bob'").get() as { n: number }).n;

  const ids = [await send(a), await send(a), await send(a)] as number[];
  assert.equal(await send(a), 'queue_full', 'full at 3');
  // Another store acks two and stores one: 2 queued, so the relay takes exactly one more.
  await b.ackBatch(ids.slice(0, 2).map((deliveryId) => ({ to: bob, deliveryId })));
  assert.equal(typeof (await send(b)), 'number');
  assert.equal(typeof (await send(a)), 'number', 'room freed by another writer is seen');
  assert.equal(await send(a), 'queue_full');
  assert.equal(queued(), 3);
  // The relay's own ack frees one; another store fills it: the relay must refuse.
  const left = (await a.pending(bob, 0, 10)).map((m) => m.deliveryId);
  await a.commitBatch([{ to: bob, deliveryId: left[0]! }], [], 1000, lim);
  assert.equal(typeof (await send(b)), 'number');
  assert.equal(await send(a), 'queue_full', 'a send by another writer is counted');
  assert.equal(queued(), 3);
  // The relay's own ack frees one for its next batch, and only one.
  const next = (await a.pending(bob, 0, 10)).map((m) => m.deliveryId);
  await a.commitBatch([{ to: bob, deliveryId: next[0]! }], [], 1000, lim);
  assert.equal(typeof (await send(a)), 'number', 'its own ack is counted');
  assert.equal(await send(a), 'queue_full');
  assert.equal(queued(), 3);
  // The relay's own sweep (its own write, outside a commit batch) expires everything.
  await a.sweep(1000 + lim.ttlMs + 1, lim.ttlMs);
  assert.equal(queued(), 0);
  for (let i = 0; i < 3; i++) assert.equal(typeof (await send(a, 2_000_000)), 'number');
  assert.equal(await send(a, 2_000_000), 'queue_full');
  // A raw SQL session deletes one without counting a commit: data_version still tells.
  raw.prepare("DELETE FROM deliveries WHERE id = (SELECT min(id) FROM deliveries WHERE username = 'bob')").run();
  assert.equal(typeof (await send(a, 2_000_000)), 'number');
  assert.equal(await send(a, 2_000_000), 'queue_full');
  assert.equal(queued(), 3);
});

test('the queue usage counted once is kept across batches and across writes that change no queue (a login, a device, an ack), and counted again after one that may (the sweep)', async () => {
  const s = openSqliteStore(':memory:');
  for (const name of ['alice', 'bob']) {
    await s.createUser(name, '$argon2id$x', 0);
    await s.touchDevice(name, 1, 0);
  }
  // Count the scans of a queue's usage (the statement the memory saves).
  const stmts = (s as any).s;
  const real = stmts.queueUsage;
  let scans = 0;
  stmts.queueUsage = { get: (...args: unknown[]) => (scans++, real.get(...args)) };
  const send = async (id: string): Promise<number> => {
    const [r] = await s.submitBatch([msg(id, [['bob', 1]])], 1000, LIMITS);
    assert.ok(r!.ok && !r!.duplicate);
    return r!.deliveryIds[0]!;
  };
  const first = await send('m1');
  await send('m2');
  assert.equal(scans, 1, 'counted once, kept for the next batch');
  await s.createSession(new Uint8Array(32).fill(7), 'alice', 1, 1000, 5000);
  await s.touchDevice('alice', 2, 1000);
  await s.ackBatch([{ to: { user: 'bob', device: 1 }, deliveryId: first }]);
  await send('m3');
  assert.equal(scans, 1, 'a login, a new device and an ack keep it');
  await s.sweep(1000, LIMITS.ttlMs);
  await send('m4');
  assert.equal(scans, 2, 'counted again after the sweep');
  assert.deepEqual((s as any).usage.queues.get('bob\0' + '1'), { n: 3, bytes: 3 * msg('x', []).body.length }, 'and exact: m2, m3, m4');
});
