// Unread messages. The state lives with the message: `unread` in messages and group_messages is the
// home's arrival number while the message has not been shown, 0 once it has (db.ts). It is set in
// the transaction that stores the message, and cleared only by the code that showed it, after the
// output was handed to the OS (inbox) or drawn (chat). So a crash between the relay's ack and the
// printing can repeat the one message being shown, never skip one.
import { listGroups, groupLabel, loadGroup } from './group-store.js';
import type { Client } from './context.js';
import { storedEntry, type StoredEntry, type StoredRow } from './history.js';

export interface UnreadMessage extends StoredEntry {
  table: 'messages' | 'group_messages';
  seq: number;
  unread: number; // arrival number
  from: string;
  group: { id: string; label: string } | null;
  identityChanged: boolean;
  /** A group message read within the old-epoch grace (group_messages.before_change). */
  beforeChange: boolean;
}

interface Row extends StoredRow {
  seq: number;
  unread: number;
  from_user: string;
  group_id: Buffer | null;
  identity_changed: number;
  before_change: number;
}

/**
 * Up to `limit` unread messages with an arrival number above `after`, across conversations, in the
 * order they arrived. Message requests, blocked users and group invitations not accepted are left
 * out: they are announced as one line each (client/core/requests.ts), not printed as messages.
 */
export function unreadAfter(c: Client, after: number, limit: number): UnreadMessage[] {
  const direct = c.db
    .prepare(
      `SELECT seq, unread, id, direction, peer AS from_user, NULL AS group_id, body, sent_at, received_at, relay_at, status, error, identity_changed, 0 AS before_change
       FROM messages WHERE unread > ? AND direction = 'in'
         AND peer NOT IN (SELECT username FROM peer_states WHERE state IN ('request', 'blocked'))
       ORDER BY unread LIMIT ?`,
    )
    .all(after, limit) as Row[];
  const group = c.db
    .prepare(
      `SELECT seq, unread, id, direction, sender AS from_user, group_id, body, sent_at, received_at, relay_at, status, error, 0 AS identity_changed, before_change
       FROM group_messages WHERE unread > ? AND direction = 'in'
         AND group_id NOT IN (SELECT group_id FROM group_invites)
         AND sender NOT IN (SELECT username FROM peer_states WHERE state = 'blocked')
       ORDER BY unread LIMIT ?`,
    )
    .all(after, limit) as Row[];
  const rows = [...direct.map((r) => ['messages', r] as const), ...group.map((r) => ['group_messages', r] as const)]
    .sort((a, b) => a[1].unread - b[1].unread)
    .slice(0, limit);
  const labels = new Map<string, { id: string; label: string } | null>();
  const labelFor = (groupId: Buffer): { id: string; label: string } | null => {
    const hex = Buffer.from(groupId).toString('hex');
    if (!labels.has(hex)) {
      const g = loadGroup(c, new Uint8Array(groupId));
      labels.set(hex, g ? { id: g.idHex, label: groupLabel(listGroups(c), g) } : { id: hex, label: hex.slice(0, 8) });
    }
    return labels.get(hex)!;
  };
  return rows.map(([table, r]) => ({
    ...(r.group_id ? storedEntry(c, r, 'group_message', [new Uint8Array(r.group_id), r.from_user, r.id]) : storedEntry(c, r, 'message', [r.from_user, r.direction, r.id])),
    table,
    seq: r.seq,
    unread: r.unread,
    from: r.from_user,
    group: r.group_id ? labelFor(r.group_id) : null,
    identityChanged: r.identity_changed === 1,
    beforeChange: r.before_change === 1,
  }));
}

export function markShown(c: Client, m: Pick<UnreadMessage, 'table' | 'seq'>): void {
  c.db.prepare(`UPDATE ${m.table === 'messages' ? 'messages' : 'group_messages'} SET unread = 0 WHERE seq = ?`).run(m.seq);
}

/** Marks one received message shown (chat drew it), by sender and id (and group, hex). */
export function markIncomingShown(c: Client, from: string, id: string, groupIdHex?: string): void {
  if (groupIdHex === undefined) c.db.prepare("UPDATE messages SET unread = 0 WHERE peer = ? AND direction = 'in' AND id = ? AND unread > 0").run(from, id);
  else c.db.prepare("UPDATE group_messages SET unread = 0 WHERE group_id = ? AND sender = ? AND direction = 'in' AND id = ? AND unread > 0").run(Buffer.from(groupIdHex, 'hex'), from, id);
}

/**
 * How many of a conversation's last messages reach back to its oldest unread one (0 if none is
 * unread): what chat shows on opening so nothing unread is skipped.
 */
export function rowsSinceOldestUnread(c: Client, conversation: { peer: string } | { groupId: Uint8Array }): number {
  const r =
    'peer' in conversation
      ? c.db.prepare('SELECT COUNT(*) AS n FROM messages WHERE peer = ? AND seq >= (SELECT MIN(seq) FROM messages WHERE peer = ? AND unread > 0)').get(conversation.peer, conversation.peer)
      : c.db
          .prepare('SELECT COUNT(*) AS n FROM group_messages WHERE group_id = ? AND seq >= (SELECT MIN(seq) FROM group_messages WHERE group_id = ? AND unread > 0)')
          .get(Buffer.from(conversation.groupId), Buffer.from(conversation.groupId));
  return (r as { n: number }).n;
}
