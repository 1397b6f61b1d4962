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
function seeded(): Store {
  const s = openSqliteStore(':memory:');
  s.createUser('alice', '$argon2id$fake', NOW);
  s.createUser('bob', '$argon2id$fake', NOW + 1);
  s.touchDevice('alice', 1, NOW);
  s.touchDevice('alice', 2, NOW);
  s.touchDevice('bob', 1, NOW);
  const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);
  s.putBundle('alice', 1, { dhPublic: key(1), signPublic: key(2), signature: new Uint8Array(64) }, { id: 1, createdAt: NOW, publicKey: key(3), signature: new Uint8Array(64) }, [{ id: 1, publicKey: key(4) }, { id: 2, publicKey: key(5) }], NOW);
  s.createSession(new Uint8Array(32).fill(9), 'alice', 1, NOW, NOW + 3600_000);
  const r = s.submitBatch([{ sender: { user: 'bob', device: 1 }, clientId: 'm1', to: [{ user: 'alice', device: 1 }, { user: 'alice', device: 2 }], body: new Uint8Array([1, 2, 3]) }], NOW, LIMITS);
  assert.equal(r[0]!.ok, true);
  return s;
}

test('lists accounts with their devices and queued deliveries, never a password hash', () => {
  const s = seeded();
  const users = listUsers(s);
  assert.deepEqual(users, [
    { username: 'alice', createdAt: new Date(NOW).toISOString(), banned: false, bannedAt: null, devices: 2, queued: 2 },
    { username: 'bob', createdAt: new Date(NOW + 1).toISOString(), banned: false, bannedAt: null, devices: 1, queued: 0 },
  ]);
  assert.ok(!JSON.stringify(users).includes('argon2'));
  s.close();
});

test('a ban makes every session of the account report banned, and an unban lifts it', () => {
  const s = seeded();
  const tokenHash = new Uint8Array(32).fill(9);
  assert.equal(s.getSession(tokenHash, NOW)?.banned, false);
  assert.deepEqual(banUser(s, 'Alice', NOW + 5), { username: 'alice', banned: true, bannedAt: new Date(NOW + 5).toISOString() });
  assert.equal(s.getSession(tokenHash, NOW)?.banned, true);
  // A second ban keeps the first ban time.
  assert.equal(banUser(s, 'alice', NOW + 99).bannedAt, new Date(NOW + 5).toISOString());
  assert.equal(listUsers(s).find((u) => u.username === 'alice')?.banned, true);
  assert.deepEqual(unbanUser(s, 'alice'), { username: 'alice', banned: false, bannedAt: null });
  assert.equal(s.getSession(tokenHash, NOW)?.banned, false);
  s.close();
});

test('deleting an account removes its devices, keys, sessions and queued messages', () => {
  const s = seeded();
  assert.deepEqual(deleteUser(s, 'alice'), { username: 'alice', deleted: true });
  assert.equal(s.getUser('alice'), undefined);
  assert.equal(s.getSession(new Uint8Array(32).fill(9), NOW), undefined);
  assert.equal(s.takeBundles('alice'), undefined);
  assert.equal(s.countOneTimePreKeys('alice', 1), 0);
  assert.deepEqual(s.pending({ user: 'alice', device: 1 }, 0, 10), []);
  assert.equal(s.queueDepth(), 0);
  assert.deepEqual(listUsers(s).map((u) => u.username), ['bob']);
  s.close();
});

test('deleting an account leaves no orphaned message bodies or key rows in the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-admin-'));
  try {
    const path = join(dir, 'relay.db');
    const s = openSqliteStore(path);
    s.createUser('alice', 'h', NOW);
    s.createUser('bob', 'h', NOW);
    s.touchDevice('alice', 1, NOW);
    s.touchDevice('bob', 1, NOW);
    s.addOneTimePreKeys('alice', 1, [{ id: 7, publicKey: new Uint8Array(32) }], 100);
    s.submitBatch([{ sender: { user: 'bob', device: 1 }, clientId: 'x', to: [{ user: 'alice', device: 1 }], body: new Uint8Array(10) }], NOW, LIMITS);
    s.close();
    const admin = openAdminStore(path);
    deleteUser(admin, 'alice');
    admin.close();
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

test("a name registered again after delete is not mistaken for the deleted account's resubmits", () => {
  const s = seeded();
  deleteUser(s, 'bob'); // bob sent m1 before he was deleted
  s.createUser('bob', '$argon2id$fake', NOW + 10);
  s.touchDevice('bob', 1, NOW + 10);
  const [r] = s.submitBatch([{ sender: { user: 'bob', device: 1 }, clientId: 'm1', to: [{ user: 'alice', device: 1 }], body: new Uint8Array([9]) }], NOW + 10, LIMITS);
  assert.ok(r?.ok && !r.duplicate, 'stored as a new message, not acked as a duplicate and dropped');
  assert.deepEqual(s.pending({ user: 'alice', device: 1 }, 0, 10).map((m) => [m.from.user, m.clientId, [...m.body]]), [['bob', 'm1', [1, 2, 3]], ['bob', 'm1', [9]]]);
  s.close();
});

test('refuses unknown accounts, invalid names and a database file that does not exist', () => {
  const s = seeded();
  assert.throws(() => banUser(s, 'carol', NOW), (e) => isRelayError(e, 'unknown_user'));
  assert.throws(() => unbanUser(s, 'carol'), (e) => isRelayError(e, 'unknown_user'));
  assert.throws(() => deleteUser(s, 'carol'), (e) => isRelayError(e, 'unknown_user'));
  assert.throws(() => banUser(s, "x'; DROP TABLE users; --", NOW), (e) => isRelayError(e, 'invalid_username'));
  assert.throws(() => normaliseUsername('ab'), (e) => isRelayError(e, 'invalid_username'));
  assert.equal(normaliseUsername('Alice_1'), 'alice_1');
  assert.throws(() => openAdminStore(join(tmpdir(), 'fastchat-no-such-dir', 'relay.db')), (e) => isRelayError(e, 'not_found'));
  s.close();
});
