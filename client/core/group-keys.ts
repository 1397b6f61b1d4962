// Our side of the sender-key rules (docs/PROTOCOL.md G.5): keys are made and shared lazily, at our
// first send on a state, so a membership change costs the admin its records (O(N)) and nobody else
// anything until they speak. At a send, the key we hold serves unless the state's keyFloor has
// passed it (someone was removed or left since it was made) or someone we gave it to is no longer
// a member (a concurrent change undid their add), or a device we gave it to is no longer one of its
// member's (the account removed it); then a new one is made. Either way, every device of every
// member of the state we send on (our own other devices too) that does not hold the key yet gets
// its distribution first: everyone after a new key (O(N)), only the newcomers after an add. The distributions go through the ordinary
// outbox, so they are encrypted per device and retried like text.
import { toBase64url } from '../../crypto/encoding.js';
import { createSenderKey, encodeSenderKeyDistribution, memberKey, senderKeyDistribution, type GroupState, type OurSenderKey } from '../../crypto/group/index.js';
import { ourAddress, type Client } from './context.js';
import { groupRecipients, memberDevices } from './group-devices.js';
import { addKeyHolders, deleteOurKeys, keyHolders, loadOurKey, saveOurKey } from './group-store.js';
import { newMessageId, outboxRowKey } from './outbox.js';
import { encodePayload, type GroupChangePayload, type GroupControlPayload } from './payload.js';

/** Queues a group payload for one peer (stage 1 of the outbox); call inside a transaction. */
export function queueControl(c: Client, peer: string, p: GroupControlPayload): void {
  c.db
    .prepare("INSERT INTO outbox (message_id, kind, peer, payload, created_at) VALUES (?, 'group', ?, ?, ?)")
    .run(p.id, peer, c.sealer.seal('outbox', outboxRowKey(peer, p.id, 'group'), encodePayload(p)), c.now());
}

/** A `group_change` payload carrying `records` (a chain, or the records of one change). */
export function groupChangePayload(c: Client, records: Uint8Array[]): GroupChangePayload {
  return { v: 1, type: 'group_change', id: newMessageId(c), sentAt: new Date(c.now()).toISOString(), records: records.map(toBase64url) };
}

export function queueRecords(c: Client, peer: string, records: Uint8Array[]): void {
  queueControl(c, peer, groupChangePayload(c, records));
}

/**
 * Whether our key may still be used on `state`: made no earlier than its keyFloor, and held by
 * members' devices only. A device its account dropped from its list (ours included) is no longer
 * one of the member's: our key must not open what we send next (G.5).
 */
function serves(c: Client, state: GroupState, ours: OurSenderKey): boolean {
  if (ours.epoch < state.keyFloor || ours.epoch > state.epoch) return false;
  for (const holder of keyHolders(c, state.groupId, ours.epoch)) {
    const key = memberKey(state, holder.user);
    if (!key) return false;
    if (holder.device !== null && !memberDevices(c, holder.user, key).includes(holder.device)) return false;
  }
  return true;
}

/**
 * After a change is applied: a key the new state no longer admits is deleted at once, so a
 * removal rotates our key before our next send whatever happens meanwhile (and the old chain key
 * does not stay on disk). Call inside the transaction that stores the state.
 */
export function retireStaleKey(c: Client, state: GroupState): void {
  const ours = loadOurKey(c, state.groupId, ourAddress(c).user);
  if (ours && !serves(c, state, ours)) deleteOurKeys(c, state.groupId);
}

/**
 * Our key for a message on `state` (a new one when the one we hold does not serve it), with its
 * distribution queued, at the key's current position, for every member of `state` who does not
 * hold it yet. Returns the key and whom it was just queued for. Call inside the transaction that
 * encrypts the message, so the message never leaves without the key being on its way.
 */
export function keyForSend(c: Client, state: GroupState): { ours: OurSenderKey; sharedWith: string[] } {
  const me = ourAddress(c).user;
  let ours = loadOurKey(c, state.groupId, me);
  if (!ours || !serves(c, state, ours)) {
    deleteOurKeys(c, state.groupId);
    ours = createSenderKey(state, me, c.random);
    saveOurKey(c, ours);
  }
  const holders = keyHolders(c, state.groupId, ours.epoch);
  const held = new Set(holders.map((h) => `${h.user}/${h.device ?? ''}`));
  const wholeMember = new Set(holders.filter((h) => h.device === null).map((h) => h.user));
  // Per device, our own other devices included (they read what we send). A distribution goes to
  // the member's account (the outbox encrypts it for each of its devices); a device that has it
  // already keeps its chain where it is (group-receive.ts).
  const devices = groupRecipients(c, state);
  const users = [...new Set(devices.filter((d) => !held.has(`${d.user}/${d.device}`) && !wholeMember.has(d.user)).map((d) => d.user))];
  if (users.length > 0) {
    const distribution = toBase64url(encodeSenderKeyDistribution(senderKeyDistribution(ours, state)));
    const sentAt = new Date(c.now()).toISOString();
    for (const user of users) queueControl(c, user, { v: 1, type: 'sender_key', id: newMessageId(c), sentAt, distribution });
    addKeyHolders(c, state.groupId, ours.epoch, devices.filter((d) => users.includes(d.user)));
  }
  return { ours, sharedWith: users };
}
