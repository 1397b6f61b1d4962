// Device lists on the client (docs/PROTOCOL.md "Accounts and devices", D.7): this home publishes
// its account's list, and checks a contact's lists before any identity of theirs is used.
//
// A contact's lists are accepted only through acceptDeviceLists (D.5) against the account key and
// list pinned in the contact record: a relay can serve nothing older, no other history of the same
// key, and no device the account key did not list. A list under another account key is not an
// error here: it is a change the user decides on (contacts.ts observeIdentity, trust.ts verify),
// exactly as a changed identity is. A contact whose relay has no list at all (a client from before
// device lists, or the second implementation of docs/SECOND_CLIENT.md) is trusted on its identity
// alone, as before.
import {
  deviceListHeader,
  acceptDeviceLists,
  firstDeviceList,
  isLegacyDeviceList,
  nextDeviceList,
  parseDeviceList,
  signDeviceEntry,
  type DeviceEntry,
  type DeviceList,
} from '../../crypto/device-list.js';
import { equalBytes } from '../../crypto/encoding.js';
import { isFastchatError } from '../../crypto/errors.js';
import { publicIdentity, type PublicIdentity } from '../../crypto/identity.js';
import { CliError, EXIT } from '../errors.js';
import { listHolds, listHoldsKey, sameDeviceKeys, type PinnedAccount } from './contact-record.js';
import { ourAddress, type Client } from './context.js';
import { observeIdentity, readContact, writeContact } from './contacts.js';
import { tx } from './db.js';
import { dropUnlistedSessions, refreshOwnList } from './fanout.js';
import { accountKeyOf } from './secrets.js';
import { fetchDeviceLists, putDeviceList } from './relay-api.js';
import type { RelayTarget } from './relay-http.js';

/** What the relay's lists for a contact come to, once checked. */
export type ListCheck =
  /** The relay has no list for them and none is pinned: their identity alone, trust on first use. */
  | { kind: 'none' }
  /** Their lists, accepted: under the pinned key (or first seen), newest last; possibly unchanged. */
  | { kind: 'accepted'; account: PinnedAccount; list: DeviceList };

/** A relay serving device lists that break D.5 for the pinned account: nothing is sent. */
export class DeviceListRefused extends CliError {
  constructor(peer: string, why: string) {
    super('device_list_refused', `the relay serves a device list of @${peer} that cannot be accepted (${why}); nothing is sent to @${peer}, and the list you had stays`, {
      exitCode: EXIT.untrusted,
      hint: 'the relay may be attacking you (an old list put back, or a history the account never signed); if it persists, ask @' + peer + ' out of band whether they changed their devices',
    });
  }
}

/** A key the relay serves for a device the contact's account key did not list (or listed with other keys). */
export class DeviceNotListed extends CliError {
  constructor(peer: string, device: number, how: 'absent' | 'other_keys') {
    super(
      'device_not_listed',
      how === 'absent'
        ? `the relay serves a key for device ${device} of @${peer}, which @${peer}'s signed device list does not hold; nothing is sent to @${peer}`
        : `the relay serves a key for device ${device} of @${peer} that differs from the one @${peer}'s signed device list holds; nothing is sent to @${peer}`,
      { exitCode: EXIT.untrusted, hint: 'a relay can add keys but cannot sign a device list: this one is not @' + peer + "'s" },
    );
  }
}

const WHY: Record<string, string> = {
  stale_device_list: 'an older version than the one you accepted',
  fork: 'another list of a version you accepted',
  broken_chain: 'versions missing or not following the one you accepted',
  bad_signature: 'not signed by the account key or by the device it lists',
  wrong_account: "another account's list",
  malformed: 'not a device list',
};

/**
 * `peer`'s lists from the relay against what their contact record pins. The pinned list again (or
 * nothing newer) is `accepted` unchanged; a relay that has no list for a contact whose list is
 * pinned changes nothing (the pinned one is kept: a relay withholding lists only withholds
 * changes). Lists under another account key are checked as a chain of their own from version 1
 * and returned as `accepted` with that key: the caller sees the key differs from the pin.
 */
export async function checkDeviceLists(c: Client, t: RelayTarget, peer: string): Promise<ListCheck> {
  const rec = readContact(c, peer);
  const pin = rec?.integrity === 'ok' ? (rec.account ?? null) : null;
  // A pin from before entry signatures vouches for nothing (D.7): the chain is seen afresh, and
  // one under the pinned key simply replaces it (another key is a change, as ever).
  if (!pin || isLegacyDeviceList(pin.list)) return firstSight(peer, await fetchDeviceLists(t, peer, 0));
  const pinned = parseDeviceList(pin.list);
  // From the pinned version itself: the relay must serve it again byte for byte, then the rest.
  const lists = await fetchDeviceLists(t, peer, pinned.version - 1);
  if (lists.length === 0 || !equalBytes(lists[0]!, pin.list)) {
    // Not the chain we pinned: a new history under a new key, or a relay rewriting ours.
    const all = await fetchDeviceLists(t, peer, 0);
    if (all.length === 0) return { kind: 'accepted', account: pin, list: pinned };
    if (!equalBytes(safeParse(peer, all[0]!).accountKey, pin.key)) return firstSight(peer, all);
    // The same key: D.5 says what is wrong with it (an older version, a fork, a gap).
    accept(peer, pin.key, pinned, lists.length > 0 ? lists : all);
  }
  const list = accept(peer, pin.key, pinned, lists);
  return { kind: 'accepted', account: { key: pin.key, list: lists[lists.length - 1]! }, list };
}

/** First sight of an account key: its whole chain from version 1 must hold together. */
function firstSight(peer: string, lists: Uint8Array[]): ListCheck {
  if (lists.length === 0) return { kind: 'none' };
  const first = safeParse(peer, lists[0]!);
  if (first.version !== 1) throw new DeviceListRefused(peer, `the chain starts at version ${first.version}, not 1`);
  const list = accept(peer, first.accountKey, null, lists);
  return { kind: 'accepted', account: { key: first.accountKey, list: lists[lists.length - 1]! }, list };
}

function accept(peer: string, key: Uint8Array, last: DeviceList | null, lists: Uint8Array[]): DeviceList {
  try {
    return acceptDeviceLists({ user: peer, accountKey: key }, last, lists).list;
  } catch (e) {
    if (isFastchatError(e) && e.code === 'account_key_changed') throw new DeviceListRefused(peer, 'lists under two account keys in one chain');
    if (isFastchatError(e)) throw new DeviceListRefused(peer, WHY[e.code] ?? e.code);
    throw e;
  }
}

function safeParse(peer: string, bytes: Uint8Array): DeviceList {
  try {
    return parseDeviceList(bytes);
  } catch (e) {
    if (isFastchatError(e)) throw new DeviceListRefused(peer, WHY.malformed!);
    throw e;
  }
}

/** The entry of `list` for `device` if it holds exactly `identity`'s keys. */
export function listedEntry(list: DeviceList, device: number, identity: PublicIdentity): DeviceEntry | undefined {
  const e = list.devices.find((d) => d.device === device);
  return e && sameDeviceKeys(e, identity) ? e : undefined;
}

/** Refuses keys the relay serves for a device the accepted list does not hold with those keys. */
export function assertListed(peer: string, check: ListCheck, devices: { address: { device: number }; identity: PublicIdentity }[]): void {
  if (check.kind === 'none') return;
  for (const d of devices) {
    if (listedEntry(check.list, d.address.device, d.identity)) continue;
    throw new DeviceNotListed(peer, d.address.device, check.list.devices.some((e) => e.device === d.address.device) ? 'other_keys' : 'absent');
  }
}

/**
 * Pins `account` for a contact that has none yet, when its
 * list holds the identity pinned for them, signed by that identity for this account key (otherwise
 * that is a change, for a send to find). Trust is kept: a contact verified on its identity number
 * stays verified on the account number, because the verified identity itself signed that it belongs
 * to this account key (D.7), which no one without its private key can do. Call inside a transaction.
 */
export function pinAccount(c: Client, peer: string, account: PinnedAccount): void {
  const rec = readContact(c, peer);
  if (rec?.integrity !== 'ok' || rec.account || rec.trust === 'changed' || !listHolds(account.list, rec.identity)) return;
  writeContact(c, peer, { ...rec, account }, c.now());
}

/**
 * Checks `peer`'s lists now and, when they are under the pinned account key and newer than the
 * pinned list, pins the newest and drops sessions with devices it no longer holds (fan-out, D.13).
 * A list under another key changes nothing here: sending notices it (checkBundles). Returns
 * whether a newer list was pinned.
 */
export async function refreshPinnedList(c: Client, t: RelayTarget, peer: string): Promise<boolean> {
  const check = await checkDeviceLists(c, t, peer);
  if (check.kind !== 'accepted') return false;
  return tx(c.db, () => {
    const rec = readContact(c, peer);
    if (!rec) {
      // Not a contact yet: the frame that asked for the list makes them one (group-receive.ts adopts it then).
      fetchedFirst(c).set(peer, check.account);
      return false;
    }
    if (rec.integrity === 'ok' && !rec.account) return pinFirstList(c, peer, check.account);
    if (rec?.integrity !== 'ok' || !rec.account || rec.trust === 'changed' || !equalBytes(rec.account.key, check.account.key)) return false;
    // Another process may have pinned a newer one meanwhile: never go back.
    // (A pinned list of the first format is replaced by any accepted one: its chain restarted, D.7.)
    if (!isLegacyDeviceList(rec.account.list) && check.list.version <= parseDeviceList(rec.account.list).version) return false;
    writeContact(c, peer, { ...rec, account: check.account }, c.now());
    dropUnlistedSessions(c, peer);
    return true;
  });
}

/** Lists fetched in this process for users who were not contacts yet, per store (bounded by the frames that ask). */
const firstLists = new WeakMap<object, Map<string, PinnedAccount>>();

function fetchedFirst(c: Client): Map<string, PinnedAccount> {
  let m = firstLists.get(c.db);
  if (!m) firstLists.set(c.db, (m = new Map()));
  return m;
}

/**
 * A contact known by identity alone (first seen in a message, or brought by linking) gets their
 * account's list pinned as sending would pin it, when that list holds the pinned identity: a group
 * that names them by their account key can then tell their devices (group-devices.ts).
 */
function pinFirstList(c: Client, peer: string, account: PinnedAccount): boolean {
  const rec = readContact(c, peer);
  if (rec?.integrity !== 'ok' || rec.account || rec.trust === 'changed' || !listHoldsKey(account.list, rec.identity)) return false;
  return observeIdentity(c, peer, rec.identity, c.now(), account) === 'same';
}

/** Pins the list a receive pass fetched for `peer` before they were a contact (refreshPinnedList); call inside a transaction. */
export function adoptFetchedList(c: Client, peer: string): void {
  const account = firstLists.get(c.db)?.get(peer);
  if (account && pinFirstList(c, peer, account)) firstLists.get(c.db)!.delete(peer);
}

/** The pager's list check (incoming.ts NeedsLists): our own account's, or a contact's pinned one. */
export async function refreshListsOf(c: Client, t: RelayTarget, user: string): Promise<void> {
  if (user === ourAddress(c).user) await refreshOwnList(c, t);
  else await refreshPinnedList(c, t, user);
}

// ---- our own account's list -------------------------------------------------------------------

/** The relay holds a list of our account under another account key than this home's. */
export class AccountKeyDiffers extends CliError {
  constructor(user: string) {
    super('account_key_differs', `the relay holds a device list of @${user} signed by another account key than this home's (another home published it); nothing was changed`, {
      hint: `use the home that holds that account key (FASTCHAT_HOME), or run \`fastchat login ${user} --replace-keys\` to start a new device list under this home's key (every contact sees a changed key)`,
    });
  }
}

/**
 * Checks that the relay's lists of our account (if any) are under this home's account key; throws
 * AccountKeyDiffers when they are not (login and register call it before they change anything).
 */
export async function assertOwnAccountKey(c: Client, t: RelayTarget, user: string): Promise<void> {
  // First-format lists count here (D.7 item 7 reads them as no list for trust): the relay's newest
  // list under another key means another home holds the account, whatever its format.
  const lists = await fetchDeviceLists(t, user, 0, { firstFormat: true });
  if (lists.length === 0) return;
  let newest: Uint8Array;
  try {
    newest = deviceListHeader(lists[lists.length - 1]!).accountKey;
  } catch (e) {
    if (isFastchatError(e)) throw new CliError('bad_response', `the relay served a device list of @${user} that does not parse (${e.code})`);
    throw e;
  }
  if (!equalBytes(newest, accountKeyOf(c.secrets).publicKey)) throw new AccountKeyDiffers(user);
}

/**
 * Makes the relay's newest list of our account hold this device with this home's identity: version
 * 1 when the account has none, the next version when this device is missing or listed with other
 * keys. `replace` (keygen --force, login --replace-keys): lists under another account key are
 * replaced by a new version 1 under ours; without it they are AccountKeyDiffers and nothing is
 * uploaded. Returns the version the relay holds now.
 */
export async function publishDeviceList(c: Client, t: RelayTarget, user: string, device: number, opts: { replace?: boolean } = {}): Promise<number> {
  const key = accountKeyOf(c.secrets);
  const id = publicIdentity(c.secrets.identity);
  const me = signDeviceEntry(c.secrets.identity, { user, accountKey: key.publicKey }, device, c.now());
  const lists = await fetchDeviceLists(t, user, 0);
  if (lists.length > 0) {
    const newest = parseDeviceList(lists[lists.length - 1]!);
    if (equalBytes(newest.accountKey, key.publicKey)) {
      const current = acceptDeviceLists({ user, accountKey: key.publicKey }, null, [lists[lists.length - 1]!]).list;
      if (listedEntry(current, device, id)) return current.version;
      // Our identity under another device id: this home is a copy of that device's (a list may not
      // name one identity twice, D.3). The list stays as it is; contacts encrypt to that device only.
      if (current.devices.some((d) => listedEntry(current, d.device, id))) return current.version;
      const next = nextDeviceList(key, current, [...current.devices.filter((d) => d.device !== device), me]);
      await putDeviceList(t, next.bytes);
      return next.list.version;
    }
    if (!opts.replace) throw new AccountKeyDiffers(user);
  }
  // None (or only lists from before entry signatures, which fetchDeviceLists leaves out and the
  // relay replaces with this upload, RELAY.md "Device lists"): version 1.
  const first = firstDeviceList(key, user, [me]);
  await putDeviceList(t, first.bytes, lists.length > 0);
  return 1;
}
