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
