// Prekeys: a signed prekey (rotated; the identity signing key signs id, time and key together so
// the relay can neither swap the key nor replay an old one under a new id) and one-time prekeys.
// A bundle is what the relay hands an initiator: identity + signed prekey + at most one OTPK.
import { ED25519_SIGNATURE_BYTES, FORMAT_TAGS, LABELS, PREKEY_ID_MAX, PROTOCOL_VERSION, SIGNED_PREKEY_MAX_AGE_MS, X25519_KEY_BYTES } from './consts.js';
import { generateKeyPair, keyPairFromPrivate } from './dh.js';
import { concat, equalBytes, fromBase64url, Reader, toBase64url, u32, u64, u8, utf8 } from './encoding.js';
import { CryptoError } from './errors.js';
import {
  readPublicIdentity,
  sign,
  verify,
  verifyIdentity,
  writePublicIdentity,
  type IdentityKeyPair,
  type PublicIdentity,
} from './identity.js';
import type { RandomBytes } from './sodium.js';
import { encodeAddress, fixed, isValidAddress, readAddress, readFormatHeader, type Address, type KeyPair } from './types.js';

export interface SignedPreKey {
  id: number;
  createdAt: number; // ms since the epoch, from the caller's clock
  keyPair: KeyPair;
  signature: Uint8Array;
}

export interface OneTimePreKey {
  id: number;
  keyPair: KeyPair;
}

export interface PublicSignedPreKey {
  id: number;
  createdAt: number;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

export interface PublicOneTimePreKey {
  id: number;
  publicKey: Uint8Array;
}

export interface PreKeyBundle {
  address: Address;
  identity: PublicIdentity;
  signedPreKey: PublicSignedPreKey;
  oneTimePreKey: PublicOneTimePreKey | null;
}

export function isValidPreKeyId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= PREKEY_ID_MAX;
}

function isValidTimestamp(t: unknown): t is number {
  return typeof t === 'number' && Number.isSafeInteger(t) && t >= 0;
}

/** The bytes a signed prekey signature covers: utf8(label) || u32(id) || u64(createdAt) || publicKey. */
export function signedPreKeySignatureMessage(id: number, createdAt: number, publicKey: Uint8Array): Uint8Array {
  return concat(utf8(LABELS.signedPreKeySignature), u32(id), u64(createdAt), publicKey);
}

export function generateSignedPreKey(identity: IdentityKeyPair, keyId: number, now: number, random: RandomBytes): SignedPreKey {
  if (!isValidPreKeyId(keyId)) throw new CryptoError('invalid_argument', `prekey id out of range: ${keyId}`);
  if (!isValidTimestamp(now)) throw new CryptoError('invalid_argument', `timestamp out of range: ${now}`);
  const keyPair = generateKeyPair(random);
  const signature = sign(identity, signedPreKeySignatureMessage(keyId, now, keyPair.publicKey));
  return { id: keyId, createdAt: now, keyPair, signature };
}

/** Ids firstId, firstId+1, …; the caller picks firstId past every id it has used before. */
export function generateOneTimePreKeys(firstId: number, count: number, random: RandomBytes): OneTimePreKey[] {
  if (!Number.isInteger(count) || count < 0) throw new CryptoError('invalid_argument', `count out of range: ${count}`);
  if (!isValidPreKeyId(firstId) || (count > 0 && !isValidPreKeyId(firstId + count - 1))) {
    throw new CryptoError('invalid_argument', `prekey ids out of range: ${firstId}+${count}`);
  }
  const out: OneTimePreKey[] = [];
  for (let i = 0; i < count; i++) out.push({ id: firstId + i, keyPair: generateKeyPair(random) });
  return out;
}

export function publicSignedPreKey(spk: SignedPreKey): PublicSignedPreKey {
  return { id: spk.id, createdAt: spk.createdAt, publicKey: spk.keyPair.publicKey.slice(), signature: spk.signature.slice() };
}

export function publicOneTimePreKey(otpk: OneTimePreKey): PublicOneTimePreKey {
  return { id: otpk.id, publicKey: otpk.keyPair.publicKey.slice() };
}

/** Throws `bad_signature` unless the identity's signing key signed this id, time and key. */
export function verifySignedPreKey(identity: PublicIdentity, spk: PublicSignedPreKey): void {
  if (!isValidPreKeyId(spk.id) || !isValidTimestamp(spk.createdAt) || spk.publicKey.length !== X25519_KEY_BYTES) {
    throw new CryptoError('malformed', 'signed prekey has a field out of range');
  }
  if (!verify(identity.signPublic, signedPreKeySignatureMessage(spk.id, spk.createdAt, spk.publicKey), spk.signature)) {
    throw new CryptoError('bad_signature', 'signed prekey signature does not verify');
  }
}

/**
 * Throws `stale_prekey` when the signed prekey was made more than SIGNED_PREKEY_MAX_AGE_MS before
 * `now` (the caller's clock; crypto/ has none). Its `createdAt` is signed, so a relay cannot make an
 * old key look new; a key dated in the future is not refused (the owner's clock may run ahead).
 */
export function checkSignedPreKeyAge(spk: PublicSignedPreKey, now: number): void {
  if (now - spk.createdAt > SIGNED_PREKEY_MAX_AGE_MS) {
    const days = Math.floor((now - spk.createdAt) / (24 * 3600 * 1000));
    throw new CryptoError('stale_prekey', `signed prekey ${spk.id} is ${days} days old, older than the ${SIGNED_PREKEY_MAX_AGE_MS / (24 * 3600 * 1000)} days an initiator accepts`);
  }
}

// ---- binary forms -----------------------------------------------------------------------------

export function writePublicSignedPreKey(spk: PublicSignedPreKey): Uint8Array {
  return concat(u32(spk.id), u64(spk.createdAt), fixed(spk.publicKey, 32), fixed(spk.signature, 64));
}

export function readPublicSignedPreKey(r: Reader): PublicSignedPreKey {
  return { id: r.u32(), createdAt: r.u64(), publicKey: r.bytes(32), signature: r.bytes(64) };
}

/**
 * version || tag || address || identity(128) || signedPreKey(108) || hasOneTimePreKey(1)
 * [|| u32 id || publicKey(32)]. Structure only: the initiator verifies the signatures (x3dh does).
 */
export function encodeBundle(b: PreKeyBundle): Uint8Array {
  const otpk = b.oneTimePreKey === null ? u8(0) : concat(u8(1), u32(b.oneTimePreKey.id), fixed(b.oneTimePreKey.publicKey, 32));
  return concat(
    u8(PROTOCOL_VERSION),
    u8(FORMAT_TAGS.preKeyBundle),
    encodeAddress(b.address),
    writePublicIdentity(b.identity),
    writePublicSignedPreKey(b.signedPreKey),
    otpk,
  );
}

export function parseBundle(bytes: Uint8Array): PreKeyBundle {
  const r = new Reader(bytes);
  readFormatHeader(r, FORMAT_TAGS.preKeyBundle, 'prekey bundle');
  const address = readAddress(r);
  const identity = readPublicIdentity(r);
  const signedPreKey = readPublicSignedPreKey(r);
  const flag = r.u8();
  let oneTimePreKey: PublicOneTimePreKey | null = null;
  if (flag === 1) oneTimePreKey = { id: r.u32(), publicKey: r.bytes(32) };
  else if (flag !== 0) throw new CryptoError('malformed', `prekey bundle: bad one-time prekey flag ${flag}`);
  r.end();
  return { address, identity, signedPreKey, oneTimePreKey };
}

/** version || tag || u32 id || u64 createdAt || privateKey(32) || publicKey(32) || signature(64) */
export function encodeSignedPreKey(spk: SignedPreKey): Uint8Array {
  return concat(
    u8(PROTOCOL_VERSION),
    u8(FORMAT_TAGS.signedPreKey),
    u32(spk.id),
    u64(spk.createdAt),
    fixed(spk.keyPair.privateKey, 32),
    fixed(spk.keyPair.publicKey, 32),
    fixed(spk.signature, ED25519_SIGNATURE_BYTES),
  );
}

/** Checks the public half derives from the private half, so a corrupted store entry is refused. */
export function parseSignedPreKey(bytes: Uint8Array): SignedPreKey {
  const r = new Reader(bytes);
  readFormatHeader(r, FORMAT_TAGS.signedPreKey, 'signed prekey');
  const id = r.u32();
  const createdAt = r.u64();
  const privateKey = r.bytes(32);
  const publicKey = r.bytes(32);
  const signature = r.bytes(64);
  r.end();
  checkPair(privateKey, publicKey, 'signed prekey');
  return { id, createdAt, keyPair: { privateKey, publicKey }, signature };
}

/** version || tag || u32 id || privateKey(32) || publicKey(32) */
export function encodeOneTimePreKey(otpk: OneTimePreKey): Uint8Array {
  return concat(
    u8(PROTOCOL_VERSION),
    u8(FORMAT_TAGS.oneTimePreKey),
    u32(otpk.id),
    fixed(otpk.keyPair.privateKey, 32),
    fixed(otpk.keyPair.publicKey, 32),
  );
}

export function parseOneTimePreKey(bytes: Uint8Array): OneTimePreKey {
  const r = new Reader(bytes);
  readFormatHeader(r, FORMAT_TAGS.oneTimePreKey, 'one-time prekey');
  const id = r.u32();
  const privateKey = r.bytes(32);
  const publicKey = r.bytes(32);
  r.end();
  checkPair(privateKey, publicKey, 'one-time prekey');
  return { id, keyPair: { privateKey, publicKey } };
}

function checkPair(privateKey: Uint8Array, publicKey: Uint8Array, what: string): void {
  if (!equalBytes(keyPairFromPrivate(privateKey).publicKey, publicKey)) throw new CryptoError('malformed', `${what}: key halves disagree`);
}

// ---- JSON forms (what the relay speaks) ----------------------------------------------------------

export interface PublicIdentityJson {
  dhPublic: string;
  signPublic: string;
  signature: string;
}
export interface PublicSignedPreKeyJson {
  id: number;
  createdAt: number;
  publicKey: string;
  signature: string;
}
export interface PublicOneTimePreKeyJson {
  id: number;
  publicKey: string;
}
export interface PreKeyBundleJson {
  address: Address;
  identity: PublicIdentityJson;
  signedPreKey: PublicSignedPreKeyJson;
  oneTimePreKey: PublicOneTimePreKeyJson | null;
}

/** A plain object with exactly these keys: unknown keys are refused so typos never pass silently. */
function object(v: unknown, keys: readonly string[], what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CryptoError('malformed', `${what} must be an object`);
  const o = v as Record<string, unknown>;
  const have = Object.keys(o);
  for (const k of have) if (!keys.includes(k)) throw new CryptoError('malformed', `${what}: unknown field ${JSON.stringify(k)}`);
  for (const k of keys) if (!(k in o)) throw new CryptoError('malformed', `${what}: missing field ${JSON.stringify(k)}`);
  return o;
}

function b64(v: unknown, n: number, what: string): Uint8Array {
  if (typeof v !== 'string') throw new CryptoError('malformed', `${what} must be a base64url string`);
  const b = fromBase64url(v);
  if (b.length !== n) throw new CryptoError('malformed', `${what} must be ${n} bytes`);
  return b;
}

function preKeyId(v: unknown, what: string): number {
  if (!isValidPreKeyId(v)) throw new CryptoError('malformed', `${what} must be an integer 0..${PREKEY_ID_MAX}`);
  return v;
}

export function identityToJson(pub: PublicIdentity): PublicIdentityJson {
  return { dhPublic: toBase64url(pub.dhPublic), signPublic: toBase64url(pub.signPublic), signature: toBase64url(pub.signature) };
}

/** Structure and lengths only; call verifyIdentity to check the signature. */
export function identityFromJson(v: unknown): PublicIdentity {
  const o = object(v, ['dhPublic', 'signPublic', 'signature'], 'identity');
  return {
    dhPublic: b64(o.dhPublic, 32, 'identity.dhPublic'),
    signPublic: b64(o.signPublic, 32, 'identity.signPublic'),
    signature: b64(o.signature, 64, 'identity.signature'),
  };
}

export function signedPreKeyToJson(spk: PublicSignedPreKey): PublicSignedPreKeyJson {
  return { id: spk.id, createdAt: spk.createdAt, publicKey: toBase64url(spk.publicKey), signature: toBase64url(spk.signature) };
}

/** Structure and lengths only; call verifySignedPreKey to check the signature. */
export function signedPreKeyFromJson(v: unknown): PublicSignedPreKey {
  const o = object(v, ['id', 'createdAt', 'publicKey', 'signature'], 'signedPreKey');
  if (!isValidTimestamp(o.createdAt)) throw new CryptoError('malformed', 'signedPreKey.createdAt must be a non-negative integer (ms)');
  return {
    id: preKeyId(o.id, 'signedPreKey.id'),
    createdAt: o.createdAt,
    publicKey: b64(o.publicKey, 32, 'signedPreKey.publicKey'),
    signature: b64(o.signature, 64, 'signedPreKey.signature'),
  };
}

export function oneTimePreKeyToJson(otpk: PublicOneTimePreKey): PublicOneTimePreKeyJson {
  return { id: otpk.id, publicKey: toBase64url(otpk.publicKey) };
}

export function oneTimePreKeyFromJson(v: unknown): PublicOneTimePreKey {
  const o = object(v, ['id', 'publicKey'], 'oneTimePreKey');
  return { id: preKeyId(o.id, 'oneTimePreKey.id'), publicKey: b64(o.publicKey, 32, 'oneTimePreKey.publicKey') };
}

export function bundleToJson(b: PreKeyBundle): PreKeyBundleJson {
  return {
    address: { user: b.address.user, device: b.address.device },
    identity: identityToJson(b.identity),
    signedPreKey: signedPreKeyToJson(b.signedPreKey),
    oneTimePreKey: b.oneTimePreKey === null ? null : oneTimePreKeyToJson(b.oneTimePreKey),
  };
}

/** Strict: exact keys, exact lengths, valid address. Signatures are checked by verifyBundle. */
export function bundleFromJson(v: unknown): PreKeyBundle {
  const o = object(v, ['address', 'identity', 'signedPreKey', 'oneTimePreKey'], 'bundle');
  const a = object(o.address, ['user', 'device'], 'bundle.address');
  const address = { user: a.user, device: a.device };
  if (!isValidAddress(address)) throw new CryptoError('malformed', `bundle.address is invalid: ${JSON.stringify(address)}`);
  return {
    address,
    identity: identityFromJson(o.identity),
    signedPreKey: signedPreKeyFromJson(o.signedPreKey),
    oneTimePreKey: o.oneTimePreKey === null ? null : oneTimePreKeyFromJson(o.oneTimePreKey),
  };
}

/** Both signatures of a bundle, in the order X3DH checks them. Throws `bad_signature`. */
export function verifyBundle(b: PreKeyBundle): void {
  verifyIdentity(b.identity);
  verifySignedPreKey(b.identity, b.signedPreKey);
}
