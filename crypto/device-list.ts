// The signed device list: which devices (id and identity keys) belong to an account, signed by the
// account key (crypto/account.ts) and hash-chained version to version. The relay stores and serves
// the lists but holds no key that can sign one, so it can neither add a device nor, against a
// contact that remembers the last list it accepted, serve an older list or splice two histories.
//
// Each entry also carries its device's own signature binding it to the account (deviceAccount):
// only the holder of a device's identity key can put that identity in a list, so an account key
// that lists an identity is one that identity vouched for (docs/PROTOCOL.md D.3, D.7).
//
// Spec: docs/PROTOCOL.md "Accounts and devices". Names match it one to one.
import {
  ACCOUNT_FORMAT_TAGS,
  DEVICE_LIST_HASH_BYTES,
  DEVICE_LIST_VERSION,
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  LABELS,
  MAX_DEVICES,
  X25519_KEY_BYTES,
} from './consts.js';
import { concat, equalBytes, fromUtf8, isAllZero, lp, Reader, toHex, u32, u64, u8, utf8 } from './encoding.js';
import { CryptoError } from './errors.js';
import { sign, verify, type IdentityKeyPair } from './identity.js';
import { sodium } from './sodium.js';
import { fixed, isValidDeviceId, isValidUsername } from './types.js';
import type { Account, AccountKeyPair } from './account.js';

/** One device of an account: its id in addresses, its identity public keys, when it was added. */
export interface DeviceEntry {
  device: number; // 1..DEVICE_ID_MAX
  dhPublic: Uint8Array; // 32, the device identity's X25519 key
  signPublic: Uint8Array; // 32, the device identity's Ed25519 key
  addedAt: number; // ms since the epoch, as the signing device's clock said; shown, never enforced
  /** 64, Ed25519 by signPublic over deviceAccountMessage: the device itself says it is of this account. */
  accountSignature: Uint8Array;
}

/** A parsed device list (structure only until verifyDeviceList has run on its bytes). */
export interface DeviceList {
  user: string;
  accountKey: Uint8Array; // 32, the key that signed it
  version: number; // 1.., +1 per change
  prevHash: Uint8Array; // deviceListHash of version − 1; zeros at version 1
  devices: DeviceEntry[]; // 1..MAX_DEVICES, strictly ascending by device id
  signature: Uint8Array; // 64
  body: Uint8Array; // what the signature covers and the hash is of (everything before the signature)
}

/** What changed from one accepted list to the next; `changed` keeps its id but not its keys. */
export interface DeviceListDiff {
  added: DeviceEntry[];
  removed: DeviceEntry[];
  changed: { before: DeviceEntry; after: DeviceEntry }[];
}

const ZERO_HASH = new Uint8Array(DEVICE_LIST_HASH_BYTES);
/** u32 device || dhPublic || signPublic || u64 addedAt || accountSignature */
const ENTRY_BYTES = 4 + X25519_KEY_BYTES + ED25519_PUBLIC_KEY_BYTES + 8 + ED25519_SIGNATURE_BYTES;

// ---- a device's own word: the entry signature ---------------------------------------------------

/**
 * What a device signs to be listed: utf8(LABELS.deviceAccount) || accountKey[32] || lp(utf8(user))
 * || u32(device) || dhPublic[32]. Not the list version or addedAt, so the signature stays valid
 * from one version of the list to the next and is carried forward unchanged.
 */
export function deviceAccountMessage(account: Account, device: number, dhPublic: Uint8Array): Uint8Array {
  if (!isValidUsername(account.user)) throw new CryptoError('invalid_argument', `invalid username: ${JSON.stringify(account.user)}`);
  if (!isValidDeviceId(device)) throw new CryptoError('invalid_argument', `invalid device id ${device}`);
  return concat(utf8(LABELS.deviceAccount), fixed(account.accountKey, ED25519_PUBLIC_KEY_BYTES), lp(utf8(account.user)), u32(device), fixed(dhPublic, X25519_KEY_BYTES));
}

/** This device's entry for `account`'s list, signed with its own identity (the only key that can). */
export function signDeviceEntry(identity: IdentityKeyPair, account: Account, device: number, addedAt: number): DeviceEntry {
  const accountSignature = sign(identity, deviceAccountMessage(account, device, identity.dh.publicKey));
  return { device, dhPublic: identity.dh.publicKey.slice(), signPublic: identity.signPublic.slice(), addedAt, accountSignature };
}

/** Whether `entry` carries its own device's signature for `account` (never throws). */
export function deviceEntrySigned(account: Account, entry: DeviceEntry): boolean {
  if (!isValidUsername(account.user) || account.accountKey.length !== ED25519_PUBLIC_KEY_BYTES || !isValidDeviceId(entry.device) || entry.dhPublic.length !== X25519_KEY_BYTES) return false;
  return verify(entry.signPublic, deviceAccountMessage(account, entry.device, entry.dhPublic), entry.accountSignature);
}

/**
 * Whether `list` holds exactly these identity keys in an entry that identity signed for the list's
 * account: the account key then speaks for an identity that said it belongs to it (D.7). A list
 * verifyDeviceList accepted always does for the identities it names; this checks again for callers
 * that hold list bytes from storage.
 */
export function deviceListVouches(list: DeviceList, identity: { dhPublic: Uint8Array; signPublic: Uint8Array }): boolean {
  return list.devices.some((d) => equalBytes(d.dhPublic, identity.dhPublic) && equalBytes(d.signPublic, identity.signPublic) && deviceEntrySigned(list, d));
}

/** The device list version before entry signatures (D.3). */
const LEGACY_DEVICE_LIST_VERSION = 1;

/** Whether a version-1 list (before entry signatures): refused by the parser, read as no list by clients (D.7). */
export function isLegacyDeviceList(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === LEGACY_DEVICE_LIST_VERSION && bytes[1] === ACCOUNT_FORMAT_TAGS.deviceList;
}

/**
 * The user and account key a list of either format names (the two formats share D.3's header up to
 * the account key), checked for nothing else: not the signature, not the entries. For one question
 * only — "is the relay's newest list of our account under this home's key" (D.7 item 1) — which
 * must see a first-format list too: a home with another key must not take such an account over
 * with a plain login. Never a reason to trust a key.
 */
export function deviceListHeader(bytes: Uint8Array): { user: string; accountKey: Uint8Array } {
  const r = new Reader(bytes);
  const format = r.u8();
  if (format !== DEVICE_LIST_VERSION && format !== LEGACY_DEVICE_LIST_VERSION) throw new CryptoError('unsupported_version', `device list: unsupported version ${format}`);
  if (r.u8() !== ACCOUNT_FORMAT_TAGS.deviceList) throw new CryptoError('malformed', 'device list: wrong format tag');
  const user = fromUtf8(r.lp());
  if (!isValidUsername(user)) throw new CryptoError('malformed', 'device list: invalid username');
  return { user, accountKey: r.bytes(ED25519_PUBLIC_KEY_BYTES) };
}

// ---- encoding ---------------------------------------------------------------------------------

/** Sorted copy; refuses what no list may hold, as the parser does, but as the caller's bug. */
function canonicalDevices(devices: DeviceEntry[]): DeviceEntry[] {
  const out = [...devices].sort((a, b) => a.device - b.device);
  const problem = devicesProblem(out);
  if (problem !== null) throw new CryptoError('invalid_argument', problem);
  return out.map((d) => ({ device: d.device, dhPublic: d.dhPublic.slice(), signPublic: d.signPublic.slice(), addedAt: d.addedAt, accountSignature: d.accountSignature.slice() }));
}

/** The rules every list's device entries obey; null when they do. Shared by encoder and parser. */
function devicesProblem(devices: DeviceEntry[]): string | null {
  if (devices.length < 1 || devices.length > MAX_DEVICES) return `a device list names 1..${MAX_DEVICES} devices, not ${devices.length}`;
  const keys = new Set<string>();
  for (let i = 0; i < devices.length; i++) {
    const d = devices[i]!;
    if (!isValidDeviceId(d.device)) return `invalid device id ${d.device}`;
    if (i > 0 && devices[i - 1]!.device >= d.device) return `device ${d.device} is listed twice or out of order`;
    if (!(d.dhPublic instanceof Uint8Array) || d.dhPublic.length !== X25519_KEY_BYTES) return `device ${d.device}: dh key must be 32 bytes`;
    if (!(d.signPublic instanceof Uint8Array) || d.signPublic.length !== ED25519_PUBLIC_KEY_BYTES) return `device ${d.device}: signing key must be 32 bytes`;
    if (!(d.accountSignature instanceof Uint8Array) || d.accountSignature.length !== ED25519_SIGNATURE_BYTES) return `device ${d.device}: its signature must be 64 bytes`;
    // One identity on two device ids would make a message to one readable as the other's.
    for (const k of ['d' + toHex(d.dhPublic), 's' + toHex(d.signPublic)]) {
      if (keys.has(k)) return `device ${d.device} repeats another device's identity key`;
      keys.add(k);
    }
  }
  return null;
}

function writeEntry(d: DeviceEntry): Uint8Array {
  return concat(u32(d.device), d.dhPublic, d.signPublic, u64(d.addedAt), d.accountSignature);
}

function readEntry(r: Reader): DeviceEntry {
  const device = r.u32();
  const dhPublic = r.bytes(X25519_KEY_BYTES);
  const signPublic = r.bytes(ED25519_PUBLIC_KEY_BYTES);
  const addedAt = r.u64();
  const accountSignature = r.bytes(ED25519_SIGNATURE_BYTES);
  return { device, dhPublic, signPublic, addedAt, accountSignature };
}

/**
 * body = version || tag || lp(utf8(user)) || accountKey[32] || u32(listVersion) || prevHash[32]
 *        || u8(n) || (u32(device) || dhPublic[32] || signPublic[32] || u64(addedAt) || accountSignature[64]) × n
 */
function deviceListBody(fields: { user: string; accountKey: Uint8Array; version: number; prevHash: Uint8Array; devices: DeviceEntry[] }): Uint8Array {
  if (!isValidUsername(fields.user)) throw new CryptoError('invalid_argument', `invalid username: ${JSON.stringify(fields.user)}`);
  if (!Number.isInteger(fields.version) || fields.version < 1) throw new CryptoError('invalid_argument', `device list version must be ≥ 1, not ${fields.version}`);
  const devices = canonicalDevices(fields.devices);
  return concat(
    u8(DEVICE_LIST_VERSION),
    u8(ACCOUNT_FORMAT_TAGS.deviceList),
    lp(utf8(fields.user)),
    fixed(fields.accountKey, ED25519_PUBLIC_KEY_BYTES),
    u32(fields.version),
    fixed(fields.prevHash, DEVICE_LIST_HASH_BYTES),
    u8(devices.length),
    ...devices.map(writeEntry),
  );
}

/** The bytes the account key signs: utf8(LABELS.deviceListSignature) || body. */
export function deviceListSignatureMessage(body: Uint8Array): Uint8Array {
  return concat(utf8(LABELS.deviceListSignature), body);
}

/**
 * list = body || Ed25519(accountKey, deviceListSignatureMessage(body)). Nothing is checked against
 * a previous list, nor the entries' own signatures (verifyDeviceList does; the list makers below
 * refuse an entry whose signature does not verify).
 */
export function signDeviceList(
  accountKey: AccountKeyPair,
  fields: { user: string; version: number; prevHash: Uint8Array; devices: DeviceEntry[] },
): Uint8Array {
  const body = deviceListBody({ ...fields, accountKey: accountKey.publicKey });
  fixed(accountKey.privateKey, 64);
  return concat(body, sodium().crypto_sign_detached(deviceListSignatureMessage(body), accountKey.privateKey));
}

/**
 * Structure only: version and tag first, the device count before any entry (so a huge count costs
 * nothing), every length, canonical order, no trailing bytes. The signature is not checked here.
 */
export function parseDeviceList(bytes: Uint8Array): DeviceList {
  const r = new Reader(bytes);
  // Version first (a version-1 list has shorter entries and must not be misread), then the tag.
  const format = r.u8();
  if (format !== DEVICE_LIST_VERSION) throw new CryptoError('unsupported_version', `device list: unsupported version ${format}`);
  if (r.u8() !== ACCOUNT_FORMAT_TAGS.deviceList) throw new CryptoError('malformed', 'device list: wrong format tag');
  const user = fromUtf8(r.lp());
  if (!isValidUsername(user)) throw new CryptoError('malformed', 'device list: invalid username');
  const accountKey = r.bytes(ED25519_PUBLIC_KEY_BYTES);
  const version = r.u32();
  if (version < 1) throw new CryptoError('malformed', 'device list: version 0');
  const prevHash = r.bytes(DEVICE_LIST_HASH_BYTES);
  const n = r.u8();
  if (n < 1 || n > MAX_DEVICES) throw new CryptoError('malformed', `device list: ${n} devices, a list names 1..${MAX_DEVICES}`);
  if (r.remaining !== n * ENTRY_BYTES + ED25519_SIGNATURE_BYTES) throw new CryptoError('malformed', 'device list: wrong length for its device count');
  const devices: DeviceEntry[] = [];
  for (let i = 0; i < n; i++) devices.push(readEntry(r));
  const body = bytes.slice(0, bytes.length - r.remaining);
  const signature = r.bytes(ED25519_SIGNATURE_BYTES);
  r.end();
  const problem = devicesProblem(devices);
  if (problem !== null) throw new CryptoError('malformed', `device list: ${problem}`);
  return { user, accountKey, version, prevHash, devices, signature, body };
}

/** deviceListHash = BLAKE2b-256(utf8(LABELS.deviceListHash) || body): the prevHash of the next version. */
export function deviceListHash(list: DeviceList): Uint8Array {
  return sodium().crypto_generichash(DEVICE_LIST_HASH_BYTES, concat(utf8(LABELS.deviceListHash), list.body), null);
}

// ---- verifying --------------------------------------------------------------------------------

/**
 * One list on its own, for the account pinned: parse; the user (wrong_account); the account key it
 * names is the pinned one (account_key_changed: a relay's own key, or the account really changed
 * it — the caller treats it like an identity change); the signature under the pinned key
 * (bad_signature); every entry signed by its own device for this account (bad_signature: a list
 * naming an identity that never said it belongs to this account key, e.g. a relay's own key
 * listing someone's real identity); a version-1 list starts the chain (broken_chain).
 * `checked`: entries (encoded) already verified under this account, skipped (acceptDeviceLists).
 */
export function verifyDeviceList(account: Account, bytes: Uint8Array, checked?: Set<string>): DeviceList {
  const list = parseDeviceList(bytes);
  if (list.user !== account.user) throw new CryptoError('wrong_account', `device list is for ${list.user}, not ${account.user}`);
  if (!equalBytes(list.accountKey, fixed(account.accountKey, ED25519_PUBLIC_KEY_BYTES))) {
    throw new CryptoError('account_key_changed', `device list of ${account.user} is under another account key`);
  }
  if (!verify(account.accountKey, deviceListSignatureMessage(list.body), list.signature)) {
    throw new CryptoError('bad_signature', `device list of ${account.user} is not signed by its account key`);
  }
  for (const d of list.devices) {
    const key = checked === undefined ? '' : toHex(writeEntry(d));
    if (checked?.has(key)) continue;
    if (!deviceEntrySigned(account, d)) {
      throw new CryptoError('bad_signature', `device ${d.device} in the device list of ${account.user} did not sign that it belongs to this account key`);
    }
    checked?.add(key);
  }
  if (list.version === 1 && !isAllZero(list.prevHash)) throw new CryptoError('broken_chain', 'device list version 1 has a previous hash');
  return list;
}

/**
 * The lists a relay served, in order, against the last list accepted for this account (`null` on
 * first contact: the first list is then taken as it is, trust coming from the pinned key). Each
 * list must be the last one again, byte for byte (a refetch), or the next version whose prevHash is
 * the hash of the one before. Refused: an older version (stale_device_list), another list of the
 * same version (fork), a skipped version or a wrong prevHash (broken_chain), and everything
 * verifyDeviceList refuses. All or nothing: on any error nothing is accepted and the caller keeps
 * `last`. Returns the newest list and what changed from `last` to it.
 */
export function acceptDeviceLists(account: Account, last: DeviceList | null, lists: Uint8Array[]): { list: DeviceList; diff: DeviceListDiff } {
  if (lists.length === 0) throw new CryptoError('invalid_argument', 'no device list to accept');
  if (last !== null && (last.user !== account.user || !equalBytes(last.accountKey, account.accountKey))) {
    throw new CryptoError('invalid_argument', 'the last accepted list is of another account');
  }
  let current = last;
  // An entry carried forward unchanged is checked once per call (the user and account key it is
  // signed for are the same in every list here): a chain of k lists costs k + (devices) checks.
  const checked = new Set<string>();
  for (const bytes of lists) {
    const next = verifyDeviceList(account, bytes, checked);
    if (current !== null) checkSuccessor(current, next);
    current = next;
  }
  return { list: current!, diff: diffDeviceLists(last, current!) };
}

function checkSuccessor(current: DeviceList, next: DeviceList): void {
  if (next.version < current.version) {
    throw new CryptoError('stale_device_list', `device list version ${next.version} is older than the accepted version ${current.version}`);
  }
  if (next.version === current.version) {
    // Two different lists signed for one version: two devices changed the list at once, or the
    // account key signed two histories. Either way the accepted one stays; the user is told.
    if (!equalBytes(next.body, current.body)) throw new CryptoError('fork', `two different device lists of version ${next.version}`);
    return;
  }
  if (next.version !== current.version + 1) {
    throw new CryptoError('broken_chain', `device list versions ${current.version + 1}..${next.version - 1} are missing`);
  }
  if (!equalBytes(next.prevHash, deviceListHash(current))) {
    throw new CryptoError('broken_chain', `device list version ${next.version} does not follow version ${current.version}`);
  }
}

/** Added, removed and changed devices by id; everything in `after` is added when `before` is null. */
export function diffDeviceLists(before: DeviceList | null, after: DeviceList): DeviceListDiff {
  const old = new Map((before?.devices ?? []).map((d) => [d.device, d]));
  const now = new Map(after.devices.map((d) => [d.device, d]));
  const diff: DeviceListDiff = { added: [], removed: [], changed: [] };
  for (const d of after.devices) {
    const o = old.get(d.device);
    if (o === undefined) diff.added.push(d);
    else if (!equalBytes(writeEntry(o), writeEntry(d))) diff.changed.push({ before: o, after: d });
  }
  for (const o of before?.devices ?? []) if (!now.has(o.device)) diff.removed.push(o);
  return diff;
}

// ---- making lists -----------------------------------------------------------------------------

/** Version 1 of an account's list: what the account's first device signs. */
export function firstDeviceList(accountKey: AccountKeyPair, user: string, devices: DeviceEntry[]): { list: DeviceList; bytes: Uint8Array } {
  const bytes = signDeviceList(accountKey, { user, version: 1, prevHash: ZERO_HASH, devices });
  return { list: verifyDeviceList({ user, accountKey: accountKey.publicKey }, bytes), bytes };
}

/**
 * The next version after `current` with `devices` (the whole new set), verified exactly as a
 * contact will verify it, so a list the contacts would refuse is refused here.
 */
export function nextDeviceList(accountKey: AccountKeyPair, current: DeviceList, devices: DeviceEntry[]): { list: DeviceList; bytes: Uint8Array } {
  const bytes = signDeviceList(accountKey, { user: current.user, version: current.version + 1, prevHash: deviceListHash(current), devices });
  const { list } = acceptDeviceLists({ user: current.user, accountKey: accountKey.publicKey }, current, [bytes]);
  return { list, bytes };
}
