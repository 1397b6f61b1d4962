// Issue 16: a membership change once cost every member a new sender key to every other member
// (N² pairwise messages). Now the admin's records are all a change costs, and a member's first
// message on the new state costs its key to the members who lack it (docs/PROTOCOL.md G.5).
// `node dist/scripts/group-cost.js 10 50` prints the counts for other sizes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changeCosts } from './util/group-cost.js';

test('a membership change costs the admin one record per member and nobody else anything; a first message costs its key per member and one upload', async (t) => {
  const n = 10;
  const costs = await changeCosts(n);
  t.diagnostic(`n=${n}: ${JSON.stringify(costs)}`);
  // Members after each change: n (create), n + 1 (add), n + 1 (rename), n (remove, the removed one told too).
  assert.deepEqual(costs.create, { pairwise: n - 1, group: 0 });
  assert.deepEqual(costs.add, { pairwise: n, group: 0 }, 'the add: its record to the n - 1 members, the whole chain to the newcomer');
  assert.deepEqual(costs.rename, { pairwise: n, group: 0 });
  assert.deepEqual(costs.remove, { pairwise: n, group: 0 }, 'the removal: to the n - 1 who stay and the one removed');
  // The second member has not spoken yet: its key goes to the n - 1 other members, then the message once.
  assert.deepEqual(costs.firstMessage, { pairwise: n - 1, group: 1 });
});
