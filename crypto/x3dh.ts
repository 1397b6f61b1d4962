// X3DH (Signal's Extended Triple Diffie-Hellman) with the names of its spec: IK identity keys,
// SPK signed prekey, OPK one-time prekey, EK the initiator's ephemeral key, SK the shared secret,
// AD the associated data. This module only sets up SK and AD and says what goes on the wire; the
// ratchet (crypto/ratchet.ts) takes it from there and this file knows nothing of it.
import { PROTOCOL_VERSION, X25519_KEY_BYTES, X3DH_SHARED_SECRET_BYTES, LABELS, KDF_HASH_BYTES } from './consts.js';
import { dh, generateKeyPair } from './dh.js';
import { concat, Reader, u32, u8, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import {
  publicIdentity,
  readPublicIdentity,
  verifyIdentity,
  writePublicIdentity,
  type IdentityKeyPair,
  type PublicIdentity,
} from './identity.js';
import { hkdf } from './kdf.js';
import { checkSignedPreKeyAge, verifySignedPreKey, type OneTimePreKey, type PreKeyBundle, type SignedPreKey } from './prekeys.js';
import type { RandomBytes } from './sodium.js';
import { checkAddress, encodeAddress, fixed, type Address, type KeyPair } from './types.js';

/** Storage is handed in: the responder looks its prekeys up by id and never opens a database. */
export interface PreKeyStore {
  signedPreKey(id: number): SignedPreKey | undefined;
  oneTimePreKey(id: number): OneTimePreKey | undefined;
}

/** What the initiator sends in its first message so the responder can compute the same SK. */
export interface X3DHInitHeader {
  identity: PublicIdentity;
  ephemeral: Uint8Array;
  signedPreKeyId: number;
  oneTimePreKeyId: number | null;
}

export interface X3DHInitiatorResult {
  sharedSecret: Uint8Array;
  associatedData: Uint8Array;
  header: X3DHInitHeader;
  /** The responder's signed prekey public key: the ratchet's first remote ratchet key. */
  theirRatchetKey: Uint8Array;
}

export interface X3DHResponderResult {
  sharedSecret: Uint8Array;
  associatedData: Uint8Array;
  /** The signed prekey pair: the ratchet's first local ratchet key pair (a copy). */
  ourRatchetKeyPair: KeyPair;
  /** The caller deletes this OPK from its store once the first message has decrypted. */
  usedOneTimePreKeyId: number | null;
}

/** F = 32 0xFF bytes, prefixed to the IKM so it can never equal an Ed25519/X25519 scalar input (X3DH §2.2). */
const F = new Uint8Array(X25519_KEY_BYTES).fill(0xff);
/** HKDF salt = 64 zero bytes (the hash output length of BLAKE2b-512), as X3DH §2.2 prescribes. */
const SALT = new Uint8Array(KDF_HASH_BYTES);

/** SK = HKDF(salt = 64 zero bytes, IKM = F || DH1 || DH2 || DH3 [|| DH4], info = LABELS.x3dh, 32). */
export function x3dhSharedSecret(dhs: Uint8Array[]): Uint8Array {
  const ikm = concat(F, ...dhs);
  const sk = hkdf(SALT, ikm, LABELS.x3dh, X3DH_SHARED_SECRET_BYTES);
  wipe(ikm);
  return sk;
}

/**
 * AD = u8(PROTOCOL_VERSION) || IK_A.dhPublic || IK_A.signPublic || encodeAddress(A)
 *                           || IK_B.dhPublic || IK_B.signPublic || encodeAddress(B)
 * with A the initiator and B the responder, whoever computes it. Binding both halves of both
 * identities and both addresses means a relay that swaps a key or re-routes the first message to
 * another account or device makes the two sides disagree on AD, and the first message fails.
 */
export function x3dhAssociatedData(
  initiator: PublicIdentity,
  initiatorAddress: Address,
  responder: PublicIdentity,
  responderAddress: Address,
): Uint8Array {
  return concat(
    u8(PROTOCOL_VERSION),
    fixed(initiator.dhPublic, 32),
    fixed(initiator.signPublic, 32),
    encodeAddress(initiatorAddress),
    fixed(responder.dhPublic, 32),
    fixed(responder.signPublic, 32),
    encodeAddress(responderAddress),
  );
}

/**
 * The initiator (Alice) side. Verifies the bundle's identity signature and signed-prekey signature
 * before any DH (`bad_signature` aborts), refuses a signed prekey older than
 * SIGNED_PREKEY_MAX_AGE_MS at `now` (`stale_prekey`), refuses any all-zero DH (`bad_key`), and
 * wipes EK.
 */
export function x3dhInitiate(
  our: IdentityKeyPair,
  ourAddress: Address,
  their: PreKeyBundle,
  random: RandomBytes,
  now: number,
): X3DHInitiatorResult {
  checkAddress(ourAddress);
  checkAddress(their.address);
  verifyIdentity(their.identity);
  verifySignedPreKey(their.identity, their.signedPreKey);
  checkSignedPreKeyAge(their.signedPreKey, now);
  const spkB = their.signedPreKey.publicKey;
  const opkB = their.oneTimePreKey;
  const ek = generateKeyPair(random);
  const dhs: Uint8Array[] = [];
  try {
    dhs.push(dh(our.dh.privateKey, spkB)); // DH1 = DH(IK_A, SPK_B)
    dhs.push(dh(ek.privateKey, their.identity.dhPublic)); // DH2 = DH(EK_A, IK_B)
    dhs.push(dh(ek.privateKey, spkB)); // DH3 = DH(EK_A, SPK_B)
    if (opkB !== null) dhs.push(dh(ek.privateKey, opkB.publicKey)); // DH4 = DH(EK_A, OPK_B)
    const ours = publicIdentity(our);
    return {
      sharedSecret: x3dhSharedSecret(dhs),
      associatedData: x3dhAssociatedData(ours, ourAddress, their.identity, their.address),
      header: {
        identity: ours,
        ephemeral: ek.publicKey,
        signedPreKeyId: their.signedPreKey.id,
        oneTimePreKeyId: opkB === null ? null : opkB.id,
      },
      theirRatchetKey: spkB.slice(),
    };
  } finally {
    wipe(ek.privateKey, ...dhs);
  }
}

/**
 * The responder (Bob) side. Verifies the initiator's identity signature, refuses prekey ids it
 * does not hold (`unknown_prekey`: a deleted OPK is exactly how a replayed first message dies),
 * refuses any all-zero DH (`bad_key`). Does not delete anything: the caller does, after the first
 * message decrypts, so a forged first message cannot burn a one-time prekey.
 */
export function x3dhRespond(
  our: IdentityKeyPair,
  ourAddress: Address,
  store: PreKeyStore,
  theirAddress: Address,
  header: X3DHInitHeader,
): X3DHResponderResult {
  checkAddress(ourAddress);
  checkAddress(theirAddress);
  if (header.ephemeral.length !== X25519_KEY_BYTES) throw new CryptoError('malformed', 'x3dh ephemeral key must be 32 bytes');
  verifyIdentity(header.identity);
  const spk = store.signedPreKey(header.signedPreKeyId);
  if (spk === undefined) throw new CryptoError('unknown_prekey', `unknown signed prekey id ${header.signedPreKeyId}`);
  let opk: OneTimePreKey | undefined;
  if (header.oneTimePreKeyId !== null) {
    opk = store.oneTimePreKey(header.oneTimePreKeyId);
    if (opk === undefined) throw new CryptoError('unknown_prekey', `unknown one-time prekey id ${header.oneTimePreKeyId}`);
  }
  const ekA = header.ephemeral;
  const dhs: Uint8Array[] = [];
  try {
    dhs.push(dh(spk.keyPair.privateKey, header.identity.dhPublic)); // DH1 = DH(SPK_B, IK_A)
    dhs.push(dh(our.dh.privateKey, ekA)); // DH2 = DH(IK_B, EK_A)
    dhs.push(dh(spk.keyPair.privateKey, ekA)); // DH3 = DH(SPK_B, EK_A)
    if (opk !== undefined) dhs.push(dh(opk.keyPair.privateKey, ekA)); // DH4 = DH(OPK_B, EK_A)
    return {
      sharedSecret: x3dhSharedSecret(dhs),
      associatedData: x3dhAssociatedData(header.identity, theirAddress, publicIdentity(our), ourAddress),
      ourRatchetKeyPair: { publicKey: spk.keyPair.publicKey.slice(), privateKey: spk.keyPair.privateKey.slice() },
      usedOneTimePreKeyId: opk === undefined ? null : opk.id,
    };
  } finally {
    wipe(...dhs);
  }
}

// ---- header wire form (inside the PreKeyMessage envelope, which carries the version) ------------

/** identity(128) || ephemeral(32) || u32 signedPreKeyId || u8 hasOneTimePreKey [|| u32 oneTimePreKeyId] */
export const X3DH_HEADER_MIN_BYTES = 128 + 32 + 4 + 1;
export const X3DH_HEADER_MAX_BYTES = X3DH_HEADER_MIN_BYTES + 4;

export function encodeX3DHHeader(h: X3DHInitHeader): Uint8Array {
  return concat(
    writePublicIdentity(h.identity),
    fixed(h.ephemeral, 32),
    u32(h.signedPreKeyId),
    h.oneTimePreKeyId === null ? u8(0) : concat(u8(1), u32(h.oneTimePreKeyId)),
  );
}

/** For the envelope parser: reads one header from the middle of a larger structure. */
export function readX3DHHeader(r: Reader): X3DHInitHeader {
  const identity = readPublicIdentity(r);
  const ephemeral = r.bytes(32);
  const signedPreKeyId = r.u32();
  const flag = r.u8();
  let oneTimePreKeyId: number | null = null;
  if (flag === 1) oneTimePreKeyId = r.u32();
  else if (flag !== 0) throw new CryptoError('malformed', `x3dh header: bad one-time prekey flag ${flag}`);
  return { identity, ephemeral, signedPreKeyId, oneTimePreKeyId };
}

/** A whole buffer that is exactly one header (trailing bytes refused). */
export function parseX3DHHeader(bytes: Uint8Array): X3DHInitHeader {
  const r = new Reader(bytes);
  const h = readX3DHHeader(r);
  r.end();
  return h;
}
