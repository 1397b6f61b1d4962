// Group commands in the client core: create, change membership or name, send, read. A change is
// signed and applied here first (so a change we may not make is refused before anything leaves),
// stored with its record, and sent to the members over the pairwise sessions: the new record to
// those who hold the group, the whole chain to those who are new. Nothing else: sender keys are
// made and shared at each member's next send (group-keys.ts), so a change costs O(N) messages.
//
// Sync before send: every command that sends to a group (a message or a change) first runs a
// receive pass (`Syncer`), so a change that was waiting for us — a removal above all — is applied
// before we encrypt for the group; otherwise a member that had not heard of a removal would still
// send to the removed member (docs/PROTOCOL.md G.9).
import { toBase64url, toHex, utf8 } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import { createGroup, encryptGroupMessage, isAdmin, isValidGroupName, parseGroupChange, type GroupMember, type GroupOp } from '../../crypto/group/index.js';
import type { PreKeyBundle } from '../../crypto/prekeys.js';
import { CliError, usageError } from '../errors.js';
import { getContact, type Trust } from './contacts.js';
import { ourAddress, relayTarget, type Client } from './context.js';
import { tx } from './db.js';
import { commitChange, storeApplied } from './group-change.js';
import { keyForSend, queueRecords } from './group-keys.js';
import { flushGroupOutbox, groupOutboxRowKey, type GroupFlushReport } from './group-outbox.js';
import { countPending, groupLabel, listGroups, loadGroup, pendingForks, saveOurKey, type StoredGroup } from './group-store.js';
import type { Incoming } from './incoming.js';
import { checkDeviceLists, refreshListsOf } from './device-lists.js';
import { contactMemberKey, ourAuthor } from './group-devices.js';
import { hasOtherDevices, listCheckDue } from './fanout.js';
import { checkBundles, encryptQueued, flushOutbox, type FlushReport } from './outbox.js';
import { encodePayload, type FileRef } from './payload.js';
import { fileLine } from './files/names.js';
import { fetchBundles, fetchIdentities } from './relay-api.js';
import { storedEntry, type StoredEntry, type StoredRow } from './history.js';
import { assertNotRolledBack } from './send-guard.js';
import { isUnreachable } from './relay-http.js';
import { sessionDevices } from './sessions.js';
import { syncInbox } from './sync.js';

// ---- naming -----------------------------------------------------------------------------------

/** `#team` or `#team~3fa2` → the one group it names; ambiguous names are a usage error. */
export function resolveGroup(c: Pick<Client, 'db' | 'sealer'>, arg: string): StoredGroup {
  const raw = arg.startsWith('#') ? arg.slice(1) : arg;
  const all = listGroups(c);
  const m = /^(.*)~([0-9a-f]{4,64})$/.exec(raw);
  let found = m ? all.filter((g) => g.state.name === m[1] && g.idHex.startsWith(m[2]!)) : [];
  if (found.length === 0) found = all.filter((g) => g.state.name === raw);
  if (found.length === 0) throw new CliError('unknown_group', `no group named #${raw}`, { hint: '`fastchat group list` shows your groups' });
  if (found.length > 1) {
    throw usageError(`#${raw} names ${found.length} groups: ${found.map((g) => `#${groupLabel(all, g)}`).join(', ')}`, 'use the #name~id form shown by `fastchat group list`');
  }
  return found[0]!;
}

export function labelOf(c: Pick<Client, 'db' | 'sealer'>, g: StoredGroup): string {
  return groupLabel(listGroups(c), g);
}

// ---- members ----------------------------------------------------------------------------------

/** Each user's identity signing key, from the key directory through TOFU (a changed key: exit 4). */
async function lookUpMembers(c: Client, users: string[]): Promise<{ members: GroupMember[]; bundles: Map<string, PreKeyBundle[]> }> {
  const t = relayTarget(c);
  const me = ourAddress(c).user;
  const bundles = new Map<string, PreKeyBundle[]>();
  const members: GroupMember[] = [];
  for (const user of [...new Set(users)]) {
    if (user === me) throw usageError('you are always a member of your own group; name the others');
    // With a session the identity lookup suffices and spends none of the member's one-time
    // prekeys (the relay limits bundle fetches per pair of accounts).
    if (sessionDevices(c.db, c.sealer, user).length > 0) checkBundles(c, user, await fetchIdentities(t, user), await checkDeviceLists(c, t, user));
    else {
      const b = await fetchBundles(t, user);
      checkBundles(c, user, b, await checkDeviceLists(c, t, user));
      bundles.set(user, b);
    }
    // Under their account key when a list of theirs is pinned: every device of theirs is then the member.
    members.push({ user, signPublic: contactMemberKey(c, user)! });
  }
  return { members, bundles };
}

async function deliver(c: Client, bundles = new Map<string, PreKeyBundle[]>()): Promise<FlushReport & { held: string[] }> {
  const t = relayTarget(c);
  try {
    const sealed = await encryptQueued(c, t, bundles);
    const flushed = await flushOutbox(c, t);
    return { ...flushed, held: sealed.held, failed: [...sealed.failed, ...flushed.failed] };
  } catch (e) {
    if (!isUnreachable(e)) throw e;
    await encryptQueued(c, undefined, bundles);
    return { sent: 0, pending: 0, failed: [], unreachable: true, held: [] };
  }
}

/** What a receive pass before a send brought in: the caller shows it like `inbox` would. */
export interface Synced {
  incoming: Incoming[];
  warnings: string[];
}

/**
 * A receive pass that returns once everything the relay holds for us is processed. The CLI's is
 * a whole `syncInbox`; chat, whose socket is already receiving, waits for a round trip on it.
 * Throws RelayUnreachable when the relay cannot be reached.
 */
export type Syncer = (c: Client) => Promise<Synced>;

export const syncOverSocket: Syncer = async (c) => {
  const got: Synced = { incoming: [], warnings: [] };
  await syncInbox(c, relayTarget(c), { onIncoming: (m) => got.incoming.push(m), onWarning: (w) => got.warnings.push(w) });
  return got;
};

/**
 * The device lists of the members (ours included) checked again when the last check in this
 * process is older than LIST_RECHECK_MS, as fan-out does (D.13): a device an account added gets
 * our key and message, and one it removed makes us rotate our key before we send (G.5). A list
 * that cannot be had or checked leaves the pinned one (sending to that member reports it).
 */
async function refreshMemberLists(c: Client, users: string[]): Promise<void> {
  const t = relayTarget(c);
  for (const user of users) {
    if (!listCheckDue(c, user)) continue;
    try {
      await refreshListsOf(c, t, user);
    } catch (e) {
      if (isUnreachable(e)) return; // sent (or queued) on the lists we hold
      if (!(e instanceof CliError)) throw e;
    }
  }
}

/** Runs the receive pass; `offline` when the relay is unreachable (the send is then queued). */
async function syncFirst(c: Client, sync: Syncer): Promise<Synced & { offline: boolean }> {
  try {
    return { ...(await sync(c)), offline: false };
  } catch (e) {
    if (!isUnreachable(e)) throw e;
    return { incoming: [], warnings: [], offline: true };
  }
}

/**
 * resolveGroup, with one receive pass first when the name is not known here yet: a group we were
 * just added to exists on this home only once its invitation is received, so `chat '#g'` and
 * `send '#g'` used to say "no group named #g" until an `inbox` ran. Offline, the error stands.
 */
export async function resolveGroupAfterSync(c: Client, arg: string, sync: Syncer = syncOverSocket): Promise<StoredGroup> {
  try {
    return resolveGroup(c, arg);
  } catch (e) {
    if (!(e instanceof CliError) || e.code !== 'unknown_group') throw e;
    if ((await syncFirst(c, sync)).offline) throw e;
    return resolveGroup(c, arg);
  }
}

export interface ChangeResult {
  group: string; // label
  groupId: string;
  epoch: number;
  members: string[];
  delivery: { unreachable: boolean; held: string[] };
  synced: Synced;
}

function result(c: Client, g: StoredGroup, d: { unreachable: boolean; held: string[] }, synced: Synced): ChangeResult {
  return { group: labelOf(c, g), groupId: g.idHex, epoch: g.state.epoch, members: g.state.members.map((m) => m.user), delivery: { unreachable: d.unreachable, held: d.held }, synced };
}

/** A name the user gives a group (create, rename): refused as a usage error before any lookup. */
function checkNewName(name: string): void {
  if (!isValidGroupName(name)) throw usageError(`invalid group name ${JSON.stringify(name)}`, 'a name is 1 to 128 bytes with no control characters');
}

export async function createGroupCmd(c: Client, name: string, users: string[]): Promise<ChangeResult> {
  checkNewName(name);
  const me = ourAddress(c).user;
  const { members, bundles } = await lookUpMembers(c, users);
  await refreshMemberLists(c, [me]); // our other devices get the group too
  const g = tx(c.db, () => {
    const { state, record } = createGroup(ourAuthor(c)!, name, members, c.random);
    // Our other devices hold the group too (they are us: G.9 rule 1).
    for (const user of [...members.map((m) => m.user), ...(hasOtherDevices(c) ? [me] : [])]) queueRecords(c, user, [record]);
    storeApplied(c, null, [{ record, change: parseGroupChange(record), state }]);
    return loadGroup(c, state.groupId)!;
  });
  return result(c, g, await deliver(c, bundles), { incoming: [], warnings: [] });
}

/** What a member asks of a group it holds: users by name (add looks up their keys first). */
export type ChangeRequest = { op: 'add' | 'remove' | 'promote'; users: string[] } | { op: 'leave' } | { op: 'rename'; name: string };

/** add / remove / leave / promote / rename on a group we are an active member of. */
export async function changeGroupCmd(c: Client, arg: string, req: ChangeRequest, sync: Syncer = syncOverSocket): Promise<ChangeResult> {
  const op = req.op;
  if (req.op === 'rename') checkNewName(req.name);
  const me = ourAddress(c).user;
  let g = resolveGroup(c, arg);
  const label = labelOf(c, g);
  const check = (x: StoredGroup): void => {
    if (x.status !== 'active') throw new CliError('not_a_member', `you are no longer a member of #${labelOf(c, x)}`);
    if (op !== 'leave' && !isAdmin(x.state, me)) {
      const what = op === 'rename' ? 'rename the group' : `${op} members`;
      throw new CliError('not_admin', `you are not an admin of #${label}; only admins may ${what}`, { hint: `\`fastchat group info #${label}\` lists the admins` });
    }
  };
  check(g);
  // A change made on a state that is already out of date is a concurrent change: it would lose to
  // (or undo) the one we had not received yet. Learn of pending changes first.
  const synced = await syncFirst(c, sync);
  g = loadGroup(c, g.groupId)!;
  check(g);
  // A same-name rename would cost every member a new epoch and change nothing they can see.
  if (req.op === 'rename' && req.name === g.state.name) throw new CliError('invalid_change', `#${label} is already named ${JSON.stringify(req.name)}`);
  let added: GroupMember[] = [];
  let bundles = new Map<string, PreKeyBundle[]>();
  if (req.op === 'add') ({ members: added, bundles } = await lookUpMembers(c, req.users));
  if (!synced.offline) await refreshMemberLists(c, [me]); // our other devices get the change too
  const change: GroupOp =
    req.op === 'add' ? { op: 'add', members: added } : req.op === 'leave' || req.op === 'rename' ? req : { op: req.op, users: [...new Set(req.users)] };
  const after = tx(c.db, () => {
    const current = loadGroup(c, g.groupId)!; // re-read inside the lock: a change may have arrived
    try {
      return commitChange(c, current, change);
    } catch (e) {
      if (isCryptoError(e)) throw new CliError(e.code, `cannot ${op}: ${e.message}`);
      throw e;
    }
  });
  return result(c, after, await deliver(c, bundles), { incoming: synced.incoming, warnings: synced.warnings });
}

// ---- messages ---------------------------------------------------------------------------------

export interface GroupSendResult {
  id: string;
  /** Always null: a group message has no one `to` (the one JSON form shared with `send @user`). */
  to: null;
  group: string;
  groupId: string;
  sentAt: string;
  recipients: number;
  status: 'sent' | 'queued';
  reason?: string;
  /** Sent although the relay had seen a newer epoch of the group than a receive pass taught us. */
  pastFence?: boolean;
  synced: Synced;
}

/** Queues one group message under our key of the group's current epoch (one transaction). */
export function queueGroupMessage(c: Client, g: StoredGroup, id: string, text: string, sentAt: string, file?: FileRef): string[] {
  const me = ourAddress(c).user;
  // A rolled-back store holds an old position of our sender chain: sending would reuse its keys.
  assertNotRolledBack(c);
  return tx(c.db, () => {
    const current = loadGroup(c, g.groupId)!;
    const recipients = current.state.members.map((m) => m.user).filter((u) => u !== me);
    const payload = encodePayload(file ? { v: 1, type: 'file', id, text, sentAt, file } : { v: 1, type: 'text', id, text, sentAt });
    // Our key, new after a removal, with its distribution queued for whoever lacks it (newcomers).
    const { ours } = keyForSend(c, current.state);
    const { state, message } = encryptGroupMessage(ours, current.state, payload, c.random);
    saveOurKey(c, state);
    c.db
      .prepare("INSERT INTO group_messages (group_id, id, sender, direction, body, sent_at, status) VALUES (?, ?, ?, 'out', ?, ?, 'queued')")
      .run(Buffer.from(g.groupId), id, me, Buffer.from(c.sealer.seal('group_message', [g.groupId, me, id], utf8(file ? fileLine(file, text) : text))), sentAt);
    c.db
      .prepare('INSERT INTO group_outbox (group_id, message_id, client_id, recipients, body, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(Buffer.from(g.groupId), id, toBase64url(c.random(16)), JSON.stringify(recipients), Buffer.from(message), c.now(), Buffer.from(c.sealer.seal('outbox', groupOutboxRowKey(g.groupId, id), payload))); // random client id: names no message
    return recipients;
  });
}

/**
 * Sends a text (or, with `file`, a file message: client/core/files/send.ts) to a group: a receive
 * pass first (sync before send), then the message under our key of the epoch that pass left us in.
 * If the relay answers stale_epoch (it has seen a newer epoch than ours), one more receive pass,
 * which sends it again for whatever epoch we are in then.
 */
export async function sendGroupText(c: Client, arg: string, text: string, file?: FileRef, sync: Syncer = syncOverSocket): Promise<GroupSendResult> {
  const t = relayTarget(c);
  const first = await resolveGroupAfterSync(c, arg, sync);
  const synced = await syncFirst(c, sync);
  const g = loadGroup(c, first.groupId)!;
  const label = labelOf(c, g);
  if (g.status !== 'active') {
    throw new CliError('not_a_member', `you are no longer a member of #${label}${g.status === 'removed' ? ' (you were removed)' : ''}; nothing was sent`);
  }
  if (!synced.offline) await refreshMemberLists(c, g.state.members.map((m) => m.user));
  const id = toBase64url(c.random(16));
  const sentAt = new Date(c.now()).toISOString();
  const recipients = queueGroupMessage(c, g, id, text, sentAt, file);
  const base = { id, to: null, group: label, groupId: g.idHex, sentAt, recipients: recipients.length };
  let reason: string | undefined;
  let pastFence = false;
  if (synced.offline) reason = 'relay unreachable';
  else {
    // Sender keys queued by keyForSend go first, over the pairwise sessions.
    const pairwise = await deliver(c);
    let flushed: GroupFlushReport | undefined;
    if (!pairwise.unreachable) flushed = await flushGroupOutbox(c, t, { afterSync: false });
    if (flushed?.stale.includes(g.idHex)) {
      const again = await syncFirst(c, sync);
      synced.incoming.push(...again.incoming);
      synced.warnings.push(...again.warnings);
      if (again.offline) reason = 'relay unreachable';
      else {
        // A CLI pass ends with its own flush of the group outbox (syncInbox); chat's does not.
        const retried = await flushGroupOutbox(c, t, { afterSync: true });
        if (retried.unreachable) reason = 'relay unreachable';
      }
      // Still at the epoch the relay called stale: the fence is ahead of anything we could learn.
      pastFence = loadGroup(c, g.groupId)!.state.epoch === g.state.epoch;
    }
    if (pairwise.unreachable || flushed?.unreachable) reason = 'relay unreachable';
    if (flushed?.behind.includes(g.idHex)) reason = `members of #${label} already use a newer epoch whose change has not reached us; the message waits for it`;
  }
  const row = c.db.prepare("SELECT status, error FROM group_messages WHERE group_id = ? AND direction = 'out' AND id = ?").get(Buffer.from(g.groupId), id) as { status: string; error: string | null };
  const out = { ...base, synced: { incoming: synced.incoming, warnings: synced.warnings }, ...(pastFence ? { pastFence } : {}) };
  if (row.status === 'sent') return { ...out, status: 'sent' };
  if (row.status === 'failed') throw new CliError(row.error ?? 'refused', `the message to #${label} was not sent (${row.error ?? 'refused'}); it stays in the history as failed`);
  return { ...out, status: 'queued', reason: row.error ?? reason ?? 'not acknowledged' };
}

export interface GroupHistoryEntry extends StoredEntry {
  from: string;
  /** Received at an epoch that had ended (within the grace): sent before the change that ended it. */
  beforeChange: boolean;
}

/** The last `limit` messages of the group, in the order they arrived (or were written) here. */
export function groupHistory(c: Client, g: StoredGroup, limit: number): GroupHistoryEntry[] {
  const rows = c.db
    .prepare('SELECT * FROM (SELECT * FROM group_messages WHERE group_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq')
    .all(Buffer.from(g.groupId), limit) as (StoredRow & { sender: string; before_change: number })[];
  return rows.map((r) => ({ ...storedEntry(c, r, 'group_message', [g.groupId, r.sender, r.id]), from: r.sender, beforeChange: r.before_change === 1 }));
}

// ---- views ------------------------------------------------------------------------------------

export interface GroupInfo {
  group: string;
  groupId: string;
  name: string;
  status: string;
  epoch: number;
  admins: string[];
  members: { user: string; admin: boolean; you: boolean; trust: Trust | 'you' | 'unknown'; keyMatches: boolean }[];
  held: number; // group messages and keys waiting for what they need
  /** Members held as being on another history of the group (a fork): never read until it settles. */
  forks: { from: string; epoch: number; theirs: string }[];
  transcript: string; // hex, the membership transcript of the current epoch
}

export function groupInfo(c: Client, g: StoredGroup): GroupInfo {
  const me = c.config.username;
  return {
    group: labelOf(c, g),
    groupId: g.idHex,
    name: g.state.name,
    status: g.status,
    epoch: g.state.epoch,
    admins: [...g.state.admins],
    members: g.state.members.map((m) => {
      if (m.user === me) return { user: m.user, admin: isAdmin(g.state, m.user), you: true, trust: 'you' as const, keyMatches: true };
      const contact = getContact(c, m.user);
      const theirs = contact ? contactMemberKey(c, m.user) : undefined;
      // Listed under their account key, or under an identity their pinned list (or TOFU pin) holds.
      const keyMatches = theirs !== undefined && (Buffer.from(theirs).equals(Buffer.from(m.signPublic)) || Buffer.from(contact!.identity.signPublic).equals(Buffer.from(m.signPublic)));
      return { user: m.user, admin: isAdmin(g.state, m.user), you: false, trust: contact?.trust ?? ('unknown' as const), keyMatches };
    }),
    held: countPending(c, g.groupId),
    forks: pendingForks(c, g.groupId).map((f) => ({ from: f.sender, epoch: f.epoch, theirs: f.transcript })),
    transcript: toHex(g.state.transcript),
  };
}
