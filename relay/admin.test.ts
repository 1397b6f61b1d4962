import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { banUser, deleteUser, listUsers, normaliseUsername, openAdminStore, unbanUser } from './admin.js';
import { isRelayError } from './errors.js';
import { openSqliteStore, type Store } from './store/index.js';

const LIMITS = { maxMessages: 100, maxBytes: 1 << 20, ttlMs: 3600_000 };
const NOW = 1_700_000_000_000;

/** A store with alice (2 devices, keys, a session, queued mail) and bob (who sent it). */
async function seeded(): Promise<Store> {
  const s = openSqliteStore(':memory:');
  await s.createUser('alice', '$argon2id$fake', NOW);
  await s.createUser('bob', '$argon2id$fake', NOW + 1);
  await s.touchDevice('alice', 1, NOW);
  await s.touchDevice('alice', 2, NOW);
  await s.touchDevice('bob', 1, NOW);
  const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);
  await s.putBundle('alice', 1, { dhPublic: key(1), signPublic: key(2), signature: new Uint8Array(64) }, { id: 1, createdAt: NOW, publicKey: key(3), signature: new Uint8Array(64) }, [{ id: 1, publicKey: key(4) }, { id: 2, publicKey: key(5) }], NOW);
  await s.createSession(new Uint8Array(32).fill(9), 'alice', 1, NOW, NOW + 3600_000);
  const r = await s.submitBatch([{ sender: { user: 'bob', device: 1 }, clientId: 'm1', to: [{ user: 'alice', device: 1 }, { user: 'alice', device: 2 }], body: new Uint8Array([1, 2, 3]) }], NOW, LIMITS);
  assert.equal(r[0]!.ok, true);
  return s;
}

test('lists accounts with their devices and queued deliveries, never a password hash', async () => {
  const s = await seeded();
  const users = await listUsers(s);
  assert.deepEqual(users, [
    { username: 'alice', createdAt: new Date(NOW).toISOString(), banned: false, bannedAt: null, devices: 2, queued: 2 },
    { username: 'bob', createdAt: new Date(NOW + 1).toISOString(), banned: false, bannedAt: null, devices: 1, queued: 0 },
  ]);
  assert.ok(!JSON.stringify(users).includes('argon2'));
  await s.close();
});

test('a ban makes every session of the account report banned, and an unban lifts it', async () => {
  const s = await seeded();
  const tokenHash = new Uint8Array(32).fill(9);
  assert.equal((await s.getSession(tokenHash, NOW))?.banned, false);
  assert.deepEqual(await banUser(s, 'Alice', NOW + 5), { username: 'alice', banned: true, bannedAt: new Date(NOW + 5).toISOString() });
  assert.equal((await s.getSession(tokenHash, NOW))?.banned, true);
  // A second ban keeps the first ban time.
  assert.equal((await banUser(s, 'alice', NOW + 99)).bannedAt, new Date(NOW + 5).toISOString());
  assert.equal((await listUsers(s)).find((u) => u.username === 'alice')?.banned, true);
  assert.deepEqual(await unbanUser(s, 'alice'), { username: 'alice', banned: false, bannedAt: null });
  assert.equal((await s.getSession(tokenHash, NOW))?.banned, false);
  await s.close();
});

test('deleting an account removes its devices, keys, sessions and queued messages', async () => {
  const s = await seeded();
  assert.deepEqual(await deleteUser(s, 'alice'), { username: 'alice', deleted: true });
  assert.equal((await s.getUser('alice')), undefined);
  assert.equal((await s.getSession(new Uint8Array(32).fill(9), NOW)), undefined);
  assert.equal((await s.takeBundles('alice')), undefined);
  assert.equal((await s.countOneTimePreKeys('alice', 1)), 0);
  assert.deepEqual((await s.pending({ user: 'alice', device: 1 }, 0, 10)), []);
  assert.equal((await s.queueDepth()), 0);
  assert.deepEqual((await listUsers(s)).map((u) => u.username), ['bob']);
  await s.close();
});

test('deleting an account leaves no orphaned message bodies or key rows in the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-admin-'));
  try {
    const path = join(dir, 'relay.db');
    const s = openSqliteStore(path);
    await s.createUser('alice', 'h', NOW);
    await s.createUser('bob', 'h', NOW);
    await s.touchDevice('alice', 1, NOW);
    await s.touchDevice('bob', 1, NOW);
    await s.addOneTimePreKeys('alice', 1, [{ id: 7, publicKey: new Uint8Array(32) }], 100);
    await s.submitBatch([{ sender: { user: 'bob', device: 1 }, clientId: 'x', to: [{ user: 'alice', device: 1 }], body: new Uint8Array(10) }], NOW, LIMITS);
    await s.close();
    const admin = await openAdminStore(path);
    await deleteUser(admin, 'alice');
    await admin.close();
    const db = new Database(path, { readonly: true });
    const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
    assert.equal(count("SELECT count(*) AS n FROM devices WHERE username = 'alice'"), 0);
    assert.equal(count("SELECT count(*) AS n FROM one_time_prekeys WHERE username = 'alice'"), 0);
    assert.equal(count("SELECT count(*) AS n FROM deliveries WHERE username = 'alice'"), 0);
    assert.equal(count('SELECT count(*) AS n FROM messages'), 0);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a name registered again after delete is not mistaken for the deleted account's resubmits", async () => {
  const s = await seeded();
  await deleteUser(s, 'bob'); // bob sent m1 before he was deleted
  await s.createUser('bob', '$argon2id$fake', NOW + 10);
  await s.touchDevice('bob', 1, NOW + 10);
  const [r] = await s.submitBatch([{ sender: { user: 'bob', device: 1 }, clientId: 'm1', to: [{ user: 'alice', device: 1 }], body: new Uint8Array([9]) }], NOW + 10, LIMITS);
  assert.ok(r?.ok && !r.duplicate, 'stored as a new message, not acked as a duplicate and dropped');
  assert.deepEqual((await s.pending({ user: 'alice', device: 1 }, 0, 10)).map((m) => [m.from.user, m.clientId, [...m.body]]), [['bob', 'm1', [1, 2, 3]], ['bob', 'm1', [9]]]);
  await s.close();
});

test('refuses unknown accounts, invalid names and a database file that does not exist', async () => {
  const s = await seeded();
  await assert.rejects(banUser(s, 'carol', NOW), (e) => isRelayError(e, 'unknown_user'));
  await assert.rejects(unbanUser(s, 'carol'), (e) => isRelayError(e, 'unknown_user'));
  await assert.rejects(deleteUser(s, 'carol'), (e) => isRelayError(e, 'unknown_user'));
  await assert.rejects(banUser(s, "x'; DROP TABLE users; --", NOW), (e) => isRelayError(e, 'invalid_username'));
  assert.throws(() => normaliseUsername('ab'), (e) => isRelayError(e, 'invalid_username'));
  assert.equal(normaliseUsername('Alice_1'), 'alice_1');
  await assert.rejects(openAdminStore(join(tmpdir(), 'fastchat-no-such-dir', 'relay.db')), (e) => isRelayError(e, 'not_found'));
  await s.close();
});
