// The per-group hold limit (group-held.ts): counted by the group id bound as bytes, so a group held
// full drops its next item while another group's is still held.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { GROUP_HELD_PER_GROUP } from '../../crypto/consts.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { openTestStore } from '../../test/util/client-store.js';
import { makeSealer } from './at-rest.js';
import { expireHeld, holdItem } from './group-held.js';
import type { Pending } from './group-store.js';

before(() => sodiumReady());

function item(groupId: Uint8Array, i: number, receivedAt = '2026-01-01T00:00:00.000Z'): Omit<Pending, 'seq'> {
  // One item per sender, so only the per-group limit can be reached.
  return { groupId, kind: 'message', sender: `user${i}`, device: 1, epoch: 0, body: new Uint8Array([i & 255]), identity: null, clientId: `c${i}`, sentAt: receivedAt, receivedAt, fork: null };
}

test('a group holds at most GROUP_HELD_PER_GROUP items; another group is counted apart; expiry names each group by its id', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-held-'));
  const db = openTestStore(join(dir, 'store.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const c = { db, sealer: makeSealer(systemRandom()(32), systemRandom()) };
  // A view into a larger buffer, as a parsed frame hands it: only its 32 bytes are the id.
  const a = new Uint8Array(40).fill(1).subarray(4, 36);
  const b = new Uint8Array(32).fill(2);
  for (let i = 0; i < GROUP_HELD_PER_GROUP; i++) assert.equal(holdItem(c, item(a, i)), 'held', `item ${i}`);
  assert.equal(holdItem(c, item(a, GROUP_HELD_PER_GROUP)), 'dropped', 'the group is full');
  assert.equal(holdItem(c, item(b, GROUP_HELD_PER_GROUP + 1)), 'held', 'another group is not');
  const expired = expireHeld(c, Date.parse('2026-02-01T00:00:00.000Z'));
  assert.deepEqual(Object.fromEntries(expired), { ['01'.repeat(32)]: GROUP_HELD_PER_GROUP, ['02'.repeat(32)]: 1 });
});
