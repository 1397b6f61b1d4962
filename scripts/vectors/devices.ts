// Accounts and device lists (crypto/account.ts, crypto/device-list.ts) from fixed seeds: an account
// key with its fingerprint and safety-number half, a chain of three lists (a device linked, then
// the first removed and a third linked) with every body, signature and hash, and lists a contact
// must refuse, each with the last list it holds and the error code it must get. Every entry carries
// its device's own signature binding it to alice's account key (D.3).
import { ACCOUNT_FORMAT_TAGS, DEVICE_LIST_VERSION, LABELS, MAX_DEVICES } from '../../crypto/consts.js';
import { concat, lp, u32, u64, u8, utf8 } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import { sodium } from '../../crypto/sodium.js';
import {
  accountFingerprint,
  accountFingerprintBytes,
  accountSafetyNumber,
  accountSafetyNumberHalf,
  encodeAccountKeyPair,
  generateAccountKey,
  type AccountKeyPair,
} from '../../crypto/account.js';
import { generateIdentity, sign, type IdentityKeyPair } from '../../crypto/identity.js';
import {
  acceptDeviceLists,
  deviceAccountMessage,
  deviceListHash,
  firstDeviceList,
  nextDeviceList,
  signDeviceEntry,
  type DeviceEntry,
  type DeviceList,
} from '../../crypto/device-list.js';
import { seededRandom } from './seeded.js';

export const description =
  'Accounts and device lists: account key = Ed25519 from the 32-byte seed drawn from "devices/<user>/account"; account fingerprint = BLAKE2b-256(utf8(account fingerprint label) || key); account safety-number half as the identity half (PROTOCOL.md §5) under the account label and fingerprint; device n of alice is the identity drawn from "devices/alice/device-<n>", added at 1767225600000 + n * 60000, its accountSignature = Ed25519(device identity, utf8(device-account label) || alice account key || lp(utf8("alice")) || u32(n) || dhPublic); list = body || Ed25519(account key, utf8(signature label) || body), prevHash of version v+1 = BLAKE2b-256(utf8(hash label) || body of v); refused lists with the version of the chain held (0 = none) and their error code.';

export const ADDED_AT_BASE = 1_767_225_600_000;

/** Alice's device n's identity, from its own seed, so a second implementation can rebuild it. */
export function vectorIdentity(n: number): IdentityKeyPair {
  return generateIdentity(seededRandom(`devices/alice/device-${n}`));
}

/** Alice's device n, its entry signed for alice's account key `accountKey`. */
export function vectorDevice(n: number, accountKey: Uint8Array): DeviceEntry {
  return signDeviceEntry(vectorIdentity(n), { user: 'alice', accountKey }, n, ADDED_AT_BASE + n * 60_000);
}

/**
 * A list signed by `key` over any fields at all, bypassing every check of the encoder: what a
 * hostile or buggy signer could make. Shared by the vectors and crypto/device-list.test.ts.
 */
export function rawDeviceList(
  key: AccountKeyPair,
  o: { version?: number; tag?: number; user?: string; accountKey?: Uint8Array; listVersion?: number; prevHash?: Uint8Array; count?: number; entries: DeviceEntry[]; legacyEntries?: boolean },
): Uint8Array {
  const body = concat(
    u8(o.version ?? DEVICE_LIST_VERSION),
    u8(o.tag ?? ACCOUNT_FORMAT_TAGS.deviceList),
    lp(utf8(o.user ?? 'alice')),
    o.accountKey ?? key.publicKey,
    u32(o.listVersion ?? 1),
    o.prevHash ?? new Uint8Array(32),
    u8(o.count ?? o.entries.length),
    // legacyEntries: version 1's 76-byte entries, without the device's signature.
    ...o.entries.map((d) => concat(u32(d.device), d.dhPublic, d.signPublic, u64(d.addedAt), o.legacyEntries ? new Uint8Array(0) : d.accountSignature)),
  );
  return concat(body, sodium().crypto_sign_detached(concat(utf8(LABELS.deviceListSignature), body), key.privateKey));
}

function refusal(alice: AccountKeyPair, held: DeviceList | null, list: Uint8Array): string {
  try {
    acceptDeviceLists({ user: 'alice', accountKey: alice.publicKey }, held, [list]);
  } catch (e) {
    if (isCryptoError(e)) return e.code;
    throw e;
  }
  throw new Error('vector list was accepted');
}

function accountVector(user: string, kp: AccountKeyPair) {
  return {
    user,
    seed: `devices/${user}/account`,
    publicKey: kp.publicKey,
    accountKeyPairEncoded: encodeAccountKeyPair(kp),
    fingerprintBytes: accountFingerprintBytes(kp.publicKey),
    fingerprint: accountFingerprint(kp.publicKey),
    safetyNumberHalf: accountSafetyNumberHalf({ user, accountKey: kp.publicKey }),
  };
}

export function generate(): unknown {
  const alice = generateAccountKey(seededRandom('devices/alice/account'));
  const bob = generateAccountKey(seededRandom('devices/bob/account'));
  const mallory = generateAccountKey(seededRandom('devices/mallory/account'));
  const devices = Array.from({ length: MAX_DEVICES + 1 }, (_, i) => vectorDevice(i + 1, alice.publicKey));
  const d = (n: number) => devices[n - 1]!;
  // Entries whose device signature does not say "device n of alice under alice's account key".
  const resigned = (n: number, f: { key?: IdentityKeyPair; accountKey?: Uint8Array; device?: number }): DeviceEntry => ({
    ...d(n),
    accountSignature: sign(f.key ?? vectorIdentity(n), deviceAccountMessage({ user: 'alice', accountKey: f.accountKey ?? alice.publicKey }, f.device ?? n, d(n).dhPublic)),
  });
  const mallorysDevice = generateIdentity(seededRandom('devices/mallory/device-1'));

  const v1 = firstDeviceList(alice, 'alice', [d(1)]);
  const v2 = nextDeviceList(alice, v1.list, [d(1), d(2)]);
  const v3 = nextDeviceList(alice, v2.list, [d(2), d(3)]);
  const chain = [v1, v2, v3];

  const refused: { name: string; held: number; list: Uint8Array; expect?: string }[] = [
    { name: 'signed_by_another_account_key', held: 1, list: rawDeviceList(mallory, { listVersion: 2, prevHash: deviceListHash(v1.list), entries: [d(1), d(9)] }) },
    { name: 'names_the_pinned_key_signed_by_another', held: 1, list: rawDeviceList(mallory, { accountKey: alice.publicKey, listVersion: 2, prevHash: deviceListHash(v1.list), entries: [d(1), d(9)] }) },
    { name: 'another_accounts_list', held: 0, list: rawDeviceList(alice, { user: 'bob', entries: [d(1)] }) },
    { name: 'rollback', held: 3, list: v2.bytes },
    { name: 'fork', held: 2, list: rawDeviceList(alice, { listVersion: 2, prevHash: deviceListHash(v1.list), entries: [d(1), d(9)] }) },
    { name: 'skipped_version', held: 1, list: v3.bytes },
    { name: 'wrong_previous_hash', held: 2, list: rawDeviceList(alice, { listVersion: 3, prevHash: deviceListHash(v1.list), entries: [d(2), d(3)] }) },
    { name: 'first_version_with_previous_hash', held: 0, list: rawDeviceList(alice, { prevHash: deviceListHash(v1.list), entries: [d(1)] }) },
    { name: 'too_many_devices', held: 0, list: rawDeviceList(alice, { entries: devices }) },
    { name: 'duplicate_device_id', held: 0, list: rawDeviceList(alice, { entries: [d(1), { ...d(2), device: 1 }] }) },
    { name: 'one_identity_on_two_devices', held: 0, list: rawDeviceList(alice, { entries: [d(1), { ...d(1), device: 2 }] }) },
    // The account key lists device 2's keys, but device 2 never signed for it (D.3 entry signatures).
    { name: 'entry_signed_by_another_key', held: 1, list: rawDeviceList(alice, { listVersion: 2, prevHash: deviceListHash(v1.list), entries: [d(1), resigned(2, { key: mallorysDevice })] }) },
    { name: 'entry_signature_missing', held: 1, list: rawDeviceList(alice, { listVersion: 2, prevHash: deviceListHash(v1.list), entries: [d(1), { ...d(2), accountSignature: new Uint8Array(64) }] }) },
    { name: 'entry_signed_for_another_account_key', held: 1, list: rawDeviceList(alice, { listVersion: 2, prevHash: deviceListHash(v1.list), entries: [d(1), resigned(2, { accountKey: mallory.publicKey })] }) },
    { name: 'entry_signed_for_another_device_id', held: 1, list: rawDeviceList(alice, { listVersion: 2, prevHash: deviceListHash(v1.list), entries: [d(1), resigned(2, { device: 3 })] }) },
    { name: 'version_1_list_without_entry_signatures', held: 0, list: rawDeviceList(alice, { version: 1, entries: [d(1)], legacyEntries: true }) },
  ];

  return {
    labels: {
      deviceListSignature: utf8(LABELS.deviceListSignature),
      deviceListHash: utf8(LABELS.deviceListHash),
      deviceAccount: utf8(LABELS.deviceAccount),
      accountFingerprint: utf8(LABELS.accountFingerprint),
      accountSafetyNumber: utf8(LABELS.accountSafetyNumber),
    },
    maxDevices: MAX_DEVICES,
    accounts: [accountVector('alice', alice), accountVector('bob', bob)],
    accountSafetyNumber: accountSafetyNumber({ user: 'alice', accountKey: alice.publicKey }, { user: 'bob', accountKey: bob.publicKey }),
    mallory: { seed: 'devices/mallory/account', publicKey: mallory.publicKey },
    devices: devices.map((e, i) => ({ seed: `devices/alice/device-${i + 1}`, ...e })),
    lists: chain.map((c, i) => {
      const previous = i === 0 ? null : chain[i - 1]!.list;
      const { diff } = acceptDeviceLists({ user: 'alice', accountKey: alice.publicKey }, previous, [c.bytes]);
      return {
        version: c.list.version,
        deviceIds: c.list.devices.map((e) => e.device),
        body: c.list.body,
        signature: c.list.signature,
        encoded: c.bytes,
        hash: deviceListHash(c.list),
        added: diff.added.map((e) => e.device),
        removed: diff.removed.map((e) => e.device),
      };
    }),
    refused: refused.map((r) => ({ name: r.name, held: r.held, list: r.list, expect: refusal(alice, r.held === 0 ? null : chain[r.held - 1]!.list, r.list) })),
  };
}
