import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { afterCommit, tx } from './db.js';
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
