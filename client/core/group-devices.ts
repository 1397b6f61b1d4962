// Groups name accounts, not devices (docs/PROTOCOL.md "Groups", G.1, G.9): a member is listed
// under its *member key*, the account key of an account whose device list we have pinned (our own
// account key, for us), or else one device's identity key (a contact trusted on its identity
// alone). This file answers the one question the group rules ask of devices: which devices are a
// member's. Under an account key, the devices of the list pinned for it (our own kept list, for
// us); under an identity key that a pinned list holds (a group made before account keys named
// members), that list's devices too (the list vouches for the identity, as D.7 item 4); under any
// other identity key, only the device using that identity.
//
// A distribution is accepted from a device of a member only, and a message only from a device of
// a member whose chain came from that device; recipients and key holders are counted per device, so
// a device the account drops from its list stops being one: every member that shared a key with
// it makes a new one before its next send (G.5).
import { isLegacyDeviceList, type DeviceEntry } from '../../crypto/device-list.js';
import { equalBytes } from '../../crypto/encoding.js';
import { memberKey, type GroupAuthor, type GroupState } from '../../crypto/group/index.js';
import type { PublicIdentity } from '../../crypto/identity.js';
import { parsedList, sameDeviceKeys } from './contact-record.js';
import { readContact } from './contacts.js';
import { ourAddress, type Client } from './context.js';
import { ownList } from './fanout.js';
import { sessionDevices } from './sessions.js';

/** The key we list others under: a contact's pinned account key when a list of theirs is pinned, else their identity key. */
export function contactMemberKey(c: Client, user: string): Uint8Array | undefined {
  const rec = readContact(c, user);
  if (rec?.integrity !== 'ok') return undefined;
  if (rec.account && !isLegacyDeviceList(rec.account.list)) return rec.account.key;
  return rec.identity.signPublic;
}

/** Our own member key for new groups: the account key (every device of ours holds it). */
export function ourMemberKey(c: Client): Uint8Array {
  return c.secrets.account?.publicKey ?? c.secrets.identity.signPublic;
}

/**
 * How we sign records of `state` (or of a new group): with the key the state lists us under, the
 * account key or this device's identity. A group that lists us under another device's identity
 * (made before account keys named members) can be changed only from that device.
 */
export function ourAuthor(c: Client, state?: GroupState): GroupAuthor | undefined {
  const user = ourAddress(c).user;
  const account = c.secrets.account;
  const listed = state ? memberKey(state, user) : ourMemberKey(c);
  if (!listed) return undefined;
  if (account && equalBytes(listed, account.publicKey)) return { user, identity: { signPublic: account.publicKey, signPrivate: account.privateKey } };
  if (equalBytes(listed, c.secrets.identity.signPublic)) return { user, identity: c.secrets.identity };
  return undefined;
}

/** Whether `key` is one of ours: the account key, or this device's identity key. */
export function isOurMemberKey(c: Client, key: Uint8Array): boolean {
  return (c.secrets.account !== undefined && equalBytes(key, c.secrets.account.publicKey)) || equalBytes(key, c.secrets.identity.signPublic);
}

/**
 * The list of `user` (our own kept list, for us) that vouches for `key`, or null: the member is one
 * device. Empty when a contact's pinned list of the current format does not hold `key`.
 */
function vouchingList(c: Client, user: string, key: Uint8Array): DeviceEntry[] | null {
  if (user === ourAddress(c).user) {
    const own = ownList(c);
    if (!own) return null;
    const account = c.secrets.account;
    if ((account && equalBytes(key, account.publicKey)) || own.devices.some((d) => equalBytes(d.signPublic, key))) return own.devices;
    return null;
  }
  const rec = readContact(c, user);
  if (rec?.integrity !== 'ok' || !rec.account || isLegacyDeviceList(rec.account.list)) return null;
  const devices = parsedList(rec.account.list).devices.slice();
  if (equalBytes(rec.account.key, key) || devices.some((d) => equalBytes(d.signPublic, key))) return devices;
  // A list of the current format is pinned and does not hold this key: the device it named was
  // removed (or re-keyed), so no device is that member's any more (D.7 item 4, as for pairwise
  // messages): a removed device listed in an older group cannot go on writing as the member.
  return [];
}

/**
 * The devices of the member `user` listed under `key` that a group message or key goes to (this
 * device left out). A member known by one identity only is reached on the devices we have a
 * session with (device 1 when none yet), as before device lists.
 */
export function memberDevices(c: Client, user: string, key: Uint8Array): number[] {
  const me = ourAddress(c);
  const listed = vouchingList(c, user, key);
  if (listed) return listed.map((d) => d.device).filter((d) => !(user === me.user && d === me.device));
  if (user === me.user) return [];
  const sessions = sessionDevices(c.db, c.sealer, user);
  return sessions.length > 0 ? sessions : [1];
}

/**
 * Whether `device`, which proved `identity` over a pairwise session, is a device of the member
 * `user` listed under `key`: a listed device with exactly these keys, or — for a member known by
 * one identity — the device using that identity.
 */
export function deviceOfMember(c: Client, user: string, key: Uint8Array, device: number, identity: PublicIdentity): boolean {
  const listed = vouchingList(c, user, key);
  if (listed) return listed.some((d) => d.device === device && sameDeviceKeys(d, identity));
  return equalBytes(identity.signPublic, key);
}

/**
 * Whether `user` is listed under a key we cannot tie to them yet: no list of theirs is pinned here
 * (a device that learnt of them from its account's other device, say) and `key` is not the
 * identity we pinned. Their lists are then fetched and the item judged again (incoming.ts NeedsLists).
 */
export function memberKeyUnknown(c: Client, user: string, key: Uint8Array): boolean {
  if (user === ourAddress(c).user) return false;
  const rec = readContact(c, user);
  return rec?.integrity === 'ok' && (!rec.account || isLegacyDeviceList(rec.account.list)) && !equalBytes(rec.identity.signPublic, key);
}

/** Whether a group message from `device` may come from the member `user` of `state` (its chain came from that device). */
export function mayBeMemberDevice(c: Client, state: GroupState, user: string, device: number): boolean {
  const key = memberKey(state, user);
  if (!key) return false;
  const listed = vouchingList(c, user, key);
  return listed ? listed.some((d) => d.device === device) : true; // one identity: the chain's own session decided
}

/** Every device a message of ours on `state` goes to: each other member's, and our own others. */
export function groupRecipients(c: Client, state: GroupState): { user: string; device: number }[] {
  return state.members.flatMap((m) => memberDevices(c, m.user, m.signPublic).map((device) => ({ user: m.user, device })));
}
