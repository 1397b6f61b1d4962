import { test } from 'node:test';
import assert from 'node:assert/strict';
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
