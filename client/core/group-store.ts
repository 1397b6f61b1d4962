// Groups at rest: the state we hold, the record chain, each epoch's transcript, sender keys (ours
// and theirs) and what is held back until the record or key it needs arrives. Every value that is
// not already public to the relay is sealed with the storage key. Callers run these inside the
// transaction of the message that caused them.
import { GROUP_LATE_GRACE_MS } from '../../crypto/consts.js';
import { equalBytes, toHex } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import {
  encodeGroupState,
  encodeOurSenderKey,
  encodeTheirSenderKey,
  parseGroupState,
  parseOurSenderKey,
  parseTheirSenderKey,
  replayChanges,
  type GroupState,
  type OurSenderKey,
  type TheirSenderKey,
} from '../../crypto/group/index.js';
import type { Sealer } from './at-rest.js';
import { forgetPageReads, inPage, pageRead, type DB } from './db.js';

export type GroupStatus = 'active' | 'removed' | 'left';

export interface StoredGroup {
  groupId: Uint8Array;
  idHex: string;
  state: GroupState;
  status: GroupStatus;
  createdAt: number;
}

interface Store {
  db: DB;
  sealer: Sealer;
}

interface GroupRow {
  group_id: Buffer;
  state: Buffer;
  status: GroupStatus;
  created_at: number;
}

const b = (u: Uint8Array): Buffer => Buffer.from(u);

/**
 * Each group's state as last opened, by the exact sealed bytes it came from: every group message
 * reads its group, and labelling it reads all of them (docs/PERFORMANCE.md "Client backlog"). The
 * row is still read each call, and only the same bytes under the same storage key skip the
 * unseal and parse, so a change by another process sharing the home, or on disk, is opened again.
 * A cached state is shared by its callers, so it is frozen: code that changed one in place would
 * throw instead of changing another caller's copy.
 */
interface Opened {
  sealer: Sealer;
  sealed: Uint8Array;
  state: GroupState;
}
const opened = new WeakMap<DB, Map<string, Opened>>();
/** Groups a store keeps opened states of: past this the cache starts over (a bound, not a tuning). */
const OPENED_GROUPS_MAX = 1024;

function freezeState(state: GroupState): GroupState {
  for (const m of state.members) Object.freeze(m);
  Object.freeze(state.members);
  Object.freeze(state.admins);
  return Object.freeze(state);
}

/** undefined for a group stored by a build that spoke an older group format: it cannot continue (see oldFormatGroups). */
function fromRow(s: Store, r: GroupRow): StoredGroup | undefined {
  const groupId = new Uint8Array(r.group_id);
  const idHex = toHex(groupId);
  let byId = opened.get(s.db);
  const hit = byId?.get(idHex);
  let state: GroupState;
  if (hit && hit.sealer === s.sealer && equalBytes(hit.sealed, r.state)) {
    state = hit.state;
  } else {
    try {
      state = freezeState(parseGroupState(s.sealer.open('group_state', [groupId], new Uint8Array(r.state))));
    } catch (e) {
      if (isCryptoError(e, 'unsupported_version')) return undefined;
      throw e;
    }
    if (!byId || byId.size >= OPENED_GROUPS_MAX) opened.set(s.db, (byId = new Map()));
    byId.set(idHex, { sealer: s.sealer, sealed: new Uint8Array(r.state), state });
  }
  return { groupId, idHex, state, status: r.status, createdAt: r.created_at };
}

/** Once per page and group (db.ts pageRead): saveGroup forgets it. */
export function loadGroup(s: Store, groupId: Uint8Array): StoredGroup | undefined {
  return pageRead(s.db, 'group', toHex(groupId), () => {
    const r = s.db.prepare('SELECT * FROM groups WHERE group_id = ?').get(b(groupId)) as GroupRow | undefined;
    return r ? fromRow(s, r) : undefined;
  });
}

export function listGroups(s: Store): StoredGroup[] {
  return (s.db.prepare('SELECT * FROM groups ORDER BY created_at, group_id').all() as GroupRow[]).flatMap((r) => fromRow(s, r) ?? []);
}

/** Groups this home joined under an older group format: their members must make the group again. */
export function oldFormatGroups(s: Store): number {
  const n = (s.db.prepare('SELECT COUNT(*) AS n FROM groups').get() as { n: number }).n;
  return n - listGroups(s).length;
}

export function saveGroup(s: Store, state: GroupState, status: GroupStatus, now: number): void {
  s.db
    .prepare(
      'INSERT INTO groups (group_id, state, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_id) DO UPDATE SET state = excluded.state, status = excluded.status, updated_at = excluded.updated_at',
    )
    .run(b(state.groupId), b(s.sealer.seal('group_state', [state.groupId], encodeGroupState(state))), status, now, now);
  // A page reads the group again, and every label (one group's name may change another's).
  forgetPageReads(s.db, 'group', toHex(state.groupId));
  forgetPageReads(s.db, 'group-label');
}

export function appendRecord(s: Store, groupId: Uint8Array, epoch: number, record: Uint8Array): void {
  s.db.prepare('INSERT OR REPLACE INTO group_records (group_id, epoch, record) VALUES (?, ?, ?)').run(b(groupId), epoch, b(s.sealer.seal('group_record', [groupId, epoch], record)));
}

/** The records of `groupId` from epoch `from` on are undone (a concurrent change won): forget them. */
export function truncateChain(s: Store, groupId: Uint8Array, from: number): void {
  // Keys made at those epochs were made on the undone history and can never open anything again.
  for (const table of ['group_records', 'group_epochs', 'group_sender_keys', 'group_key_shares']) {
    s.db.prepare(`DELETE FROM ${table} WHERE group_id = ? AND epoch >= ?`).run(b(groupId), from);
  }
  forgetPageReads(s.db, 'group-epoch');
  forgetPageReads(s.db, 'chain-expiry');
}

/** The chain from the create record up to `upTo` (inclusive; all when absent). */
export function loadRecords(s: Store, groupId: Uint8Array, upTo = Number.MAX_SAFE_INTEGER): Uint8Array[] {
  const rows = s.db.prepare('SELECT epoch, record FROM group_records WHERE group_id = ? AND epoch <= ? ORDER BY epoch').all(b(groupId), upTo) as { epoch: number; record: Buffer }[];
  return rows.map((r) => s.sealer.open('group_record', [groupId, r.epoch], new Uint8Array(r.record)));
}

/** The state as it was at `epoch`, rebuilt from our own chain (for keys of an earlier epoch). */
export function stateAtEpoch(s: Store, groupId: Uint8Array, epoch: number): GroupState | undefined {
  const records = loadRecords(s, groupId, epoch);
  if (records.length !== epoch + 1) return undefined;
  return replayChanges(records);
}

// ---- epochs ------------------------------------------------------------------------------------

export interface EpochInfo {
  epoch: number;
  transcript: Uint8Array;
  keyFloor: number;
  startedAt: number;
  endedAt: number | null;
}

/** A new current epoch: the previous ones end now (their grace starts). */
export function startedEpoch(s: Store, state: GroupState, now: number): void {
  const groupId = b(state.groupId);
  s.db.prepare('UPDATE group_epochs SET ended_at = ? WHERE group_id = ? AND ended_at IS NULL AND epoch < ?').run(now, groupId, state.epoch);
  s.db
    .prepare('INSERT OR REPLACE INTO group_epochs (group_id, epoch, transcript, started_at, ended_at, key_floor) VALUES (?, ?, ?, ?, NULL, ?)')
    .run(groupId, state.epoch, b(state.transcript), now, state.keyFloor);
  forgetPageReads(s.db, 'group-epoch');
  forgetPageReads(s.db, 'chain-expiry');
}

/** Once per page, group and epoch (db.ts pageRead): startedEpoch and truncateChain forget it. */
export function epochInfo(s: Store, groupId: Uint8Array, epoch: number): EpochInfo | undefined {
  return pageRead(s.db, 'group-epoch', `${toHex(groupId)}/${epoch}`, () => readEpochInfo(s, groupId, epoch));
}

function readEpochInfo(s: Store, groupId: Uint8Array, epoch: number): EpochInfo | undefined {
  const r = s.db.prepare('SELECT transcript, started_at, ended_at, key_floor FROM group_epochs WHERE group_id = ? AND epoch = ?').get(b(groupId), epoch) as
    | { transcript: Buffer; started_at: number; ended_at: number | null; key_floor: number }
    | undefined;
  return r && { epoch, transcript: new Uint8Array(r.transcript), keyFloor: r.key_floor, startedAt: r.started_at, endedAt: r.ended_at };
}

/**
 * The one rule for how long a receiving chain opens anything: a key of epoch K serves every epoch
 * E ≥ K whose keyFloor is ≤ K, and serves it while E is current or ended here less than
 * GROUP_LATE_GRACE_MS ago. As SQL over an epoch row `e`, for `k` an SQL expression of K; its one
 * parameter is the cut-off time (now − GROUP_LATE_GRACE_MS).
 */
const servesEpoch = (k: string): string => `e.epoch >= ${k} AND e.key_floor <= ${k} AND (e.ended_at IS NULL OR e.ended_at > ?)`;

/**
 * Drops the receiving chains nothing may open any more (servesEpoch): once a removal moved the
 * floor past K and the grace for what raced it is over, the chain goes. A key that still serves
 * the current epoch stays, however old. Returns how many chains went.
 */
export function dropExpiredChains(s: Store, groupId: Uint8Array, now: number): number {
  // Every group message asks; within a page the answer is kept until the first moment a chain
  // left may stop being served (a write of a chain or an epoch forgets it, as does a rollback).
  const due = inPage(s.db) ? pageRead(s.db, 'chain-expiry', toHex(groupId), () => ({ at: Number.NEGATIVE_INFINITY })) : undefined;
  if (due && now < due.at) return 0;
  const dropped = s.db
    .prepare(
      `DELETE FROM group_sender_keys WHERE group_id = ? AND ours = 0 AND NOT EXISTS (
         SELECT 1 FROM group_epochs e WHERE e.group_id = group_sender_keys.group_id AND ${servesEpoch('group_sender_keys.epoch')})`,
    )
    .run(b(groupId), now - GROUP_LATE_GRACE_MS).changes;
  if (due) due.at = nextChainExpiry(s, groupId);
  return dropped;
}

/**
 * When the first receiving chain of the group left stops being served by time alone (servesEpoch):
 * a chain of key epoch K is served while an epoch E ≥ K with keyFloor ≤ K is current, or ended
 * less than GROUP_LATE_GRACE_MS ago; so it stops at the last such end + the grace, or never while
 * one is current. Infinity when none stops by time.
 */
function nextChainExpiry(s: Store, groupId: Uint8Array): number {
  const r = s.db
    .prepare(
      `SELECT MIN(t) AS at FROM (
         SELECT CASE WHEN SUM(e.ended_at IS NULL) > 0 THEN NULL ELSE MAX(e.ended_at) + ? END AS t
         FROM group_sender_keys k JOIN group_epochs e ON e.group_id = k.group_id AND e.epoch >= k.epoch AND e.key_floor <= k.epoch
         WHERE k.group_id = ? AND k.ours = 0 GROUP BY k.epoch)`,
    )
    .get(GROUP_LATE_GRACE_MS, b(groupId)) as { at: number | null };
  return r.at ?? Number.POSITIVE_INFINITY;
}

/** Whether a key of epoch `keyEpoch` still opens something here (servesEpoch, as dropExpiredChains keeps chains). */
export function keyStillServes(s: Store, groupId: Uint8Array, keyEpoch: number, now: number): boolean {
  return (
    s.db
      .prepare(`SELECT 1 FROM group_epochs e WHERE e.group_id = ? AND ${servesEpoch('?')} LIMIT 1`)
      .get(b(groupId), keyEpoch, keyEpoch, now - GROUP_LATE_GRACE_MS) !== undefined
  );
}

/**
 * A member who is out (at `epoch`): none of their chains may open anything any more, of any epoch;
 * and none of their keys made before `epoch` will be waited for again (keyPurgedAfter).
 */
export function deleteTheirKeys(s: Store, groupId: Uint8Array, sender: string, epoch: number): void {
  s.db
    .prepare('INSERT INTO group_key_purges (group_id, sender, epoch) VALUES (?, ?, ?) ON CONFLICT (group_id, sender) DO UPDATE SET epoch = max(epoch, excluded.epoch)')
    .run(b(groupId), sender, epoch);
  s.db.prepare('DELETE FROM group_sender_keys WHERE group_id = ? AND sender = ? AND ours = 0').run(b(groupId), sender);
}

/** Whether we deleted `sender`'s chains at an epoch after `keyEpoch`: such a key will not come again. */
export function keyPurgedAfter(s: Store, groupId: Uint8Array, sender: string, keyEpoch: number): boolean {
  const r = s.db.prepare('SELECT epoch FROM group_key_purges WHERE group_id = ? AND sender = ?').get(b(groupId), sender) as { epoch: number } | undefined;
  return r !== undefined && r.epoch > keyEpoch;
}

/** How many messages of ended epochs this chain opened (0 when there is no such chain). */
export function countLate(s: Store, groupId: Uint8Array, sender: string, device: number, epoch: number): number {
  const r = s.db.prepare('SELECT late FROM group_sender_keys WHERE group_id = ? AND sender = ? AND device = ? AND epoch = ? AND ours = 0').get(b(groupId), sender, device, epoch) as
    | { late: number }
    | undefined;
  return r?.late ?? 0;
}

export function addLate(s: Store, groupId: Uint8Array, sender: string, device: number, epoch: number): void {
  s.db.prepare('UPDATE group_sender_keys SET late = late + 1 WHERE group_id = ? AND sender = ? AND device = ? AND epoch = ? AND ours = 0').run(b(groupId), sender, device, epoch);
}

export function saveOurKey(s: Store, k: OurSenderKey): void {
  s.db
    .prepare('INSERT OR REPLACE INTO group_sender_keys (group_id, sender, epoch, ours, key) VALUES (?, ?, ?, 1, ?)')
    .run(b(k.groupId), k.sender, k.epoch, b(s.sealer.seal('group_sender_key', [k.groupId, k.sender, k.epoch, 1], encodeOurSenderKey(k))));
}

/** Our sending key of the group (we hold at most one: a new one replaces the old). */
export function loadOurKey(s: Store, groupId: Uint8Array, us: string): OurSenderKey | undefined {
  const r = s.db.prepare('SELECT epoch, key FROM group_sender_keys WHERE group_id = ? AND sender = ? AND ours = 1 ORDER BY epoch DESC LIMIT 1').get(b(groupId), us) as
    | { epoch: number; key: Buffer }
    | undefined;
  return r ? parseOurSenderKey(s.sealer.open('group_sender_key', [groupId, us, r.epoch, 1], new Uint8Array(r.key))) : undefined;
}

/** Our sending key is gone (a new one is due, or we are out), and with it the record of whom it went to. */
export function deleteOurKeys(s: Store, groupId: Uint8Array): void {
  s.db.prepare('DELETE FROM group_sender_keys WHERE group_id = ? AND ours = 1').run(b(groupId));
  s.db.prepare('DELETE FROM group_key_shares WHERE group_id = ?').run(b(groupId));
}

/** A device our key was given to; `device` null for a holder recorded before devices counted (the member as a whole). */
export interface KeyHolder {
  user: string;
  device: number | null;
}

/** Whom our key of `epoch` was given to, per device. */
export function keyHolders(s: Store, groupId: Uint8Array, epoch: number): KeyHolder[] {
  const rows = s.db.prepare('SELECT member FROM group_key_shares WHERE group_id = ? AND epoch = ?').all(b(groupId), epoch) as { member: string }[];
  return rows.map((r) => {
    const [user, device] = r.member.split('/');
    return { user: user!, device: device === undefined ? null : Number(device) };
  });
}

export function addKeyHolders(s: Store, groupId: Uint8Array, epoch: number, devices: { user: string; device: number }[]): void {
  const insert = s.db.prepare('INSERT OR IGNORE INTO group_key_shares (group_id, epoch, member) VALUES (?, ?, ?)');
  for (const d of devices) insert.run(b(groupId), epoch, `${d.user}/${d.device}`);
}

// A receiving chain's row key leaves its device out (rows from before devices counted open as they
// are): a chain moved to another device's row by someone editing the file opens nothing more, as
// its own signature key checks every message.

/** Stores `device`'s receiving chain; its `late` count is kept when the chain only moved on. */
export function saveTheirKey(s: Store, k: TheirSenderKey, device: number): void {
  s.db
    .prepare(
      'INSERT INTO group_sender_keys (group_id, sender, device, epoch, ours, key) VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (group_id, sender, device, epoch, ours) DO UPDATE SET key = excluded.key',
    )
    .run(b(k.groupId), k.sender, device, k.epoch, b(s.sealer.seal('group_sender_key', [k.groupId, k.sender, k.epoch, 0], encodeTheirSenderKey(k))));
  // It may be a new chain, of an epoch that stops being served before the others.
  forgetPageReads(s.db, 'chain-expiry', toHex(k.groupId));
}

/** `sender`'s receiving chain of `epoch` from `device` (0: stored before devices counted). */
export function loadTheirKey(s: Store, groupId: Uint8Array, sender: string, device: number, epoch: number): TheirSenderKey | undefined {
  const r = s.db.prepare('SELECT key FROM group_sender_keys WHERE group_id = ? AND sender = ? AND device = ? AND epoch = ? AND ours = 0').get(b(groupId), sender, device, epoch) as
    | { key: Buffer }
    | undefined;
  return r ? parseTheirSenderKey(s.sealer.open('group_sender_key', [groupId, sender, epoch, 0], new Uint8Array(r.key))) : undefined;
}

/** Whether `device`'s receiving chain of `epoch` still has its row (a delete may have taken it). */
function theirKeyKept(s: Store, groupId: Uint8Array, sender: string, device: number, epoch: number): boolean {
  return s.db.prepare('SELECT 1 FROM group_sender_keys WHERE group_id = ? AND sender = ? AND device = ? AND epoch = ? AND ours = 0').get(b(groupId), sender, device, epoch) !== undefined;
}

interface HeldKey {
  device: number;
  key: TheirSenderKey;
  dirty: boolean;
}

/**
 * The receiving chains a page of frames (incoming.ts IncomingPager) opened group messages with,
 * kept in memory across the page and saved once at its end, in the page's transaction: one load
 * (read, unseal, parse) and one seal and write per chain and page instead of two loads and a save
 * per message (docs/PERFORMANCE.md "Group backlog, round six"). The rules are PageSessions': it
 * holds only chains loaded from their rows and what group messages on the common path did to
 * them; before any other path that reads or writes group_sender_keys (a sender key or group change
 * arriving, a late message, held messages retried) all of it is saved and forgotten, so that path
 * reads the store as it would be without the cache. A frame whose savepoint rolls back takes the
 * cache back with `restore`.
 */
export class PageSenderKeys {
  private held = new Map<string, HeldKey>();

  constructor(private readonly s: Store) {}

  // The sender last: a username cannot then make two chains share an entry.
  private static id(groupId: Uint8Array, sender: string, device: number, epoch: number): string {
    return `${toHex(groupId)}/${device}/${epoch}/${sender}`;
  }

  /** loadTheirKey through the cache. */
  load(groupId: Uint8Array, sender: string, device: number, epoch: number): TheirSenderKey | undefined {
    const id = PageSenderKeys.id(groupId, sender, device, epoch);
    const h = this.held.get(id);
    if (h) return h.key;
    const key = loadTheirKey(this.s, groupId, sender, device, epoch);
    if (key) this.held.set(id, { device, key, dirty: false });
    return key;
  }

  /** saveTheirKey, at the page's end. */
  put(key: TheirSenderKey, device: number): void {
    this.held.set(PageSenderKeys.id(key.groupId, key.sender, device, key.epoch), { device, key, dirty: true });
  }

  /** After rows were deleted (dropExpiredChains): the chains they held are forgotten, unsaved, as they open nothing any more. */
  forgetDeleted(): void {
    for (const [id, h] of this.held) if (!theirKeyKept(this.s, h.key.groupId, h.key.sender, h.device, h.key.epoch)) this.held.delete(id);
  }

  /** Saves every chain that moved and forgets them all (inside the page's transaction). */
  writeBack(): void {
    for (const h of this.held.values()) if (h.dirty) saveTheirKey(this.s, h.key, h.device);
    this.held.clear();
  }

  /** The cache as it is before a frame, for `restore` when that frame's savepoint rolls back. */
  mark(): Map<string, HeldKey> {
    return new Map(this.held);
  }

  restore(m: Map<string, HeldKey>): void {
    this.held = m;
  }
}

export interface Pending {
  seq: number;
  groupId: Uint8Array;
  kind: 'message' | 'sender_key' | 'change';
  sender: string;
  device: number;
  epoch: number;
  body: Uint8Array;
  identity: Uint8Array | null;
  clientId: string;
  sentAt: string;
  receivedAt: string;
  /** The other history's transcript, when held because it is bound to another history (a fork). */
  fork: Uint8Array | null;
}

/** A held item's row key: what it is and which relay frame brought it. */
export function pendingRowKey(p: Pick<Pending, 'groupId' | 'kind' | 'sender' | 'device' | 'epoch' | 'clientId'>): (string | number | Uint8Array)[] {
  return [p.groupId, p.kind, p.sender, p.device, p.epoch, p.clientId];
}

/** Stores a held item; the hold limits are checked by the caller (group-held.ts). */
export function addPending(s: Store, p: Omit<Pending, 'seq'>): void {
  s.db
    .prepare('INSERT INTO group_pending (group_id, kind, sender, device, epoch, body, identity, client_id, sent_at, received_at, bytes, transcript) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run(b(p.groupId), p.kind, p.sender, p.device, p.epoch, b(s.sealer.seal('group_pending', pendingRowKey(p), p.body)), p.identity ? b(p.identity) : null, p.clientId, p.sentAt, p.receivedAt, p.body.length, p.fork ? b(p.fork) : null);
}

/** Held items of one group, records first, then keys, then messages (the order they unblock). */
export function listPending(s: Store, groupId: Uint8Array): Pending[] {
  const rows = s.db
    .prepare("SELECT * FROM group_pending WHERE group_id = ? ORDER BY CASE kind WHEN 'change' THEN 0 WHEN 'sender_key' THEN 1 ELSE 2 END, epoch, seq")
    .all(b(groupId)) as { seq: number; group_id: Buffer; kind: Pending['kind']; sender: string; device: number; epoch: number; body: Buffer; identity: Buffer | null; client_id: string; sent_at: string; received_at: string; transcript: Buffer | null }[];
  return rows.map((r) => ({
    seq: r.seq,
    groupId: new Uint8Array(r.group_id),
    kind: r.kind,
    sender: r.sender,
    device: r.device,
    epoch: r.epoch,
    body: s.sealer.open('group_pending', pendingRowKey({ groupId: new Uint8Array(r.group_id), kind: r.kind, sender: r.sender, device: r.device, epoch: r.epoch, clientId: r.client_id }), new Uint8Array(r.body)),
    identity: r.identity ? new Uint8Array(r.identity) : null,
    clientId: r.client_id,
    sentAt: r.sent_at,
    receivedAt: r.received_at,
    fork: r.transcript ? new Uint8Array(r.transcript) : null,
  }));
}

export function deletePending(s: Store, seq: number): void {
  s.db.prepare('DELETE FROM group_pending WHERE seq = ?').run(seq);
}

export function countPending(s: Store, groupId: Uint8Array): number {
  return (s.db.prepare('SELECT COUNT(*) AS n FROM group_pending WHERE group_id = ?').get(b(groupId)) as { n: number }).n;
}

/** Who is held as being on another history of the group (a fork), by sender and epoch. */
export function pendingForks(s: Store, groupId: Uint8Array): { sender: string; epoch: number; transcript: string }[] {
  const rows = s.db
    .prepare('SELECT DISTINCT sender, epoch, transcript FROM group_pending WHERE group_id = ? AND transcript IS NOT NULL ORDER BY epoch, sender')
    .all(b(groupId)) as { sender: string; epoch: number; transcript: Buffer }[];
  return rows.map((r) => ({ sender: r.sender, epoch: r.epoch, transcript: toHex(new Uint8Array(r.transcript)) }));
}

// ---- labels ------------------------------------------------------------------------------------

/**
 * The name a user types and sees: the group's name, or `name~abcd` (a prefix of the id in hex)
 * when another group we hold has the same name. The prefix grows until it tells them apart.
 */
export function groupLabel(all: StoredGroup[], g: StoredGroup): string {
  const same = all.filter((o) => o.state.name === g.state.name && o.idHex !== g.idHex);
  if (same.length === 0) return g.state.name;
  let n = 4;
  while (n < 64 && same.some((o) => o.idHex.startsWith(g.idHex.slice(0, n)))) n += 2;
  return `${g.state.name}~${g.idHex.slice(0, n)}`;
}

/**
 * The label of a stored group `g` (groupLabel over every group we hold): once per page and group
 * (db.ts pageRead), as each group message is labelled and labelling reads every group's row.
 * saveGroup forgets every label.
 */
export function storedGroupLabel(s: Store, g: StoredGroup): string {
  // The label is of g's id and name and the other groups' names: a `g` read before a change keeps its own.
  return pageRead(s.db, 'group-label', `${g.idHex}/${g.state.name}`, () => groupLabel(listGroups(s), g));
}
