// Applying records to what we store, whether we made them (create, add, remove …) or received them:
// the state, the record chain, each epoch's transcript and keyFloor, and the key rules
// (docs/PROTOCOL.md G.5, G.9): our sending key goes at once when the new state no longer admits it
// (a new one is made at our next send, not now: a change costs nobody else a message); members who
// are out lose every receiving chain at once, whatever its epoch. Callers run these inside one
// transaction.
import { isMember, parseGroupChange, proposeChange, type GroupChange, type GroupOp, type GroupState } from '../../crypto/group/index.js';
import { ourAddress, type Client } from './context.js';
import { CryptoError } from '../../crypto/errors.js';
import { hasOtherDevices } from './fanout.js';
import { ourAuthor } from './group-devices.js';
import { queueRecords, retireStaleKey } from './group-keys.js';
import { appendRecord, deleteOurKeys, deleteTheirKeys, listGroups, loadGroup, loadRecords, saveGroup, startedEpoch, type GroupStatus, type StoredGroup } from './group-store.js';

export interface Applied {
  record: Uint8Array;
  change: GroupChange;
  state: GroupState;
}

/**
 * Stores `applied` (consecutive records, in order) on top of `before` (null for a new group) and
 * returns the new status. Members who are no longer listed lose their receiving chains now: after
 * a change is applied, nothing from them opens as a group message (the old-epoch grace is only for
 * current members).
 */
export function storeApplied(c: Client, before: GroupState | null, applied: Applied[]): GroupStatus {
  const me = ourAddress(c).user;
  const last = applied[applied.length - 1]!.state;
  const groupId = last.groupId;
  const member = isMember(last, me);
  const left = applied.some((a) => a.change.author === me && a.change.change.op === 'leave');
  const status: GroupStatus = member ? 'active' : left ? 'left' : 'removed';
  const now = c.now();
  saveGroup(c, last, status, now);
  for (const a of applied) {
    appendRecord(c, groupId, a.change.epoch, a.record);
    startedEpoch(c, a.state, now);
  }
  const gone = new Set([...(before?.members ?? []), ...applied.flatMap((a) => a.state.members)].map((m) => m.user));
  for (const m of last.members) gone.delete(m.user);
  for (const user of gone) deleteTheirKeys(c, groupId, user, last.epoch);
  if (member) retireStaleKey(c, last);
  else deleteOurKeys(c, groupId);
  return status;
}

/**
 * Signs `change` on the state we hold, stores it and queues it: the new record to everyone who was
 * or is a member (a removed member learns it is out), the whole chain to newcomers (so they can
 * check it from the create record). Throws CryptoError when we may not make the change.
 */
export function commitChange(c: Client, current: StoredGroup, change: GroupOp): StoredGroup {
  const me = ourAddress(c).user;
  const author = ourAuthor(c, current.state);
  if (!author) throw new CryptoError('not_authorized', 'this group lists you under the key of another of your devices (made before account keys named members); change it from that device');
  const { state, record } = proposeChange(current.state, author, change);
  const newcomers = new Set(change.op === 'add' ? change.members.map((m) => m.user) : []);
  const chain = newcomers.size > 0 ? [...loadRecords(c, state.groupId), record] : [];
  const told = new Set([...current.state.members.map((m) => m.user), ...state.members.map((m) => m.user)]);
  // Our other devices apply what this one signs (they are us, G.9 rule 1).
  if (!hasOtherDevices(c)) told.delete(me);
  // Only the records: keys follow lazily, with the first message each member sends on the new state.
  for (const user of told) queueRecords(c, user, newcomers.has(user) ? chain : [record]);
  storeApplied(c, current.state, [{ record, change: parseGroupChange(record), state }]);
  return loadGroup(c, state.groupId)!;
}


/**
 * Every group we are an active member of, as its whole chain, to our own other devices: a device
 * linked since learns them (it is us: G.9 rule 1), one that holds them already finds nothing new.
 * Call inside a transaction.
 */
export function shareGroupsWithOwnDevices(c: Client): void {
  const me = ourAddress(c).user;
  for (const g of listGroups(c)) if (g.status === 'active') queueRecords(c, me, loadRecords(c, g.groupId));
}
