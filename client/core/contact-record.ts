// The sealed contact record: what we decided about a contact's identity key and account key, bound to the username
// (at-rest column `contact`, row key [username]). The plain columns of the contacts table are a
// readable copy; only this record is believed, and a copy that disagrees with it means someone
// edited the file.
import { fingerprintBytes, encodePublicIdentity, parsePublicIdentity, type PublicIdentity } from '../../crypto/identity.js';
import { concat, equalBytes, lp, Reader, u64, u8 } from '../../crypto/encoding.js';
import { FINGERPRINT_BYTES } from '../../crypto/consts.js';
import { accountFingerprintBytes } from '../../crypto/account.js';
import { deviceListVouches, isLegacyDeviceList, parseDeviceList, type DeviceList } from '../../crypto/device-list.js';

export type Trust = 'unverified' | 'verified' | 'changed';

/** A contact's account key and the last device list accepted under it (docs/PROTOCOL.md D.5). */
export interface PinnedAccount {
  key: Uint8Array; // 32, Ed25519
  list: Uint8Array; // the list's bytes as signed
}

export interface ContactRecord {
  identity: PublicIdentity; // the pinned key: first seen, or accepted by the user
  trust: Trust;
  /** The key seen while trust = 'changed', waiting for `verify --accept` or `--reject`. */
  pendingIdentity: PublicIdentity | null;
  /** The trust before the change, restored by `verify --reject`. */
  trustBefore: 'unverified' | 'verified';
  /** Fingerprints (bytes) of keys the user rejected for this contact, newest last. */
  rejected: Uint8Array[];
  addedAt: number;
  /** Pinned with the first device list seen (absent: the contact's relay has none, identity TOFU alone). */
  account?: PinnedAccount | null;
  /** A list under another account key, seen while trust = 'changed', waiting for `verify --accept`. */
  pendingAccount?: PinnedAccount | null;
}

/** Format 1: identity only. Format 2 (written since device lists): and the account pins. */
const RECORD_FORMAT = 2;
const MAX_PINNED_LIST_BYTES = 8192;
/** Rejected keys remembered per contact; the oldest is forgotten beyond this. */
export const MAX_REJECTED_KEYS = 16;
const TRUSTS: readonly Trust[] = ['unverified', 'verified', 'changed'];

export function encodeContactRecord(r: ContactRecord): Uint8Array {
  return concat(
    u8(RECORD_FORMAT),
    lp(encodePublicIdentity(r.identity)),
    u8(TRUSTS.indexOf(r.trust)),
    u8(TRUSTS.indexOf(r.trustBefore)),
    r.pendingIdentity ? concat(u8(1), lp(encodePublicIdentity(r.pendingIdentity))) : u8(0),
    u64(r.addedAt),
    u8(r.rejected.length),
    ...r.rejected,
    pinned(r.account ?? null),
    pinned(r.pendingAccount ?? null),
  );
}

function pinned(a: PinnedAccount | null): Uint8Array {
  return a ? concat(u8(1), a.key, lp(a.list)) : u8(0);
}

function readPinned(r: Reader): PinnedAccount | null {
  if (r.u8() === 0) return null;
  const key = r.bytes(32);
  const list = r.lp();
  if (list.length > MAX_PINNED_LIST_BYTES) throw new Error('pinned device list too long');
  return { key, list };
}

export function parseContactRecord(b: Uint8Array): ContactRecord {
  const r = new Reader(b);
  const format = r.u8();
  if (format !== 1 && format !== RECORD_FORMAT) throw new Error('unknown contact record format');
  const identity = parsePublicIdentity(r.lp());
  const trust = TRUSTS[r.u8()];
  const trustBefore = TRUSTS[r.u8()];
  if (!trust || (trustBefore !== 'unverified' && trustBefore !== 'verified')) throw new Error('bad trust in contact record');
  const pendingIdentity = r.u8() === 1 ? parsePublicIdentity(r.lp()) : null;
  const addedAt = r.u64();
  const rejected: Uint8Array[] = [];
  for (let n = r.u8(); n > 0; n--) rejected.push(r.bytes(FINGERPRINT_BYTES));
  const account = format === 2 ? readPinned(r) : null;
  const pendingAccount = format === 2 ? readPinned(r) : null;
  r.end();
  return { identity, trust, pendingIdentity, trustBefore, rejected, addedAt, account, pendingAccount };
}

export function sameIdentity(a: PublicIdentity, b: PublicIdentity): boolean {
  return equalBytes(encodePublicIdentity(a), encodePublicIdentity(b));
}

// A rejected entry is a fingerprint: an identity's (§5), or for a rejected account key its account
// fingerprint (PROTOCOL.md D.2) — 32 bytes like an identity fingerprint, under another label, so
// the two can never be taken for each other (and the record format does not change).
type Rejectable = { identity: PublicIdentity } | { accountKey: Uint8Array };

function rejectedFp(k: Rejectable): Uint8Array {
  return 'identity' in k ? fingerprintBytes(k.identity) : accountFingerprintBytes(k.accountKey);
}

function isRejectedFp(r: ContactRecord, k: Rejectable): boolean {
  const fp = rejectedFp(k);
  return r.rejected.some((x) => equalBytes(x, fp));
}

/** The list with the key added (once, newest last, bounded). */
function withRejectedFp(list: Uint8Array[], k: Rejectable): Uint8Array[] {
  const fp = rejectedFp(k);
  return [...list.filter((x) => !equalBytes(x, fp)), fp].slice(-MAX_REJECTED_KEYS);
}

function withoutRejectedFp(list: Uint8Array[], k: Rejectable): Uint8Array[] {
  const fp = rejectedFp(k);
  return list.filter((x) => !equalBytes(x, fp));
}

export const isRejected = (r: ContactRecord, identity: PublicIdentity): boolean => isRejectedFp(r, { identity });
export const withRejected = (list: Uint8Array[], identity: PublicIdentity): Uint8Array[] => withRejectedFp(list, { identity });
export const withoutRejected = (list: Uint8Array[], identity: PublicIdentity): Uint8Array[] => withoutRejectedFp(list, { identity });
export const isAccountRejected = (r: ContactRecord, accountKey: Uint8Array): boolean => isRejectedFp(r, { accountKey });
export const withRejectedAccount = (list: Uint8Array[], accountKey: Uint8Array): Uint8Array[] => withRejectedFp(list, { accountKey });
export const withoutRejectedAccount = (list: Uint8Array[], accountKey: Uint8Array): Uint8Array[] => withoutRejectedFp(list, { accountKey });

/**
 * Whether the contact's pinned device list (accepted under the pinned account key) holds `device`
 * with exactly `identity`'s keys: the account key vouches for that device's identity (fan-out).
 */
export function pinnedListHolds(r: ContactRecord, device: number, identity: PublicIdentity): boolean {
  return r.account != null && listHoldsKey(r.account.list, identity, device);
}

/** Whether two sets of device keys are the same (both public keys; a list entry carries no identity self-signature). */
export function sameDeviceKeys(a: { dhPublic: Uint8Array; signPublic: Uint8Array }, b: { dhPublic: Uint8Array; signPublic: Uint8Array }): boolean {
  return equalBytes(a.dhPublic, b.dhPublic) && equalBytes(a.signPublic, b.signPublic);
}

/**
 * Pinned lists parsed, by the very byte array a record holds: every message from a contact asks
 * whether their list holds the sender's keys, and a record reused while unchanged (contacts.ts)
 * keeps its array, so its list is parsed once instead of per message (docs/PERFORMANCE.md
 * "Client cores"). A record read again after a change has new arrays, so nothing stale is found.
 */
const parsedLists = new WeakMap<Uint8Array, DeviceList>();

export function parsedList(list: Uint8Array): DeviceList {
  let parsed = parsedLists.get(list);
  if (parsed === undefined) {
    parsed = parseDeviceList(list);
    parsedLists.set(list, parsed);
  }
  return parsed;
}

/** Whether the device list `list` (bytes, already accepted) holds `identity`: for `device`, or for any device when none is named. */
export function listHoldsKey(list: Uint8Array, identity: PublicIdentity, device?: number): boolean {
  // A pinned list of the first format (before entry signatures, D.7) vouches for nothing.
  if (isLegacyDeviceList(list)) return false;
  return parsedList(list).devices.some((e) => (device === undefined || e.device === device) && sameDeviceKeys(e, identity));
}

/**
 * Whether the list `bytes` holds `identity` in an entry that identity signed for the list's
 * account key (does the account key vouch for it, D.7). A pinned list from before entry
 * signatures holds nothing: its number is the identity's until the contact republishes.
 */
export function listHolds(bytes: Uint8Array, identity: PublicIdentity): boolean {
  return !isLegacyDeviceList(bytes) && deviceListVouches(parsedList(bytes), identity);
}

/**
 * Whether the identity pinned for the contact is still one of their keys: yes, unless a list of the
 * current format is pinned (or about to be: `list`) and no longer holds it. Its device was removed
 * or re-keyed, and from then on only the list's entries are theirs (D.7): a removed device, in a
 * thief's hands and let through by a relay, is not taken as the contact.
 */
export function pinnedIdentityListed(r: ContactRecord, list: Uint8Array | null = r.account?.list ?? null): boolean {
  return list === null || isLegacyDeviceList(list) || listHoldsKey(list, r.identity);
}

/** `identity` as used by `device` is this contact's key: the pinned identity while it is listed, or its pinned list's entry for that device. */
export function contactHolds(r: ContactRecord, device: number, identity: PublicIdentity): boolean {
  return (sameIdentity(r.identity, identity) && pinnedIdentityListed(r)) || pinnedListHolds(r, device, identity);
}
