// Issue 16's group run in a size CI affords: real client cores through a real relay process whose
// group-traffic limits are the defaults (test/util/relay-group-run.ts; the 1,000-member run is
// `npm run bench -- --only groups`). Each change costs the admin one upload per member, a first
// message one key per member plus one fan-out, and the removed member reads nothing sent after.
// 210 members: the admin, who has a session with nobody, fetches 209 bundles, more than the
// per-requester burst of 200 the relay had before it became one group of the largest size (with
// it the create fails with rate_limited). About 25 s of CPU: 35-80 s on two shared cores.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { relayGroupRun } from './util/relay-group-run.js';

test('a group of 210 through a relay at its default limits: create, a first message, a removal and a message after it each cost O(N) uploads, every member reads, the removed one does not', { timeout: 240_000 }, async (t) => {
  const n = 210;
  const r = await relayGroupRun(n, { deadlineMs: 200_000, log: (s) => t.diagnostic(s) });
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.create.uploads, n - 1, 'the create: the record to each member');
  assert.equal(r.firstMessage.uploads, n - 1 + 1, 'the first message: its key to each other member, then the message once');
  assert.equal(r.firstMessage.readBy, n - 1);
  assert.equal(r.removal.uploads, n - 1, 'the removal: to the members who stay and the one removed');
  assert.equal(r.afterRemoval.uploads, n - 2 + 1, 'after the removal: a new key to each remaining member, then the message once');
  assert.equal(r.afterRemoval.readBy, n - 2);
  assert.equal(r.afterRemoval.readByRemoved, false);
});
