// The account key: one long-term Ed25519 key per account that signs the account's device list
// (crypto/device-list.ts). Contacts pin it instead of a device's identity, so the safety number of
// an account stays the same when a device is linked or removed; each device keeps its own X25519 +
// Ed25519 identity (crypto/identity.ts) for X3DH and its own prekeys.
import {
  ACCOUNT_FINGERPRINT_BYTES,
  ACCOUNT_FORMAT_TAGS,
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SEED_BYTES,
  LABELS,
  PROTOCOL_VERSION,
} from './consts.js';
import { concat, equalBytes, Reader, toHex, u8, utf8, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import { joinSafetyNumberHalves, safetyNumberDigits } from './identity.js';
import { sodium, type RandomBytes } from './sodium.js';
import { fixed, readFormatHeader } from './types.js';

export interface AccountKeyPair {
  publicKey: Uint8Array; // 32, Ed25519
  privateKey: Uint8Array; // 64, libsodium's seed || public form
}

/** An account as a contact sees it: the name and the pinned account public key. */
export interface Account {
  user: string;
  accountKey: Uint8Array; // 32
}

export function generateAccountKey(random: RandomBytes): AccountKeyPair {
  const seed = random(ED25519_SEED_BYTES);
  if (seed.length !== ED25519_SEED_BYTES) throw new CryptoError('invalid_argument', 'random source returned a short seed');
  const kp = sodium().crypto_sign_seed_keypair(seed);
  wipe(seed);
  return { publicKey: kp.publicKey, privateKey: kp.privateKey };
}

/** accountFingerprintBytes = BLAKE2b-256(utf8(LABELS.accountFingerprint) || accountKey). */
export function accountFingerprintBytes(accountKey: Uint8Array): Uint8Array {
  fixed(accountKey, ED25519_PUBLIC_KEY_BYTES);
  return sodium().crypto_generichash(ACCOUNT_FINGERPRINT_BYTES, concat(utf8(LABELS.accountFingerprint), accountKey), null);
}

/** 64 lowercase hex digits in 16 groups of 4, as an identity fingerprint is shown. */
export function accountFingerprint(accountKey: Uint8Array): string {
  return toHex(accountFingerprintBytes(accountKey)).replace(/(.{4})(?!$)/g, '$1 ');
}

/**
 * One 30-digit half, computed as an identity's (docs/PROTOCOL.md §5) but under
 * LABELS.accountSafetyNumber and from the account fingerprint: it depends on the user and the
 * account key only, never on the devices listed.
 */
export function accountSafetyNumberHalf(account: Account): string {
  return safetyNumberDigits(LABELS.accountSafetyNumber, account.user, accountFingerprintBytes(account.accountKey));
}

/**
 * 60 digits for two accounts. A contact without an account key (a build from before device lists)
 * contributes its identity half instead: joinSafetyNumberHalves(accountSafetyNumberHalf(a),
 * safetyNumberHalf(b.user, b.identity)).
 */
export function accountSafetyNumber(a: Account, b: Account): string {
  return joinSafetyNumberHalves(accountSafetyNumberHalf(a), accountSafetyNumberHalf(b));
}

// ---- serialisation (the keystore holds it; linking will carry it to a new device) ---------------

/** version(1) || tag(1) || privateKey(64) — the public key is its last 32 bytes. */
export const ACCOUNT_KEY_PAIR_BYTES = 2 + ED25519_SECRET_KEY_BYTES;

export function encodeAccountKeyPair(kp: AccountKeyPair): Uint8Array {
  fixed(kp.publicKey, ED25519_PUBLIC_KEY_BYTES);
  if (!equalBytes(fixed(kp.privateKey, ED25519_SECRET_KEY_BYTES).subarray(32), kp.publicKey)) {
    throw new CryptoError('invalid_argument', 'account key halves disagree');
  }
  return concat(u8(PROTOCOL_VERSION), u8(ACCOUNT_FORMAT_TAGS.accountKeyPair), kp.privateKey);
}

/** Checks that the seed derives the stored public key, so a corrupted entry is never used to sign. */
export function parseAccountKeyPair(bytes: Uint8Array): AccountKeyPair {
  const r = new Reader(bytes);
  readFormatHeader(r, ACCOUNT_FORMAT_TAGS.accountKeyPair, 'account key pair');
  const privateKey = r.bytes(ED25519_SECRET_KEY_BYTES);
  r.end();
  const publicKey = privateKey.slice(32);
  if (!equalBytes(sodium().crypto_sign_seed_keypair(privateKey.subarray(0, 32)).publicKey, publicKey)) {
    throw new CryptoError('malformed', 'account key does not match its seed');
  }
  return { publicKey, privateKey };
}
