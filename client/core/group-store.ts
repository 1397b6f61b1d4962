// Groups at rest: the state we hold, the record chain, sender keys (ours and theirs) and what is
// held back until the record or key it needs arrives. Every value that is not already public to the
// relay is sealed with the storage key. Callers run these inside the transaction of the message
// that caused them.
import { toHex } from '../../crypto/encoding.js';
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
import type { DB } from './db.js';

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

function fromRow(s: Store, r: GroupRow): StoredGroup {
  const groupId = new Uint8Array(r.group_id);
  return {
    groupId,
    idHex: toHex(groupId),
    state: parseGroupState(s.sealer.open('group_state', [groupId], new Uint8Array(r.state))),
    status: r.status,
    createdAt: r.created_at,
  };
}

export function loadGroup(s: Store, groupId: Uint8Array): StoredGroup | undefined {
  const r = s.db.prepare('SELECT * FROM groups WHERE group_id = ?').get(b(groupId)) as GroupRow | undefined;
  return r ? fromRow(s, r) : undefined;
}

export function listGroups(s: Store): StoredGroup[] {
  return (s.db.prepare('SELECT * FROM groups ORDER BY created_at, group_id').all() as GroupRow[]).map((r) => fromRow(s, r));
}

export function saveGroup(s: Store, state: GroupState, status: GroupStatus, now: number): void {
  s.db
    .prepare(
      'INSERT INTO groups (group_id, state, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_id) DO UPDATE SET state = excluded.state, status = excluded.status, updated_at = excluded.updated_at',
    )
    .run(b(state.groupId), b(s.sealer.seal('group_state', [state.groupId], encodeGroupState(state))), status, now, now);
}

export function appendRecord(s: Store, groupId: Uint8Array, epoch: number, record: Uint8Array): void {
  s.db.prepare('INSERT OR REPLACE INTO group_records (group_id, epoch, record) VALUES (?, ?, ?)').run(b(groupId), epoch, b(s.sealer.seal('group_record', [groupId, epoch], record)));
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

export function saveOurKey(s: Store, k: OurSenderKey): void {
  s.db
    .prepare('INSERT OR REPLACE INTO group_sender_keys (group_id, sender, epoch, ours, key) VALUES (?, ?, ?, 1, ?)')
    .run(b(k.groupId), k.sender, k.epoch, b(s.sealer.seal('group_sender_key', [k.groupId, k.sender, k.epoch, 1], encodeOurSenderKey(k))));
}

export function loadOurKey(s: Store, groupId: Uint8Array, us: string, epoch: number): OurSenderKey | undefined {
  const r = s.db.prepare('SELECT key FROM group_sender_keys WHERE group_id = ? AND sender = ? AND epoch = ? AND ours = 1').get(b(groupId), us, epoch) as { key: Buffer } | undefined;
  return r ? parseOurSenderKey(s.sealer.open('group_sender_key', [groupId, us, epoch, 1], new Uint8Array(r.key))) : undefined;
}

/** Our sending chains end with their epoch: only the current one may ever be used. */
export function deleteOurKeys(s: Store, groupId: Uint8Array): void {
  s.db.prepare('DELETE FROM group_sender_keys WHERE group_id = ? AND ours = 1').run(b(groupId));
}

export function saveTheirKey(s: Store, k: TheirSenderKey): void {
  s.db
    .prepare('INSERT OR REPLACE INTO group_sender_keys (group_id, sender, epoch, ours, key) VALUES (?, ?, ?, 0, ?)')
    .run(b(k.groupId), k.sender, k.epoch, b(s.sealer.seal('group_sender_key', [k.groupId, k.sender, k.epoch, 0], encodeTheirSenderKey(k))));
}

export function loadTheirKey(s: Store, groupId: Uint8Array, sender: string, epoch: number): TheirSenderKey | undefined {
  const r = s.db.prepare('SELECT key FROM group_sender_keys WHERE group_id = ? AND sender = ? AND epoch = ? AND ours = 0').get(b(groupId), sender, epoch) as { key: Buffer } | undefined;
  return r ? parseTheirSenderKey(s.sealer.open('group_sender_key', [groupId, sender, epoch, 0], new Uint8Array(r.key))) : undefined;
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
}

/** A held item's row key: what it is and which relay frame brought it. */
export function pendingRowKey(p: Pick<Pending, 'groupId' | 'kind' | 'sender' | 'device' | 'epoch' | 'clientId'>): (string | number | Uint8Array)[] {
  return [p.groupId, p.kind, p.sender, p.device, p.epoch, p.clientId];
}

export function addPending(s: Store, p: Omit<Pending, 'seq'>): void {
  s.db
    .prepare('INSERT INTO group_pending (group_id, kind, sender, device, epoch, body, identity, client_id, sent_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run(b(p.groupId), p.kind, p.sender, p.device, p.epoch, b(s.sealer.seal('group_pending', pendingRowKey(p), p.body)), p.identity ? b(p.identity) : null, p.clientId, p.sentAt, p.receivedAt);
}

/** Held items of one group, records first, then keys, then messages (the order they unblock). */
export function listPending(s: Store, groupId: Uint8Array): Pending[] {
  const rows = s.db
    .prepare("SELECT * FROM group_pending WHERE group_id = ? ORDER BY CASE kind WHEN 'change' THEN 0 WHEN 'sender_key' THEN 1 ELSE 2 END, epoch, seq")
    .all(b(groupId)) as { seq: number; group_id: Buffer; kind: Pending['kind']; sender: string; device: number; epoch: number; body: Buffer; identity: Buffer | null; client_id: string; sent_at: string; received_at: string }[];
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
  }));
}

export function deletePending(s: Store, seq: number): void {
  s.db.prepare('DELETE FROM group_pending WHERE seq = ?').run(seq);
}

export function countPending(s: Store, groupId: Uint8Array): number {
  return (s.db.prepare('SELECT COUNT(*) AS n FROM group_pending WHERE group_id = ?').get(b(groupId)) as { n: number }).n;
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
