// Group commands in the client core: create, change membership or name, send, read. A change is signed and
// applied here first (so a change we may not make is refused before anything leaves), stored with
// its record, and sent to the members over the pairwise sessions: the new record to those who hold
// the group, the whole chain to those who are new. Then every remaining member, us included, starts
// a new epoch with fresh sender keys.
import { toBase64url, utf8 } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import {
  createGroup,
  encryptGroupMessage,
  isAdmin,
  isMember,
  isValidGroupName,
  proposeChange,
  type GroupMember,
  type GroupOp,
  type GroupState,
} from '../../crypto/group/index.js';
import type { PreKeyBundle } from '../../crypto/prekeys.js';
import { CliError, usageError } from '../errors.js';
import { getContact, type Trust } from './contacts.js';
import { ourAddress, relayTarget, type Client } from './context.js';
import { tx } from './db.js';
import { queueRecords, startEpoch } from './group-keys.js';
import { appendRecord, countPending, deleteOurKeys, groupLabel, listGroups, loadGroup, loadOurKey, loadRecords, saveGroup, saveOurKey, type StoredGroup } from './group-store.js';
import { checkBundles, encryptQueued, flushOutbox, type FlushReport } from './outbox.js';
import { encodePayload, type FileRef } from './payload.js';
import { fileLine } from './files/names.js';
import { fetchBundles, fetchIdentities } from './relay-api.js';
import { storedEntry, type StoredEntry, type StoredRow } from './history.js';
import { assertNotRolledBack } from './send-guard.js';
import { isUnreachable } from './relay-http.js';
import { sessionDevices } from './sessions.js';

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
    if (sessionDevices(c.db, c.sealer, user).length > 0) checkBundles(c, user, await fetchIdentities(t, user));
    else {
      const b = await fetchBundles(t, user);
      checkBundles(c, user, b);
      bundles.set(user, b);
    }
    members.push({ user, signPublic: getContact(c, user)!.identity.signPublic });
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

export interface ChangeResult {
  group: string; // label
  groupId: string;
  epoch: number;
  members: string[];
  delivery: { unreachable: boolean; held: string[] };
}

function result(c: Client, g: StoredGroup, d: { unreachable: boolean; held: string[] }): ChangeResult {
  return { group: labelOf(c, g), groupId: g.idHex, epoch: g.state.epoch, members: g.state.members.map((m) => m.user), delivery: { unreachable: d.unreachable, held: d.held } };
}

/** A name the user gives a group (create, rename): refused as a usage error before any lookup. */
function checkNewName(name: string): void {
  if (!isValidGroupName(name)) throw usageError(`invalid group name ${JSON.stringify(name)}`, 'a name is 1 to 128 bytes with no control characters');
}

export async function createGroupCmd(c: Client, name: string, users: string[]): Promise<ChangeResult> {
  checkNewName(name);
  const me = ourAddress(c).user;
  const { members, bundles } = await lookUpMembers(c, users);
  const g = tx(c.db, () => {
    const { state, record } = createGroup({ user: me, identity: c.secrets.identity }, name, members, c.random);
    saveGroup(c, state, 'active', c.now());
    appendRecord(c, state.groupId, 0, record);
    for (const m of members) queueRecords(c, m.user, [record]);
    startEpoch(c, state);
    return loadGroup(c, state.groupId)!;
  });
  return result(c, g, await deliver(c, bundles));
}

/** What a member asks of a group it holds: users by name (add looks up their keys first). */
export type ChangeRequest = { op: 'add' | 'remove' | 'promote'; users: string[] } | { op: 'leave' } | { op: 'rename'; name: string };

/** add / remove / leave / promote / rename on a group we are an active member of. */
export async function changeGroupCmd(c: Client, arg: string, req: ChangeRequest): Promise<ChangeResult> {
  const op = req.op;
  if (req.op === 'rename') checkNewName(req.name);
  const me = ourAddress(c).user;
  const g = resolveGroup(c, arg);
  const label = labelOf(c, g);
  if (g.status !== 'active') throw new CliError('not_a_member', `you are no longer a member of #${label}`);
  if (op !== 'leave' && !isAdmin(g.state, me)) {
    const what = op === 'rename' ? 'rename the group' : `${op} members`;
    throw new CliError('not_admin', `you are not an admin of #${label}; only admins may ${what}`, { hint: `\`fastchat group info #${label}\` lists the admins` });
  }
  // A same-name rename would cost every member a new epoch and change nothing they can see.
  if (req.op === 'rename' && req.name === g.state.name) throw new CliError('invalid_change', `#${label} is already named ${JSON.stringify(req.name)}`);
  let added: GroupMember[] = [];
  let bundles = new Map<string, PreKeyBundle[]>();
  if (req.op === 'add') ({ members: added, bundles } = await lookUpMembers(c, req.users));
  const change: GroupOp =
    req.op === 'add' ? { op: 'add', members: added } : req.op === 'leave' || req.op === 'rename' ? req : { op: req.op, users: [...new Set(req.users)] };
  const after = tx(c.db, () => {
    const current = loadGroup(c, g.groupId)!; // re-read inside the lock: a change may have arrived
    let next: { state: GroupState; record: Uint8Array };
    try {
      next = proposeChange(current.state, { user: me, identity: c.secrets.identity }, change);
    } catch (e) {
      if (isCryptoError(e)) throw new CliError(e.code, `cannot ${op}: ${e.message}`);
      throw e;
    }
    const { state, record } = next;
    const stillMember = isMember(state, me);
    saveGroup(c, state, stillMember ? 'active' : 'left', c.now());
    appendRecord(c, state.groupId, state.epoch, record);
    const newcomers = new Set(added.map((m) => m.user));
    const chain = newcomers.size > 0 ? loadRecords(c, state.groupId) : [];
    // Everyone who was or is a member hears of the change (a removed member learns it is out);
    // newcomers get the whole chain so they can check it from the create record.
    const told = new Set([...current.state.members.map((m) => m.user), ...state.members.map((m) => m.user)]);
    told.delete(me);
    for (const user of told) queueRecords(c, user, newcomers.has(user) ? chain : [record]);
    if (stillMember) startEpoch(c, state);
    else deleteOurKeys(c, state.groupId);
    return loadGroup(c, state.groupId)!;
  });
  return result(c, after, await deliver(c, bundles));
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
}

/** `file`: a file message (client/core/files/send.ts), `text` its caption. */
export async function sendGroupText(c: Client, arg: string, text: string, file?: FileRef): Promise<GroupSendResult> {
  const me = ourAddress(c).user;
  relayTarget(c);
  // A rolled-back store holds an old position of our sender chain: sending would reuse its keys.
  assertNotRolledBack(c);
  const g = resolveGroup(c, arg);
  const label = labelOf(c, g);
  if (g.status !== 'active') throw new CliError('not_a_member', `you are no longer a member of #${label}`);
  const id = toBase64url(c.random(16));
  const sentAt = new Date(c.now()).toISOString();
  const recipients = g.state.members.map((m) => m.user).filter((u) => u !== me);
  tx(c.db, () => {
    const current = loadGroup(c, g.groupId)!;
    const ours = loadOurKey(c, g.groupId, me, current.state.epoch) ?? startEpoch(c, current.state);
    const { state, message } = encryptGroupMessage(ours, encodePayload(file ? { v: 1, type: 'file', id, text, sentAt, file } : { v: 1, type: 'text', id, text, sentAt }));
    saveOurKey(c, state);
    c.db
      .prepare("INSERT INTO group_messages (group_id, id, sender, direction, body, sent_at, status) VALUES (?, ?, ?, 'out', ?, ?, 'queued')")
      .run(Buffer.from(g.groupId), id, me, Buffer.from(c.sealer.seal('group_message', [g.groupId, me, id], utf8(file ? fileLine(file, text) : text))), sentAt);
    c.db
      .prepare('INSERT INTO group_outbox (group_id, message_id, client_id, recipients, body, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(Buffer.from(g.groupId), id, toBase64url(c.random(16)), JSON.stringify(recipients), Buffer.from(message), c.now()); // random: names no message
  });
  const r = await deliver(c);
  const row = c.db.prepare("SELECT status, error FROM group_messages WHERE group_id = ? AND direction = 'out' AND id = ?").get(Buffer.from(g.groupId), id) as { status: string; error: string | null };
  const base = { id, to: null, group: label, groupId: g.idHex, sentAt, recipients: recipients.length };
  if (row.status === 'sent') return { ...base, status: 'sent' };
  return { ...base, status: 'queued', reason: row.error ?? (r.unreachable ? 'relay unreachable' : 'not acknowledged') };
}

export interface GroupHistoryEntry extends StoredEntry {
  from: string;
}

/** The last `limit` messages of the group, in the order they arrived (or were written) here. */
export function groupHistory(c: Client, g: StoredGroup, limit: number): GroupHistoryEntry[] {
  const rows = c.db
    .prepare('SELECT * FROM (SELECT * FROM group_messages WHERE group_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq')
    .all(Buffer.from(g.groupId), limit) as (StoredRow & { sender: string })[];
  return rows.map((r) => ({ ...storedEntry(c, r, 'group_message', [g.groupId, r.sender, r.id]), from: r.sender }));
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
}

export function groupInfo(c: Pick<Client, 'db' | 'sealer' | 'config'>, g: StoredGroup): GroupInfo {
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
      const keyMatches = contact !== undefined && Buffer.from(contact.identity.signPublic).equals(Buffer.from(m.signPublic));
      return { user: m.user, admin: isAdmin(g.state, m.user), you: false, trust: contact?.trust ?? ('unknown' as const), keyMatches };
    }),
    held: countPending(c, g.groupId),
  };
}
