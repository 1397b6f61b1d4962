// Conversations: one per peer (messages) and one per group (group_messages), read from the store.
// The store is what every fastchat process of a home shares, so a chat window shows what any of
// them stored — the relay connection's owner, another window, `send` in another terminal — by
// reading the rows after the last one it showed.
import { toHex } from '../../crypto/encoding.js';
import type { Client } from './context.js';
import type { SqlValue } from './platform/sql.js';
import { groupLabel, listGroups, type StoredGroup } from './group-store.js';
import { storedEntry, type StoredEntry, type StoredRow } from './history.js';
import { hiddenPeers, invitedGroups } from './requests.js';

export type ConversationRef = { kind: 'user'; peer: string } | { kind: 'group'; idHex: string };

export interface ConversationRow extends StoredEntry {
  seq: number;
  from: string; // the sender (for 'out': us)
  identityChanged: boolean;
  /** A group message sent at an epoch that had ended when it arrived (group-receive.ts). */
  beforeChange: boolean;
}

interface Row extends StoredRow {
  seq: number;
  from_user: string;
  identity_changed: number;
  before_change: number;
}

function read(c: Client, conv: ConversationRef, where: string, args: SqlValue[], order: 'ASC' | 'DESC', limit: number): ConversationRow[] {
  const rows =
    conv.kind === 'user'
      ? (c.db
          .prepare(`SELECT seq, id, direction, peer AS from_user, body, sent_at, received_at, relay_at, status, error, identity_changed, 0 AS before_change FROM messages WHERE peer = ? AND ${where} ORDER BY seq ${order} LIMIT ?`)
          .all(conv.peer, ...args, limit) as Row[])
      : (c.db
          .prepare(`SELECT seq, id, direction, sender AS from_user, body, sent_at, received_at, relay_at, status, error, 0 AS identity_changed, before_change FROM group_messages WHERE group_id = ? AND ${where} ORDER BY seq ${order} LIMIT ?`)
          .all(Buffer.from(conv.idHex, 'hex'), ...args, limit) as Row[]);
  if (order === 'DESC') rows.reverse();
  const me = c.config.username ?? '';
  return rows.map((r) => ({
    ...(conv.kind === 'user'
      ? storedEntry(c, r, 'message', [r.from_user, r.direction, r.id])
      : storedEntry(c, r, 'group_message', [Buffer.from(conv.idHex, 'hex'), r.from_user, r.id])),
    seq: r.seq,
    from: conv.kind === 'user' && r.direction === 'out' ? me : r.from_user,
    identityChanged: r.identity_changed === 1,
    beforeChange: r.before_change === 1,
  }));
}

/** Every row of a conversation, oldest first (a request is bounded: client/core/requests.ts). */
export function conversationRowsOf(c: Client, conv: ConversationRef): ConversationRow[] {
  return read(c, conv, '1', [], 'ASC', 1_000_000);
}

/** Rows stored after `seq`, oldest first (at most `limit`). */
export function rowsAfter(c: Client, conv: ConversationRef, seq: number, limit: number): ConversationRow[] {
  return read(c, conv, 'seq > ?', [seq], 'ASC', limit);
}

/** The last `n` rows, or back to the oldest unread one if that is further: what chat shows on opening. */
export function openingRows(c: Client, conv: ConversationRef, n: number): ConversationRow[] {
  const oldestUnread = (
    conv.kind === 'user'
      ? c.db.prepare('SELECT MIN(seq) AS s FROM messages WHERE peer = ? AND unread > 0').get(conv.peer)
      : c.db.prepare('SELECT MIN(seq) AS s FROM group_messages WHERE group_id = ? AND unread > 0').get(Buffer.from(conv.idHex, 'hex'))
  ) as { s: number | null };
  const last = read(c, conv, '1', [], 'DESC', n);
  if (oldestUnread.s === null || (last.length > 0 && last[0]!.seq <= oldestUnread.s)) return last;
  return read(c, conv, 'seq >= ?', [oldestUnread.s], 'ASC', 1_000_000);
}

/** Our message's state: queued, sent, delivered, read or failed (with the reason). */
export function ownState(c: Client, conv: ConversationRef, id: string): { status: string; error: string | null } | undefined {
  return (
    conv.kind === 'user'
      ? c.db.prepare("SELECT status, error FROM messages WHERE peer = ? AND direction = 'out' AND id = ?").get(conv.peer, id)
      : c.db.prepare("SELECT status, error FROM group_messages WHERE group_id = ? AND direction = 'out' AND id = ?").get(Buffer.from(conv.idHex, 'hex'), id)
  ) as { status: string; error: string | null } | undefined;
}

export interface ConversationSummary {
  /** `@bob`, or the group's label with its `#`. */
  label: string;
  ref: ConversationRef;
  unread: number;
  last: { from: string; direction: 'in' | 'out'; text: string | null; at: string; status: string } | null;
}

function groupLabels(c: Client): Map<string, { g: StoredGroup; label: string }> {
  const all = listGroups(c);
  return new Map(all.map((g) => [g.idHex, { g, label: groupLabel(all, g) }]));
}

/**
 * Unread messages per conversation, leaving out message requests, blocked users and group
 * invitations not yet accepted (client/core/requests.ts): those are counted apart.
 */
export function unreadCounts(c: Client): { label: string; ref: ConversationRef; n: number }[] {
  const hidden = hiddenPeers(c);
  const invited = invitedGroups(c);
  const out: { label: string; ref: ConversationRef; n: number }[] = [];
  for (const r of c.db.prepare("SELECT peer, COUNT(*) AS n FROM messages WHERE unread > 0 AND direction = 'in' GROUP BY peer").all() as { peer: string; n: number }[]) {
    if (!hidden.has(r.peer)) out.push({ label: `@${r.peer}`, ref: { kind: 'user', peer: r.peer }, n: r.n });
  }
  const groups = c.db.prepare("SELECT group_id, COUNT(*) AS n FROM group_messages WHERE unread > 0 AND direction = 'in' GROUP BY group_id").all() as { group_id: Uint8Array; n: number }[];
  if (groups.length > 0) {
    const labels = groupLabels(c);
    for (const r of groups) {
      const hex = toHex(r.group_id);
      if (invited.has(hex)) continue;
      out.push({ label: `#${labels.get(hex)?.label ?? hex.slice(0, 8)}`, ref: { kind: 'group', idHex: hex }, n: r.n });
    }
  }
  return out;
}

/** Every conversation with its unread count and last message, the most recent first. */
export function listConversations(c: Client): ConversationSummary[] {
  const hidden = hiddenPeers(c);
  const invited = invitedGroups(c);
  const unread = new Map(unreadCounts(c).map((u) => [u.ref.kind === 'user' ? `@${u.ref.peer}` : `#${u.ref.idHex}`, u.n]));
  const out: (ConversationSummary & { lastSeq: number })[] = [];
  const peers = c.db.prepare('SELECT peer, MAX(seq) AS seq FROM messages GROUP BY peer').all() as { peer: string; seq: number }[];
  for (const p of peers) {
    if (hidden.has(p.peer)) continue;
    const ref: ConversationRef = { kind: 'user', peer: p.peer };
    out.push({ label: `@${p.peer}`, ref, unread: unread.get(`@${p.peer}`) ?? 0, last: lastOf(c, ref), lastSeq: p.seq });
  }
  for (const { g, label } of groupLabels(c).values()) {
    if (invited.has(g.idHex)) continue;
    const ref: ConversationRef = { kind: 'group', idHex: g.idHex };
    const seq = (c.db.prepare('SELECT MAX(seq) AS s FROM group_messages WHERE group_id = ?').get(Buffer.from(g.groupId)) as { s: number | null }).s;
    out.push({ label: `#${label}`, ref, unread: unread.get(`#${g.idHex}`) ?? 0, last: lastOf(c, ref), lastSeq: seq ?? 0 });
  }
  // Groups and peers number their rows apart, so order by the time of the last message.
  const at = (s: ConversationSummary): string => s.last?.at ?? '';
  return out.sort((a, b) => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : b.lastSeq - a.lastSeq)).map(({ lastSeq: _, ...s }) => s);
}

function lastOf(c: Client, ref: ConversationRef): ConversationSummary['last'] {
  const r = read(c, ref, '1', [], 'DESC', 1)[0];
  if (!r) return null;
  return { from: r.from, direction: r.direction, text: r.text, at: r.direction === 'in' ? (r.receivedAt ?? r.sentAt) : r.sentAt, status: r.status };
}
