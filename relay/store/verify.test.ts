// The start-up checks on real files: each fault is made the way it happens on a disk (a -wal cut
// short, bytes flipped, a file emptied, a page overwritten, a file swapped) from the image a crash
// leaves behind (the files copied while the store is open and nothing was checkpointed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DatabaseLock } from './lock.js';
import { MarkWriter, writeMarkNow } from './mark.js';
import { openSqliteStore } from './sqlite.js';
import { inspectDatabase } from './verify.js';

const LIMITS = { maxMessages: 1000, maxBytes: 1 << 24, ttlMs: 60_000 };

/** A relay database with accounts and queued messages, as a kill -9 leaves it: db + -wal + mark. */
function crashImage(t: { after(fn: () => void): void }): { dir: string; db: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-verify-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const live = join(dir, 'live.db');
  let mark: MarkWriter | null = null;
  const s = openSqliteStore(live, { onCommit: (n) => mark?.write(n) });
  writeMarkNow(live, { relayId: s.relayId, commits: s.commits() });
  mark = new MarkWriter(live, s.relayId);
  for (const u of ['alice', 'bob']) {
    s.createUser(u, '$argon2id$x', 0);
    s.touchDevice(u, 1, 0);
  }
  for (let i = 0; i < 40; i++) {
    s.submitBatch([{ sender: { user: 'alice', device: 1 }, clientId: `m${i}`, to: [{ user: 'bob', device: 1 }], body: new Uint8Array(300).fill(i) }], 1000 + i, LIMITS);
  }
  const db = join(dir, 'relay.db');
  for (const suffix of ['', '-wal', '-hwm']) copyFileSync(live + suffix, db + suffix);
  mark.close();
  s.close();
  return { dir, db };
}

test('an intact crash image is servable, and checking it leaves its -wal as it was', (t) => {
  const { db } = crashImage(t);
  const wal = readFileSync(`${db}-wal`);
  const r = inspectDatabase(db, 'full');
  assert.equal(r.refusal, null);
  assert.equal(r.integrity?.ok, true);
  assert.equal(r.meta!.commits, (r.mark as { commits: number }).commits);
  assert.deepEqual(readFileSync(`${db}-wal`), wal, 'the -wal was neither checkpointed nor removed');
});

test('a -wal cut short is refused: committed transactions are missing', (t) => {
  const { db } = crashImage(t);
  truncateSync(`${db}-wal`, Math.floor(statSync(`${db}-wal`).size / 2));
  const r = inspectDatabase(db, 'quick');
  assert.equal(r.refusal?.code, 'database_rolled_back');
  assert.ok(r.missingCommits > 0);
  assert.match(r.refusal!.message, /missing committed write transactions/);
});

test('a -wal with a few bytes flipped is refused (SQLite drops every frame from the bad one)', (t) => {
  const { db } = crashImage(t);
  const wal = readFileSync(`${db}-wal`);
  for (let i = 0; i < 3; i++) wal.writeUInt8(wal.readUInt8(Math.floor(wal.length * 0.6) + i) ^ 0xff, Math.floor(wal.length * 0.6) + i);
  writeFileSync(`${db}-wal`, wal);
  assert.equal(inspectDatabase(db, 'quick').refusal?.code, 'database_rolled_back');
});

test('an emptied -wal is refused, even when the main file never had the relay id', (t) => {
  const { db } = crashImage(t);
  truncateSync(`${db}-wal`, 0);
  const r = inspectDatabase(db, 'quick');
  assert.equal(r.refusal?.code, 'database_rolled_back');
  assert.equal(r.meta, null);
});

test('a damaged page in the main file is refused by quick_check', (t) => {
  const { db } = crashImage(t);
  // Checkpoint the -wal into the main file first, so the damage is in pages the relay reads.
  const c = new Database(db);
  c.pragma('wal_checkpoint(TRUNCATE)');
  c.close();
  // The b-tree header of the last page (queue data): nothing but the check reads it at start.
  const file = readFileSync(db);
  file.fill(0xff, file.length - 4096, file.length - 4096 + 8);
  writeFileSync(db, file);
  const r = inspectDatabase(db, 'quick');
  assert.equal(r.refusal?.code, 'database_corrupt');
  assert.match(r.refusal!.message, /failed its integrity check/);
});

test('a missing database where a relay ran, and another relay database in its place, are refused', (t) => {
  const { dir, db } = crashImage(t);
  rmSync(db);
  rmSync(`${db}-wal`);
  assert.equal(inspectDatabase(db, 'quick').refusal?.code, 'database_missing');
  const other = openSqliteStore(db);
  other.close();
  assert.equal(inspectDatabase(db, 'quick').refusal?.code, 'database_replaced');
  assert.equal(inspectDatabase(join(dir, 'new.db'), 'quick').refusal, null, 'a new relay with no mark starts');
});

test('a second lock on one database is refused until the first is released', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  const first = DatabaseLock.take(db);
  assert.throws(() => DatabaseLock.take(db), (e: { code?: string; message?: string }) => e.code === 'database_locked' && /another relay is already running on/.test(e.message ?? ''));
  first.release();
  DatabaseLock.take(db).release();
});
