// Message requests and blocking. Anyone with an account can send to anyone, so what a stranger
// sends first is a *request*: stored (within a bound), never printed as messages by inbox or chat,
// answered with no receipt, its files not fetched, until the user accepts it (`fastchat requests
// accept @user`, or by writing to them). A group invitation from someone not accepted waits the
// same way. A blocked user's messages are not stored at all, and the relay is told to stop queueing
// them (it learns the block list: docs/THREAT_MODEL.md).
//
// The standing of each peer is a row of peer_states: accepted, request or blocked. No row means
// never seen: the first message makes it a request.
import { toHex } from '../../crypto/encoding.js';
import type { Client } from './context.js';
import { forgetPageReads, nextArrival, pageRead, tx, type DB } from './db.js';
import type { IncomingFile } from './files/store.js';
import { queueReceipt } from './outbox.js';
import { CliError } from '../errors.js';
import { labelOf, resolveGroup } from './groups.js';

export type Standing = 'accepted' | 'request' | 'blocked';

/**
 * What a stranger's messages may take on this disk before the user accepts them: their text (as
 * sealed in the store) and their number. A request is for deciding who someone is, which a few
 * messages do; beyond this they are not kept (counted, and the count is shown with the request).
 */
export const REQUEST_MAX_BYTES = 64 * 1024;
export const REQUEST_MAX_MESSAGES = 20;
/**
 * All requests together: many stranger accounts (one each per registration the relay allows) could
 * otherwise multiply the bound above. Past it, new strangers' messages are counted, not kept.
 */
export const REQUESTS_TOTAL_MAX_BYTES = 1024 * 1024;
/** A file from someone not accepted (a group member you never wrote to) is fetched only up to this size. */
export const STRANGER_FILE_MAX_BYTES = 1024 * 1024;
/** How many messages of a group invitation not yet accepted are kept (the rest are counted). */
export const INVITE_MAX_MESSAGES = 20;

/** FASTCHAT_REQUESTS=off: take every first contact as accepted (a bot that answers anyone). */
export function requestsOn(): boolean {
  return process.env.FASTCHAT_REQUESTS !== 'off';
}

export function standing(c: { db: DB }, user: string): Standing | undefined {
  // Once per page and sender (db.ts pageRead): every write of a state below forgets it.
  return pageRead(c.db, 'standing', user, () => (c.db.prepare('SELECT state FROM peer_states WHERE username = ?').get(user) as { state: Standing } | undefined)?.state);
}

/** Users whose messages are not shown as conversations: pending requests and blocked users. */
export function hiddenPeers(c: { db: DB }): Set<string> {
  return new Set((c.db.prepare("SELECT username FROM peer_states WHERE state IN ('request', 'blocked')").all() as { username: string }[]).map((r) => r.username));
}

export function blockedUsers(c: { db: DB }): string[] {
  return (c.db.prepare("SELECT username FROM peer_states WHERE state = 'blocked' ORDER BY username").all() as { username: string }[]).map((r) => r.username);
}

/** Whether the group (hex id) is an invitation not yet accepted: once per page and group (db.ts pageRead). */
export function isInvitedGroup(c: { db: DB }, groupIdHex: string): boolean {
  return pageRead(c.db, 'invited', groupIdHex, () => c.db.prepare('SELECT 1 FROM group_invites WHERE group_id = ?').get(Buffer.from(groupIdHex, 'hex')) !== undefined);
}

/** Group ids (hex) of invitations not yet accepted. */
export function invitedGroups(c: { db: DB }): Set<string> {
  // toHex, not Buffer's toString: under sql.js (the page) a blob is a plain Uint8Array.
  return new Set((c.db.prepare('SELECT group_id FROM group_invites').all() as { group_id: Uint8Array }[]).map((r) => toHex(r.group_id)));
}

function setStanding(c: { db: DB }, user: string, state: Standing, now: number, relay: 'block' | 'unblock' | null = null): void {
  c.db
    .prepare(
      `INSERT INTO peer_states (username, state, since, relay_pending) VALUES (?, ?, ?, ?)
       ON CONFLICT (username) DO UPDATE SET state = excluded.state, since = excluded.since,
         relay_pending = COALESCE(excluded.relay_pending, peer_states.relay_pending)`,
    )
    .run(user, state, now, relay);
  forgetPageReads(c.db, 'standing', user);
}

/**
 * We wrote to `user` (or opened a group with them): they are accepted. A pending request is
 * accepted with it, as when answering it. A block stays until `unblock`.
 */
export function markAccepted(c: Client, user: string): void {
  const s = standing(c, user);
  if (s === 'accepted' || s === 'blocked') return;
  if (s === 'request') return acceptRequest(c, user);
  setStanding(c, user, 'accepted', c.now());
  showWaitingFilesAgain(c, user);
}

/** markAccepted for each (users we added to a group), one transaction. */
export function acceptUsers(c: Client, users: string[]): void {
  tx(c.db, () => {
    for (const u of users) markAccepted(c, u);
  });
}

/**
 * Decides about a text or file message from `user` before it is stored (inside the transaction
 * that stores it): 'show' (accepted), 'request' (keep it as a request), 'drop' (blocked, or a
 * request past its bound: counted, not kept).
 */
export function admitMessage(c: Client, user: string, body: Uint8Array): 'show' | 'request' | 'drop' {
  const s = standing(c, user);
  if (s === 'blocked') return 'drop';
  if (s === 'accepted') return 'show';
  if (!requestsOn()) {
    setStanding(c, user, 'accepted', c.now());
    return 'show';
  }
  const mine = c.db.prepare("SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS bytes FROM messages WHERE peer = ? AND direction = 'in'").get(user) as { n: number; bytes: number };
  const all = c.db
    .prepare("SELECT COALESCE(SUM(LENGTH(m.body)), 0) AS bytes FROM messages m JOIN peer_states p ON p.username = m.peer WHERE p.state = 'request' AND m.direction = 'in'")
    .get() as { bytes: number };
  if (s === undefined) setStanding(c, user, 'request', c.now());
  if (mine.n + 1 > REQUEST_MAX_MESSAGES || mine.bytes + body.length > REQUEST_MAX_BYTES || all.bytes + body.length > REQUESTS_TOTAL_MAX_BYTES) {
    c.db.prepare('UPDATE peer_states SET dropped = dropped + 1 WHERE username = ?').run(user);
    return 'drop';
  }
  return 'request';
}

/** Accepting a request: its messages become ordinary unread ones, and receipts go out for them. */
export function acceptRequest(c: Client, user: string): void {
  setStanding(c, user, 'accepted', c.now());
  const rows = c.db.prepare("SELECT id, identity_changed FROM messages WHERE peer = ? AND direction = 'in' AND status = 'received'").all(user) as { id: string; identity_changed: number }[];
  for (const r of rows) if (r.identity_changed === 0) queueReceipt(c, user, r.id);
  // …and read receipts once shown, as for a contact's messages (read-receipts.ts).
  c.db.prepare("UPDATE messages SET read_owed = 1 WHERE peer = ? AND direction = 'in' AND status = 'received' AND identity_changed = 0").run(user);
  c.db.prepare('UPDATE peer_states SET dropped = 0 WHERE username = ?').run(user);
  showWaitingFilesAgain(c, user);
}

/**
 * Files of `user` that waited for a yes are fetched from now on; each file message (direct or in
 * a group) becomes unread again, so inbox prints it once its file is saved, with where.
 */
function showWaitingFilesAgain(c: Client, user: string): void {
  if (!c.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'incoming_files'").get()) return;
  const files = c.db.prepare("SELECT message_id, group_id FROM incoming_files WHERE sender = ? AND status = 'pending'").all(user) as { message_id: string; group_id: Buffer | null }[];
  for (const f of files) {
    if (f.group_id === null) c.db.prepare("UPDATE messages SET unread = ? WHERE peer = ? AND direction = 'in' AND id = ?").run(nextArrival(c.db), user, f.message_id);
    else c.db.prepare("UPDATE group_messages SET unread = ? WHERE group_id = ? AND sender = ? AND direction = 'in' AND id = ?").run(nextArrival(c.db), f.group_id, user, f.message_id);
  }
}

/** Blocks `user`: nothing more of theirs is stored or shown, and the relay is told (syncBlocks). */
export function block(c: Client, user: string): void {
  setStanding(c, user, 'blocked', c.now(), 'block');
  c.db.prepare("UPDATE messages SET unread = 0 WHERE peer = ? AND direction = 'in'").run(user);
  c.db.prepare("UPDATE group_messages SET unread = 0 WHERE sender = ? AND direction = 'in'").run(user);
  // Invitations from them are declined with the block: their groups stay hidden.
}

/** Unblocks `user`: they are a stranger again (their next message is a request). */
export function unblock(c: Client, user: string): boolean {
  if (standing(c, user) !== 'blocked') return false;
  c.db.prepare("UPDATE peer_states SET state = 'request', since = ?, relay_pending = 'unblock', dropped = 0 WHERE username = ?").run(c.now(), user);
  forgetPageReads(c.db, 'standing', user);
  return true;
}

/** Blocks and unblocks the relay has not been told of yet. */
export function pendingRelayBlocks(c: { db: DB }): { user: string; action: 'block' | 'unblock' }[] {
  return (c.db.prepare('SELECT username, relay_pending FROM peer_states WHERE relay_pending IS NOT NULL').all() as { username: string; relay_pending: 'block' | 'unblock' }[]).map((r) => ({
    user: r.username,
    action: r.relay_pending,
  }));
}

export function relayToldOf(c: { db: DB }, user: string, action: 'block' | 'unblock'): void {
  c.db.prepare('UPDATE peer_states SET relay_pending = NULL WHERE username = ? AND relay_pending = ?').run(user, action);
}

// ---- group invitations --------------------------------------------------------------------------

/** A group we were just added to by `inviter`: an invitation when the inviter is not accepted. */
export function noteInvitation(c: Client, groupIdHex: string, inviter: string): boolean {
  if (!requestsOn() || standing(c, inviter) === 'accepted') return false;
  c.db.prepare('INSERT OR IGNORE INTO group_invites (group_id, inviter, at) VALUES (?, ?, ?)').run(Buffer.from(groupIdHex, 'hex'), inviter, c.now());
  forgetPageReads(c.db, 'invited');
  return true;
}

/** A group message stored while its group is an invitation: kept up to INVITE_MAX_MESSAGES. */
export function admitInvitedGroupMessage(c: Client, groupIdHex: string): boolean {
  const n = c.db.prepare("SELECT COUNT(*) AS n FROM group_messages WHERE group_id = ? AND direction = 'in'").get(Buffer.from(groupIdHex, 'hex')) as { n: number };
  if (n.n <= INVITE_MAX_MESSAGES) return true;
  c.db.prepare('UPDATE group_invites SET dropped = dropped + 1 WHERE group_id = ?').run(Buffer.from(groupIdHex, 'hex'));
  return false;
}

/** Sending to a group still an invitation is refused: joining is the user's decision, not a side effect. */
export function refuseIfInvited(c: Client, arg: string): void {
  const g = resolveGroup(c, arg);
  if (invitedGroups(c).has(g.idHex)) {
    throw new CliError('not_joined', `you have not joined #${labelOf(c, g)} yet`, { hint: `fastchat requests accept '#${labelOf(c, g)}'` });
  }
}

export function acceptInvitation(c: Client, groupIdHex: string): boolean {
  const r = c.db.prepare('DELETE FROM group_invites WHERE group_id = ? RETURNING inviter').get(Buffer.from(groupIdHex, 'hex')) as { inviter: string } | undefined;
  forgetPageReads(c.db, 'invited');
  return r !== undefined;
}

export interface Invitation {
  groupIdHex: string;
  inviter: string;
  at: number;
  messages: number;
  dropped: number;
}

export function listInvitations(c: { db: DB }): Invitation[] {
  return (
    c.db
      .prepare(
        `SELECT i.group_id, i.inviter, i.at, i.dropped, (SELECT COUNT(*) FROM group_messages m WHERE m.group_id = i.group_id AND m.direction = 'in') AS messages
         FROM group_invites i ORDER BY i.at`,
      )
      .all() as { group_id: Uint8Array; inviter: string; at: number; dropped: number; messages: number }[]
  ).map((r) => ({ groupIdHex: toHex(r.group_id), inviter: r.inviter, at: r.at, messages: r.messages, dropped: r.dropped }));
}

// ---- the request list -----------------------------------------------------------------------------

export interface PendingRequest {
  user: string;
  since: number;
  messages: number;
  unread: number;
  /** Messages past the bound, counted and not kept. */
  dropped: number;
}

export function listRequests(c: { db: DB }): PendingRequest[] {
  return (
    c.db
      .prepare(
        `SELECT p.username, p.since, p.dropped,
           (SELECT COUNT(*) FROM messages m WHERE m.peer = p.username AND m.direction = 'in') AS messages,
           (SELECT COUNT(*) FROM messages m WHERE m.peer = p.username AND m.direction = 'in' AND m.unread > 0) AS unread
         FROM peer_states p WHERE p.state = 'request' AND (p.dropped > 0 OR EXISTS (SELECT 1 FROM messages m WHERE m.peer = p.username)) ORDER BY p.since`,
      )
      .all() as { username: string; since: number; dropped: number; messages: number; unread: number }[]
  ).map((r) => ({ user: r.username, since: r.since, messages: r.messages, unread: r.unread, dropped: r.dropped }));
}

/** Marks a request's messages seen (the request list showed them): inbox stops announcing it. */
export function markRequestSeen(c: { db: DB }, user: string): void {
  c.db.prepare("UPDATE messages SET unread = 0 WHERE peer = ? AND direction = 'in' AND unread > 0").run(user);
}

/**
 * A file waits for a yes when its sender is not accepted: a request's files are not fetched at
 * all, a group member's (one you never wrote to) only up to STRANGER_FILE_MAX_BYTES.
 */
export function fileWaits(c: { db: DB }, f: Pick<IncomingFile, 'from' | 'group' | 'file'>): boolean {
  if (!requestsOn()) return false;
  const s = standing(c, f.from);
  if (s === 'accepted') return false;
  if (f.group && c.db.prepare('SELECT 1 FROM group_invites WHERE group_id = ?').get(Buffer.from(f.group))) return true;
  if (!f.group) return true;
  return f.file.size > STRANGER_FILE_MAX_BYTES;
}
