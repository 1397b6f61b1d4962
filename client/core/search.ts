// Search in the local history. Message bodies are sealed at rest under the storage key
// (at-rest.ts), so SQL cannot match them: every row of the conversations a user sees is opened and
// its text compared here, in the process that holds the key. The page searches with it; nothing of
// the query or the text leaves the device.
//
// What is searched is what listConversations shows: message requests, blocked users and group
// invitations not yet accepted are left out, as they are from the conversation list.
import { CliError } from '../errors.js';
import type { Client } from './context.js';
import type { ConversationRef } from './conversations.js';
import { groupLabel, listGroups } from './group-store.js';
import { storedEntry, type StoredEntry, type StoredRow } from './history.js';
import { hiddenPeers, invitedGroups } from './requests.js';

/** A query longer than this is refused: no one types it, and every row is compared against it. */
export const SEARCH_MAX_QUERY_CHARS = 200;
/** At most this many matches, the newest first: a list to pick from, not an export. */
export const SEARCH_MAX_RESULTS = 50;

export interface SearchHit extends StoredEntry {
  ref: ConversationRef;
  /** `@bob` or `#group`, as the conversation list labels it. */
  label: string;
  /** The sender (for 'out': us). */
  from: string;
  text: string;
}

/** Case and width insensitive: "Café" matches "CAFÉ" and "ｃａｆｅ́" alike. */
function fold(s: string): string {
  return s.normalize('NFKC').toLocaleLowerCase();
}

/** The query as compared: trimmed, not empty, at most SEARCH_MAX_QUERY_CHARS. */
export function checkSearchQuery(query: string): string {
  const q = query.trim();
  if (q.length === 0) throw new CliError('bad_query', 'the search is empty: type a word to look for');
  if ([...q].length > SEARCH_MAX_QUERY_CHARS) throw new CliError('bad_query', `the search is longer than ${SEARCH_MAX_QUERY_CHARS} characters`);
  return q;
}

/**
 * Messages whose text holds `query` (case-insensitive), the newest first, at most `limit`. Cost:
 * one AEAD open per stored message of every shown conversation (a few µs each).
 */
export function searchHistory(c: Client, query: string, limit = SEARCH_MAX_RESULTS): SearchHit[] {
  const needle = fold(checkSearchQuery(query));
  const me = c.config.username ?? '';
  const hidden = hiddenPeers(c);
  const invited = invitedGroups(c);
  const hits: (SearchHit & { at: string })[] = [];
  const keep = (e: StoredEntry, ref: ConversationRef, label: string, from: string): void => {
    if (e.text === null || !fold(e.text).includes(needle)) return;
    hits.push({ ...e, text: e.text, ref, label, from, at: e.direction === 'in' ? (e.receivedAt ?? e.sentAt) : e.sentAt });
  };

  const direct = c.db.prepare('SELECT id, peer, direction, body, sent_at, received_at, relay_at, status, error FROM messages ORDER BY seq').all() as (StoredRow & { peer: string })[];
  for (const r of direct) {
    if (hidden.has(r.peer)) continue;
    keep(storedEntry(c, r, 'message', [r.peer, r.direction, r.id]), { kind: 'user', peer: r.peer }, `@${r.peer}`, r.direction === 'out' ? me : r.peer);
  }

  const groups = listGroups(c);
  for (const g of groups) {
    if (invited.has(g.idHex)) continue;
    const id = g.groupId;
    const rows = c.db.prepare('SELECT id, sender, direction, body, sent_at, received_at, relay_at, status, error FROM group_messages WHERE group_id = ? ORDER BY seq').all(id) as (StoredRow & { sender: string })[];
    const label = `#${groupLabel(groups, g)}`;
    for (const r of rows) keep(storedEntry(c, r, 'group_message', [id, r.sender, r.id]), { kind: 'group', idHex: g.idHex }, label, r.sender);
  }

  // Newest first; the sort is stable, so rows at the same instant keep their stored order.
  return hits
    .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))
    .slice(0, limit)
    .map(({ at: _, ...h }) => h);
}
