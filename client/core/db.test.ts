import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { afterCommit, tx, withPageReads } from './db.js';
import type { Client } from './context.js';
import { block, standing, unblock } from './requests.js';
import { openTestStore as openDb } from '../../test/util/client-store.js';

test('a savepoint that rolls back drops the after-commit hooks it registered and keeps the earlier ones', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-db-'));
  const db = openDb(join(dir, 'store.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ran: string[] = [];
  tx(db, () => {
    afterCommit(db, 'store-generation', () => ran.push('generation 1'));
    // A frame of a page (client/core/incoming.ts) that saved the manifest, then failed.
    assert.throws(() =>
      tx(db, () => {
        afterCommit(db, 'store-generation', () => ran.push('generation 2, rolled back'));
        throw new Error('store failure');
      }),
    );
  });
  assert.deepEqual(ran, ['generation 1']);
});

test("asking whether a message still has outbox rows is an index search, not a scan of the outbox", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-db-'));
  const db = openDb(join(dir, 'store.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // outbox.ts markSentIfDone, once per acknowledged send: a scan made a burst of sends quadratic.
  const plan = db.prepare("EXPLAIN QUERY PLAN SELECT COUNT(*) AS n FROM outbox WHERE peer = ? AND message_id = ? AND kind = 'text'").all('bob', 'x') as { detail: string }[];
  assert.match(plan.map((p) => p.detail).join('\n'), /SEARCH outbox USING INDEX outbox_peer_message/);
});

test("a page reads a sender's standing once, again after a write changed it, and as it was once a savepoint that changed it rolls back", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-db-'));
  const db = openDb(join(dir, 'store.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const c = { db, now: () => 1 } as unknown as Client;
  // Each standing() read prepares its statement (a cached one): counting those counts the reads.
  let reads = 0;
  const prepare = db.prepare.bind(db);
  db.prepare = (sql: string) => {
    if (sql.startsWith('SELECT state FROM peer_states')) reads++;
    return prepare(sql);
  };
  tx(db, () =>
    withPageReads(db, () => {
      assert.equal(standing(c, 'mallory'), undefined);
      block(c, 'mallory');
      // Kept across the write, it would still say "never seen": a blocked user's message shown.
      assert.equal(standing(c, 'mallory'), 'blocked');
      assert.equal(standing(c, 'mallory'), 'blocked');
      assert.equal(reads, 2, 'read once before the block and once after it');
      // A frame that unblocks, reads the new standing, then fails to store: its savepoint rolls back.
      assert.throws(() =>
        tx(db, () => {
          unblock(c, 'mallory');
          assert.equal(standing(c, 'mallory'), 'request');
          throw new Error('store failure');
        }),
      );
      // Kept past the rollback, it would say "request" while the store says blocked.
      assert.equal(standing(c, 'mallory'), 'blocked');
    }),
  );
  assert.equal(standing(c, 'mallory'), 'blocked');
});
