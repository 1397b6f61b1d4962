// A fastchat identity is two keys made one: an X25519 key for DH (X3DH) and an Ed25519 key for
// signatures, where the Ed25519 key signs the X25519 key. Fingerprints and safety numbers cover
// both, so neither half can be swapped without the user seeing a different number.
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SEED_BYTES,
  ED25519_SIGNATURE_BYTES,
  FINGERPRINT_BYTES,
  FORMAT_TAGS,
  LABELS,
  PROTOCOL_VERSION,
  SAFETY_NUMBER_HALF_DIGITS,
  SAFETY_NUMBER_ITERATIONS,
  X25519_KEY_BYTES,
} from './consts.js';
import { generateKeyPair } from './dh.js';
import { concat, equalBytes, lp, Reader, toHex, u8, utf8, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import { sodium, type RandomBytes } from './sodium.js';
import { fixed, isValidUsername, readFormatHeader, type KeyPair } from './types.js';

export interface IdentityKeyPair {
  dh: KeyPair;
  signPublic: Uint8Array; // 32
  signPrivate: Uint8Array; // 64, libsodium's seed || public form
  signature: Uint8Array; // 64, Ed25519 over utf8(LABELS.identitySignature) || dh.publicKey
}

export interface PublicIdentity {
  dhPublic: Uint8Array; // 32
  signPublic: Uint8Array; // 32
  signature: Uint8Array; // 64
}

/** The bytes the identity signature covers: utf8(LABELS.identitySignature) || dhPublic. */
export function identitySignatureMessage(dhPublic: Uint8Array): Uint8Array {
  return concat(utf8(LABELS.identitySignature), dhPublic);
}

export function generateIdentity(random: RandomBytes): IdentityKeyPair {
  const dh = generateKeyPair(random);
  const seed = random(ED25519_SEED_BYTES);
  if (seed.length !== ED25519_SEED_BYTES) throw new CryptoError('invalid_argument', 'random source returned a short seed');
  const kp = sodium().crypto_sign_seed_keypair(seed);
  wipe(seed);
  const signature = sodium().crypto_sign_detached(identitySignatureMessage(dh.publicKey), kp.privateKey);
  return { dh, signPublic: kp.publicKey, signPrivate: kp.privateKey, signature };
}

export function publicIdentity(id: IdentityKeyPair): PublicIdentity {
  return { dhPublic: id.dh.publicKey.slice(), signPublic: id.signPublic.slice(), signature: id.signature.slice() };
}

/** Ed25519 signature by the identity signing key. */
export function sign(id: Pick<IdentityKeyPair, 'signPrivate'>, message: Uint8Array): Uint8Array {
  if (id.signPrivate.length !== ED25519_SECRET_KEY_BYTES) throw new CryptoError('invalid_argument', 'signing key must be 64 bytes');
  return sodium().crypto_sign_detached(message, id.signPrivate);
}

/**
 * Ed25519 verification as libsodium does it (canonical S and R, small-order A and R refused; the
 * exact accepted edge-case set is pinned by crypto/ed25519.test.ts). Wrong lengths are `false`
 * before libsodium sees them, so this never throws.
 */
export function verify(signPublic: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signPublic.length !== ED25519_PUBLIC_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  try {
    return sodium().crypto_sign_verify_detached(signature, message, signPublic);
  } catch {
    return false;
  }
}

function checkPublicIdentityShape(pub: PublicIdentity): void {
  if (
    !(pub.dhPublic instanceof Uint8Array) || pub.dhPublic.length !== X25519_KEY_BYTES ||
    !(pub.signPublic instanceof Uint8Array) || pub.signPublic.length !== ED25519_PUBLIC_KEY_BYTES ||
    !(pub.signature instanceof Uint8Array) || pub.signature.length !== ED25519_SIGNATURE_BYTES
  ) {
    throw new CryptoError('malformed', 'public identity has a field of the wrong length');
  }
}

/** Throws `bad_signature` unless signPublic signed dhPublic under the identity label. */
export function verifyIdentity(pub: PublicIdentity): void {
  checkPublicIdentityShape(pub);
  if (!verify(pub.signPublic, identitySignatureMessage(pub.dhPublic), pub.signature)) {
    throw new CryptoError('bad_signature', 'identity signature does not verify');
  }
}

/** fingerprintBytes = BLAKE2b-256(utf8(LABELS.fingerprint) || dhPublic || signPublic). */
export function fingerprintBytes(pub: PublicIdentity): Uint8Array {
  checkPublicIdentityShape(pub);
  return sodium().crypto_generichash(FINGERPRINT_BYTES, concat(utf8(LABELS.fingerprint), pub.dhPublic, pub.signPublic), null);
}

/** The display form: 64 lowercase hex digits in 16 groups of 4, separated by single spaces. */
export function fingerprint(pub: PublicIdentity): string {
  return toHex(fingerprintBytes(pub)).replace(/(.{4})(?!$)/g, '$1 ');
}

/**
 * One 30-digit half: h = BLAKE2b-512(utf8(LABELS.safetyNumber) || lp(utf8(user)) || fp), then
 * SAFETY_NUMBER_ITERATIONS times h = BLAKE2b-512(h || fp); six 5-byte big-endian chunks of h, each
 * mod 100000, written as 5 zero-padded digits.
 */
export function safetyNumberHalf(user: string, identity: PublicIdentity): string {
  return safetyNumberDigits(LABELS.safetyNumber, user, fingerprintBytes(identity));
}

/**
 * The half computation shared by identities (§5) and account keys (crypto/account.ts), which differ
 * only in the label and the fingerprint fed in.
 */
export function safetyNumberDigits(label: string, user: string, fp: Uint8Array): string {
  if (!isValidUsername(user)) throw new CryptoError('invalid_argument', `invalid username: ${JSON.stringify(user)}`);
  const s = sodium();
  let h = s.crypto_generichash(64, concat(utf8(label), lp(utf8(user)), fp), null);
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) h = s.crypto_generichash(64, concat(h, fp), null);
  let digits = '';
  for (let k = 0; k < SAFETY_NUMBER_HALF_DIGITS / 5; k++) {
    const c = h.subarray(5 * k, 5 * k + 5);
    const n = c[0]! * 2 ** 32 + ((c[1]! << 24) >>> 0) + (c[2]! << 16) + (c[3]! << 8) + c[4]!;
    digits += String(n % 100000).padStart(5, '0');
  }
  return digits;
}

/** 60 digits: both halves, the numerically (= lexicographically) smaller first, so both sides agree. */
export function safetyNumber(
  a: { user: string; identity: PublicIdentity },
  b: { user: string; identity: PublicIdentity },
): string {
  return joinSafetyNumberHalves(safetyNumberHalf(a.user, a.identity), safetyNumberHalf(b.user, b.identity));
}

/** Sorting the halves gives both sides one number, whoever computes it. */
export function joinSafetyNumberHalves(ha: string, hb: string): string {
  return ha <= hb ? ha + hb : hb + ha;
}

/** "12345 67890 ..." : 12 groups of 5 digits, for display. */
export function formatSafetyNumber(n: string): string {
  return n.replace(/(\d{5})(?!$)/g, '$1 ');
}

// ---- serialisation ----------------------------------------------------------------------------

/** version(1) || tag(1) || dhPrivate(32) || dhPublic(32) || signPublic(32) || signPrivate(64) || signature(64) */
export const IDENTITY_KEY_PAIR_BYTES = 2 + 32 + 32 + 32 + 64 + 64;
/** version(1) || tag(1) || dhPublic(32) || signPublic(32) || signature(64) */
export const PUBLIC_IDENTITY_BYTES = 2 + 32 + 32 + 64;

export function encodeIdentityKeyPair(id: IdentityKeyPair): Uint8Array {
  return concat(
    u8(PROTOCOL_VERSION),
    u8(FORMAT_TAGS.identityKeyPair),
    fixed(id.dh.privateKey, 32),
    fixed(id.dh.publicKey, 32),
    fixed(id.signPublic, 32),
    fixed(id.signPrivate, 64),
    fixed(id.signature, 64),
  );
}

/**
 * Checks version, tag and exact length before anything else; then that the stored halves agree
 * (public keys derive from the private ones, the signature verifies), so a corrupted or spliced
 * keystore entry is refused instead of producing an identity nobody can verify.
 */
export function parseIdentityKeyPair(bytes: Uint8Array): IdentityKeyPair {
  const r = new Reader(bytes);
  readFormatHeader(r, FORMAT_TAGS.identityKeyPair, 'identity key pair');
  if (bytes.length !== IDENTITY_KEY_PAIR_BYTES) throw new CryptoError('malformed', `identity key pair must be ${IDENTITY_KEY_PAIR_BYTES} bytes`);
  const dhPrivate = r.bytes(32);
  const dhPublic = r.bytes(32);
  const signPublic = r.bytes(32);
  const signPrivate = r.bytes(64);
  const signature = r.bytes(64);
  r.end();
  if (!equalBytes(signPrivate.subarray(32), signPublic)) throw new CryptoError('malformed', 'identity signing key halves disagree');
  if (!equalBytes(sodium().crypto_scalarmult_base(dhPrivate), dhPublic)) throw new CryptoError('malformed', 'identity dh key halves disagree');
  if (!equalBytes(sodium().crypto_sign_seed_keypair(signPrivate.subarray(0, 32)).publicKey, signPublic)) throw new CryptoError('malformed', 'identity signing key does not match its seed');
  verifyIdentity({ dhPublic, signPublic, signature });
  return { dh: { privateKey: dhPrivate, publicKey: dhPublic }, signPublic, signPrivate, signature };
}

export function writePublicIdentity(pub: PublicIdentity): Uint8Array {
  checkPublicIdentityShape(pub);
  return concat(pub.dhPublic, pub.signPublic, pub.signature);
}

/** Reads dhPublic(32) || signPublic(32) || signature(64): structure only, no verification. */
export function readPublicIdentity(r: Reader): PublicIdentity {
  return { dhPublic: r.bytes(32), signPublic: r.bytes(32), signature: r.bytes(64) };
}

export function encodePublicIdentity(pub: PublicIdentity): Uint8Array {
  return concat(u8(PROTOCOL_VERSION), u8(FORMAT_TAGS.publicIdentity), writePublicIdentity(pub));
}

/** Structure only: callers that trust the result call verifyIdentity (x3dh does). */
export function parsePublicIdentity(bytes: Uint8Array): PublicIdentity {
  const r = new Reader(bytes);
  readFormatHeader(r, FORMAT_TAGS.publicIdentity, 'public identity');
  const pub = readPublicIdentity(r);
  r.end();
  return pub;
}
