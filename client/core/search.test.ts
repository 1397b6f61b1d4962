import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGroup } from '../../crypto/group/index.js';
import { systemRandom } from '../../crypto/sodium.js';
import { openTestClient } from '../../test/util/client-store.js';
import { saveGroup } from './group-store.js';
import type { Client } from './context.js';
import { searchHistory, SEARCH_MAX_QUERY_CHARS } from './search.js';

/** A pairwise message stored as the core stores it: the body sealed under its own row. */
function put(c: Client, id: string, peer: string, direction: 'in' | 'out', text: string, at: string): void {
  const body = c.sealer.seal('message', [peer, direction, id], new TextEncoder().encode(text));
  c.db.prepare('INSERT INTO messages (id, peer, direction, body, sent_at, received_at, status) VALUES (?, ?, ?, ?, ?, ?, ?)').run(id, peer, direction, Buffer.from(body), at, direction === 'in' ? at : null, direction === 'in' ? 'received' : 'sent');
}

test('search opens the sealed bodies and finds a word in any case, the newest first, and not a message without it', async (t) => {
  const { client: c, cleanup } = await openTestClient('fastchat-search-');
  t.after(cleanup);
  put(c, 'm1', 'bob', 'out', 'Lunch at the harbour?', '2026-01-01T10:00:00.000Z');
  put(c, 'm2', 'bob', 'in', 'the HARBOUR is closed on mondays', '2026-01-01T10:01:00.000Z');
  put(c, 'm3', 'carol', 'in', 'see you at the station', '2026-01-01T10:02:00.000Z');

  // The text is sealed: SQL alone cannot find it.
  assert.equal((c.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE CAST(body AS TEXT) LIKE '%harbour%'").get() as { n: number }).n, 0);

  const hits = searchHistory(c, 'Harbour');
  assert.deepEqual(
    hits.map((h) => [h.label, h.from, h.direction, h.text]),
    [
      ['@bob', 'bob', 'in', 'the HARBOUR is closed on mondays'],
      ['@bob', 'alice', 'out', 'Lunch at the harbour?'],
    ],
  );
  assert.deepEqual(hits[0]!.ref, { kind: 'user', peer: 'bob' });
  assert.deepEqual(searchHistory(c, 'station').map((h) => h.id), ['m3']);
  assert.deepEqual(searchHistory(c, 'airport'), []);
  assert.equal(searchHistory(c, 'the', 1).length, 1, 'the limit holds');
});

test('search leaves out message requests and blocked users, as the conversation list does, and a body that does not open', async (t) => {
  const { client: c, cleanup } = await openTestClient('fastchat-search-');
  t.after(cleanup);
  put(c, 'm1', 'mallory', 'in', 'secret plan from a stranger', '2026-01-01T10:00:00.000Z');
  c.db.prepare("INSERT INTO peer_states (username, state, since) VALUES ('mallory', 'request', 0)").run();
  put(c, 'm2', 'bob', 'in', 'secret plan from bob', '2026-01-01T10:01:00.000Z');
  // A body moved from another row does not open under this one: never shown, never matched.
  const moved = (c.db.prepare("SELECT body FROM messages WHERE id = 'm2'").get() as { body: Buffer }).body;
  c.db.prepare("INSERT INTO messages (id, peer, direction, body, sent_at, status) VALUES ('m3', 'bob', 'in', ?, '2026-01-01T10:02:00.000Z', 'received')").run(moved);

  assert.deepEqual(searchHistory(c, 'secret plan').map((h) => h.id), ['m2']);
});

/** A group of alice's, named `name`, with one message of `sender` in it, sealed as group-receive.ts seals it. */
function groupWith(c: Client, name: string, sender: string, text: string): Uint8Array {
  const { state } = createGroup({ user: 'alice', identity: c.secrets.identity }, name, [], systemRandom());
  saveGroup(c, state, 'active', 1);
  const body = c.sealer.seal('group_message', [state.groupId, sender, 'g1'], new TextEncoder().encode(text));
  c.db.prepare("INSERT INTO group_messages (group_id, id, sender, direction, body, sent_at, received_at, status) VALUES (?, 'g1', ?, 'in', ?, '2026-01-01T10:00:00.000Z', '2026-01-01T10:00:00.000Z', 'received')").run(Buffer.from(state.groupId), sender, Buffer.from(body));
  return state.groupId;
}

test('search finds group messages under the group label and sender, and leaves out a group invitation not accepted', async (t) => {
  const { client: c, cleanup } = await openTestClient('fastchat-search-');
  t.after(cleanup);
  const team = groupWith(c, 'team', 'bob', 'harbour plans for the team');
  const invite = groupWith(c, 'strangers', 'mallory', 'harbour plans from strangers');
  c.db.prepare("INSERT INTO group_invites (group_id, inviter, at) VALUES (?, 'mallory', 0)").run(Buffer.from(invite));
  const hits = searchHistory(c, 'harbour');
  assert.deepEqual(hits.map((h) => [h.label, h.from, h.text]), [['#team', 'bob', 'harbour plans for the team']]);
  assert.deepEqual(hits[0]!.ref, { kind: 'group', idHex: Buffer.from(team).toString('hex') });
});

test('an empty or overlong search is refused with bad_query', async (t) => {
  const { client: c, cleanup } = await openTestClient('fastchat-search-');
  t.after(cleanup);
  assert.throws(() => searchHistory(c, '   '), { code: 'bad_query' });
  assert.throws(() => searchHistory(c, 'x'.repeat(SEARCH_MAX_QUERY_CHARS + 1)), { code: 'bad_query' });
  assert.deepEqual(searchHistory(c, 'x'.repeat(SEARCH_MAX_QUERY_CHARS)), []);
});
