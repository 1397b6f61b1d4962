// The Double Ratchet (Signal specification, revision 1), named as the spec names it: DHs, DHr,
// RK, CKs, CKr, Ns, Nr, PN, MKSKIPPED. docs/PROTOCOL.md §8 gives every step as assignments.
//
// Two deliberate differences from the spec's pseudocode, neither visible on the wire:
// - The sending half of a DH ratchet step is deferred to the next encrypt (the only operation
//   given randomness). After a receiving step DHs is null; the next encrypt generates DHs and
//   derives CKs. The root-key chain is the same as the spec's, because a peer cannot start a new
//   chain before it has seen our new DHs. It also means a decrypt needs no randomness, and a stolen
//   state holds no private key for a chain that has not been used yet.
// - Skipped keys are bounded three ways (consts.ts): MAX_SKIP per chain, MAX_SKIPPED_KEYS in
//   total (oldest evicted) and MAX_RECEIVING_CHAINS (keys of older chains expire, counted in DH
//   ratchet steps because crypto/ has no clock).
//
// And one addition to it: every header carries RATCHET_NONCE_BYTES random bytes, the message's
// XChaCha20-Poly1305 nonce (the spec's ENCRYPT takes key and nonce from mk alone, which is safe
// only while no mk is ever used twice). A state restored from a backup uses its message keys again,
// and under a stream cipher two plaintexts under one (key, nonce) give away their XOR (and the
// Poly1305 key); with a random 192-bit nonce a reused mk is XChaCha20's ordinary random-nonce use.
// (Version 2 expanded mk with a 16-byte salt by two more PRF calls; version 3 draws the nonce.)
//
// State values are immutable by contract: encrypt and decrypt never write to a state, its arrays
// or its byte arrays; they return a new state that shares every field they did not change (copy
// on write: a new MKSKIPPED or previousDHr array only when the step changes it). So a refused
// message leaves the caller's state exactly as it was, without the cost of a deep copy per message.
// The same holds for key material: a key the new state drops is not wiped, because the caller's
// previous state still holds it (the old deep copy wiped only its own copy).
import { aeadOpen, aeadSealInto, type ChainStep } from './aead.js';
import {
  AEAD_TAG_BYTES,
  LABELS,
  MAX_RECEIVING_CHAINS,
  MAX_SKIP,
  MAX_SKIPPED_KEYS,
  MESSAGE_VERSION,
  PROTOCOL_VERSION,
  RATCHET_HEADER_BYTES,
  RATCHET_KEY_BYTES,
  RATCHET_NONCE_BYTES,
  RATCHET_STATE_TAG,
  X25519_KEY_BYTES,
} from './consts.js';
import { dh, generateKeyPair } from './dh.js';
import { concat, equalBytes, Reader, u16, u32, u8, utf8, wipe } from './encoding.js';
import { CryptoError } from './errors.js';
import { hkdf, prf } from './kdf.js';
import type { RandomBytes } from './sodium.js';
import type { KeyPair } from './types.js';

export interface RatchetHeader {
  /** The sender's current ratchet public key (its DHs). */
  dh: Uint8Array;
  /** PN: number of messages in the sender's previous sending chain. */
  pn: number;
  /** N: this message's number in the sender's current sending chain. */
  n: number;
  /** RATCHET_NONCE_BYTES drawn by the sender for this message: its AEAD nonce. */
  nonce: Uint8Array;
}

export interface SkippedMessageKey {
  /** The ratchet public key (DHr) of the chain the key belongs to. */
  dh: Uint8Array;
  n: number;
  mk: Uint8Array;
}

export interface RatchetState {
  /** Our ratchet key pair; null from a receiving step until the next encrypt makes a new one. */
  DHs: KeyPair | null;
  /** Their current ratchet public key; null only for the responder before its first message. */
  DHr: Uint8Array | null;
  RK: Uint8Array;
  CKs: Uint8Array | null;
  CKr: Uint8Array | null;
  Ns: number;
  Nr: number;
  PN: number;
  /** Earlier DHr values, oldest first, at most MAX_RECEIVING_CHAINS - 1: their chains' skipped keys live on. */
  previousDHr: Uint8Array[];
  /** Skipped message keys, oldest first (eviction order), at most MAX_SKIPPED_KEYS. */
  MKSKIPPED: SkippedMessageKey[];
}

const U32_MAX = 0xffffffff;

// ---- KDFs ------------------------------------------------------------------------------------

/** KDF_RK(rk, dh_out): HKDF(salt = rk, IKM = dh_out, info = LABELS.ratchetRoot, 64) = rk' || ck. */
export function kdfRk(rk: Uint8Array, dhOut: Uint8Array): [rootKey: Uint8Array, chainKey: Uint8Array] {
  const out = hkdf(rk, dhOut, LABELS.ratchetRoot, 2 * RATCHET_KEY_BYTES);
  return [out.slice(0, RATCHET_KEY_BYTES), out.slice(RATCHET_KEY_BYTES)];
}

const CHAIN_INPUT = utf8(LABELS.ratchetChain);

/**
 * KDF_CK(ck): out = PRF(ck, LABELS.ratchetChain) (keyed BLAKE2b-512, 64 bytes); ck' = out[0..32],
 * mk = out[32..64]. One call per message: the halves of one PRF output are independent keys.
 */
export function kdfCk(ck: Uint8Array): [chainKey: Uint8Array, messageKey: Uint8Array] {
  const out = prf(ck, CHAIN_INPUT);
  // slice, not subarray: a view of a small typed array makes V8 move it off the heap (slower).
  const keys: [Uint8Array, Uint8Array] = [out.slice(0, RATCHET_KEY_BYTES), out.slice(RATCHET_KEY_BYTES)];
  wipe(out);
  return keys;
}

/**
 * KDF_CK(ck) as an AEAD key: the AEAD is keyed with mk = PRF(ck, LABELS.ratchetChain)[32..64]
 * inside libsodium's memory, and ck' (the first half) is written to `next`. The same bytes as
 * kdfCk; one pass through the heap instead of two, and mk never reaches JavaScript.
 */
function chainStep(ck: Uint8Array, next: Uint8Array): ChainStep {
  return { chainKey: ck, input: CHAIN_INPUT, nextChainKey: next };
}

// ---- header ----------------------------------------------------------------------------------

/** header = u8(MESSAGE_VERSION) || dh (32) || u32(pn) || u32(n) || nonce (24): 65 bytes, all of it AEAD AD. */
export function encodeHeader(h: RatchetHeader): Uint8Array {
  const out = new Uint8Array(RATCHET_HEADER_BYTES);
  writeHeader(out, 0, h);
  return out;
}

/**
 * encodeHeader(h) written into `out` at `offset`, so the AEAD's AD and the envelope each take one
 * allocation (this runs twice per message).
 */
export function writeHeader(out: Uint8Array, offset: number, h: RatchetHeader): void {
  if (!(h.dh instanceof Uint8Array) || h.dh.length !== X25519_KEY_BYTES) {
    throw new CryptoError('invalid_argument', 'header ratchet key must be 32 bytes');
  }
  if (!(h.nonce instanceof Uint8Array) || h.nonce.length !== RATCHET_NONCE_BYTES) {
    throw new CryptoError('invalid_argument', `header nonce must be ${RATCHET_NONCE_BYTES} bytes`);
  }
  checkU32(h.pn);
  checkU32(h.n);
  out[offset] = MESSAGE_VERSION;
  out.set(h.dh, offset + 1);
  putU32(out, offset + 1 + X25519_KEY_BYTES, h.pn);
  putU32(out, offset + 1 + X25519_KEY_BYTES + 4, h.n);
  out.set(h.nonce, offset + 1 + X25519_KEY_BYTES + 8);
}

/** u32(v) written at out[at..at+4], big-endian; v is checked by the caller. */
function putU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

function checkU32(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > U32_MAX) throw new CryptoError('invalid_argument', `integer out of range: ${n}`);
}

/** AD || encodeHeader(h) in one buffer: the AEAD associated data of a ratchet message. */
export function headerAssociatedData(ad: Uint8Array, h: RatchetHeader): Uint8Array {
  const out = new Uint8Array(ad.length + RATCHET_HEADER_BYTES);
  out.set(ad);
  writeHeader(out, ad.length, h);
  return out;
}

/**
 * headerAssociatedData(ad, h) as a view of one buffer this module reuses (it is public data: the
 * X3DH AD and the header), valid until the next call. Two allocations of about 300 bytes per
 * message were a measurable part of the ratchet's cost (issue 20): typed arrays over 64 bytes live
 * outside V8's heap and cost an allocation and a collection each.
 */
function associatedDataView(ad: Uint8Array, h: RatchetHeader): Uint8Array {
  const size = ad.length + RATCHET_HEADER_BYTES;
  if (adScratch.length < size) adScratch = new Uint8Array(Math.max(size, 2 * adScratch.length));
  adScratch.set(ad);
  writeHeader(adScratch, ad.length, h);
  return adScratch.subarray(0, size);
}

let adScratch = new Uint8Array(512);

/**
 * Reads a header from a larger buffer (the envelope); the version is checked before anything else,
 * so a version-1 (41 bytes) or version-2 (57 bytes) header is unsupported_version, never misread.
 * With `views` the key and nonce are views into the buffer, not copies: for the decrypt path,
 * where ratchetDecrypt copies the one it keeps (a new DHr) and the nonce only reaches the AEAD.
 */
export function readHeader(r: Reader, views = false): RatchetHeader {
  const version = r.u8();
  if (version !== MESSAGE_VERSION) throw new CryptoError('unsupported_version', `ratchet header version ${version}`);
  const dhPub = views ? r.view(X25519_KEY_BYTES) : r.bytes(X25519_KEY_BYTES);
  const pn = r.u32();
  const n = r.u32();
  const nonce = views ? r.view(RATCHET_NONCE_BYTES) : r.bytes(RATCHET_NONCE_BYTES);
  return { dh: dhPub, pn, n, nonce };
}

export function parseHeader(bytes: Uint8Array): RatchetHeader {
  if (bytes.length !== RATCHET_HEADER_BYTES) throw new CryptoError('malformed', `ratchet header must be ${RATCHET_HEADER_BYTES} bytes`);
  const r = new Reader(bytes);
  const h = readHeader(r);
  r.end();
  return h;
}

// ---- initialisation --------------------------------------------------------------------------

function checkKey(b: Uint8Array, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== RATCHET_KEY_BYTES) {
    throw new CryptoError('invalid_argument', `${what} must be 32 bytes`);
  }
}

/**
 * RatchetInitAlice(SK, bob_dh_public_key). The spec's first sending step (DHs = GENERATE_DH();
 * RK, CKs = KDF_RK(SK, DH(DHs, DHr))) happens at the first encrypt, which has randomness.
 */
export function ratchetInitAlice(sk: Uint8Array, theirRatchetKey: Uint8Array): RatchetState {
  checkKey(sk, 'shared secret');
  checkKey(theirRatchetKey, 'their ratchet key');
  return {
    DHs: null,
    DHr: theirRatchetKey.slice(),
    RK: sk.slice(),
    CKs: null,
    CKr: null,
    Ns: 0,
    Nr: 0,
    PN: 0,
    previousDHr: [],
    MKSKIPPED: [],
  };
}

/** RatchetInitBob(SK, bob_dh_key_pair): Bob's signed prekey pair is his first DHs. */
export function ratchetInitBob(sk: Uint8Array, ourRatchetKeyPair: KeyPair): RatchetState {
  checkKey(sk, 'shared secret');
  checkKey(ourRatchetKeyPair.privateKey, 'our ratchet private key');
  checkKey(ourRatchetKeyPair.publicKey, 'our ratchet public key');
  return {
    DHs: { publicKey: ourRatchetKeyPair.publicKey.slice(), privateKey: ourRatchetKeyPair.privateKey.slice() },
    DHr: null,
    RK: sk.slice(),
    CKs: null,
    CKr: null,
    Ns: 0,
    Nr: 0,
    PN: 0,
    previousDHr: [],
    MKSKIPPED: [],
  };
}

// ---- encrypt ---------------------------------------------------------------------------------

/**
 * RatchetEncrypt(state, plaintext, AD). The AEAD associated data is AD || encodeHeader(header),
 * so the header is authenticated and bound to the session's identities.
 *
 * `reserve` bytes are left free in front of the ciphertext: `sealed` is reserve || ciphertext and
 * `ciphertext` a view of it, so the caller writes its framing (the envelope) into the same buffer
 * instead of copying the ciphertext once more.
 */
export function ratchetEncrypt(
  state: RatchetState,
  ad: Uint8Array,
  plaintext: Uint8Array,
  random: RandomBytes,
  reserve = 0,
): { state: RatchetState; header: RatchetHeader; ciphertext: Uint8Array; sealed: Uint8Array } {
  if (!Number.isInteger(reserve) || reserve < 0) throw new CryptoError('invalid_argument', `reserve out of range: ${reserve}`);
  let { DHs, RK, CKs } = state;
  if (CKs === null) {
    // The deferred sending step: a new DHs against their current DHr.
    if (state.DHr === null) throw new CryptoError('invalid_argument', 'cannot send before the first message is received');
    DHs = generateKeyPair(random);
    [RK, CKs] = kdfRk(RK, dh(DHs.privateKey, state.DHr));
  }
  if (DHs === null || state.Ns >= U32_MAX) throw new CryptoError('invalid_argument', 'sending chain exhausted');
  // Drawn after the deferred step's key pair (the vectors rely on the order).
  const nonce = random(RATCHET_NONCE_BYTES);
  if (!(nonce instanceof Uint8Array) || nonce.length !== RATCHET_NONCE_BYTES) throw new CryptoError('invalid_argument', 'random source returned a wrong length');
  const header: RatchetHeader = { dh: DHs.publicKey.slice(), pn: state.PN, n: state.Ns, nonce };
  const sealed = publicBytes(reserve + plaintext.length + AEAD_TAG_BYTES);
  // CKs, mk = KDF_CK(CKs); ENCRYPT(mk, ...), with mk kept inside libsodium's memory (chainStep).
  const nextCKs = new Uint8Array(RATCHET_KEY_BYTES);
  aeadSealInto(chainStep(CKs, nextCKs), nonce, plaintext, associatedDataView(ad, header), sealed, reserve);
  const ciphertext = reserve === 0 ? sealed : sealed.subarray(reserve);
  const next: RatchetState = {
    DHs,
    DHr: state.DHr,
    RK,
    CKs: nextCKs,
    CKr: state.CKr,
    Ns: state.Ns + 1,
    Nr: state.Nr,
    PN: state.PN,
    previousDHr: state.previousDHr,
    MKSKIPPED: state.MKSKIPPED,
  };
  return { state: next, header, ciphertext, sealed };
}

/**
 * A zeroed array for public bytes only (an envelope: its framing and the ciphertext), carved from a
 * shared slab as Node carves small Buffers from its pool: allocating a typed array over 64 bytes
 * costs V8 a backing store and a sweep each, about a tenth of a 1 KiB round trip (issue 20). The
 * result is a view (its .buffer holds other envelopes, which are public too), so readers must use
 * byteOffset and byteLength, as every caller does; each part of a slab is handed out once.
 */
function publicBytes(n: number): Uint8Array {
  if (n > SLAB_BYTES / 4) return new Uint8Array(n);
  if (slabAt + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabAt = 0;
  }
  const out = slab.subarray(slabAt, slabAt + n);
  slabAt += (n + 7) & ~7; // 8-byte aligned, so a reader's word-wise scans stay aligned
  return out;
}

const SLAB_BYTES = 16 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabAt = 0;

// ---- decrypt ---------------------------------------------------------------------------------

/**
 * RatchetDecrypt(state, header, ciphertext, AD), returning a new state. Throws CryptoError:
 * `duplicate_message` for a message whose key was already used (or has expired),
 * `too_far_ahead` for one more than MAX_SKIP past its chain position, `decrypt_failed` (or a
 * parse/DH error) for anything else. The input state is never modified.
 */
export function ratchetDecrypt(
  state: RatchetState,
  ad: Uint8Array,
  header: RatchetHeader,
  ciphertext: Uint8Array,
): { state: RatchetState; plaintext: Uint8Array } {
  // Built first, so a malformed header is refused before any work; nothing below reuses the buffer.
  const aeadAd = associatedDataView(ad, header);
  // A shallow copy: fields are reassigned below, never written through (see the top of the file).
  // Spelled out rather than spread: object spread was 1-3 % of a round trip (issue 20).
  const s: RatchetState = {
    DHs: state.DHs,
    DHr: state.DHr,
    RK: state.RK,
    CKs: state.CKs,
    CKr: state.CKr,
    Ns: state.Ns,
    Nr: state.Nr,
    PN: state.PN,
    previousDHr: state.previousDHr,
    MKSKIPPED: state.MKSKIPPED,
  };

  const skippedIndex = s.MKSKIPPED.findIndex((k) => k.n === header.n && equalBytes(k.dh, header.dh));
  if (skippedIndex >= 0) {
    const plaintext = aeadOpen(s.MKSKIPPED[skippedIndex]!.mk, header.nonce, ciphertext, aeadAd);
    s.MKSKIPPED = s.MKSKIPPED.filter((_, i) => i !== skippedIndex);
    return { state: s, plaintext };
  }

  if (s.DHr !== null && equalBytes(header.dh, s.DHr)) {
    if (s.CKr === null) throw new CryptoError('decrypt_failed', 'no receiving chain for this ratchet key');
    if (header.n < s.Nr) throw new CryptoError('duplicate_message', 'message key already used');
  } else if (s.previousDHr.some((k) => equalBytes(k, header.dh))) {
    throw new CryptoError('duplicate_message', 'message key already used or expired');
  } else {
    // A new ratchet public key: finish the current receiving chain, then a receiving DH step.
    if (s.DHs === null) throw new CryptoError('decrypt_failed', 'new ratchet key before our reply');
    skipMessageKeys(s, header.pn);
    dhRatchetReceive(s, header.dh);
  }
  skipMessageKeys(s, header.n);
  // CKr, mk = KDF_CK(CKr); DECRYPT(mk, ...), with mk kept inside libsodium's memory (chainStep).
  const CKr = new Uint8Array(RATCHET_KEY_BYTES);
  const plaintext = aeadOpen(chainStep(s.CKr!, CKr), header.nonce, ciphertext, aeadAd);
  s.CKr = CKr;
  s.Nr += 1;
  return { state: s, plaintext };
}

/**
 * SkipMessageKeys(state, until): store the keys of messages Nr..until-1 of the receiving chain.
 * `s` is the caller's shallow copy: MKSKIPPED is replaced by a new array, never pushed to.
 */
function skipMessageKeys(s: RatchetState, until: number): void {
  if (s.Nr + MAX_SKIP < until) throw new CryptoError('too_far_ahead', `message ${until} is more than ${MAX_SKIP} ahead`);
  if (s.CKr === null || s.DHr === null || s.Nr >= until) return;
  const skipped = s.MKSKIPPED.slice();
  while (s.Nr < until) {
    const [CKr, mk] = kdfCk(s.CKr);
    s.CKr = CKr;
    skipped.push({ dh: s.DHr, n: s.Nr, mk });
    s.Nr += 1;
  }
  // Oldest first out: a flood of gaps can never grow the store past its cap.
  s.MKSKIPPED = skipped.length > MAX_SKIPPED_KEYS ? skipped.slice(skipped.length - MAX_SKIPPED_KEYS) : skipped;
}

/**
 * The receiving half of DHRatchet(state, header): PN = Ns; Ns = Nr = 0; DHr = header.dh;
 * RK, CKr = KDF_RK(RK, DH(DHs, DHr)); then DHs and CKs are cleared for the deferred sending step.
 * The old DHr joins previousDHr; a chain pushed out of it takes its skipped keys with it.
 */
function dhRatchetReceive(s: RatchetState, theirRatchetKey: Uint8Array): void {
  const DHs = s.DHs!;
  if (s.DHr !== null && s.CKr !== null) {
    const previous = [...s.previousDHr, s.DHr];
    while (previous.length > MAX_RECEIVING_CHAINS - 1) {
      const expired = previous.shift()!;
      s.MKSKIPPED = s.MKSKIPPED.filter((k) => !equalBytes(k.dh, expired));
    }
    s.previousDHr = previous;
  }
  s.PN = s.Ns;
  s.Ns = 0;
  s.Nr = 0;
  s.DHr = theirRatchetKey.slice();
  [s.RK, s.CKr] = kdfRk(s.RK, dh(DHs.privateKey, s.DHr));
  s.DHs = null;
  s.CKs = null;
}

// ---- serialisation ---------------------------------------------------------------------------

const FLAG_DHS = 1;
const FLAG_DHR = 2;
const FLAG_CKS = 4;
const FLAG_CKR = 8;

/**
 * u8(PROTOCOL_VERSION) || u8(RATCHET_STATE_TAG) || u8(flags) || [DHs.private || DHs.public] ||
 * [DHr] || RK || [CKs] || [CKr] || u32(Ns) || u32(Nr) || u32(PN) || u8(#previousDHr) || keys ||
 * u16(#MKSKIPPED) || (dh || u32(n) || mk)*. Optional fields are present iff their flag is set.
 */
export function encodeRatchetState(s: RatchetState): Uint8Array {
  const flags = (s.DHs ? FLAG_DHS : 0) | (s.DHr ? FLAG_DHR : 0) | (s.CKs ? FLAG_CKS : 0) | (s.CKr ? FLAG_CKR : 0);
  const parts: Uint8Array[] = [u8(PROTOCOL_VERSION), u8(RATCHET_STATE_TAG), u8(flags)];
  if (s.DHs) parts.push(s.DHs.privateKey, s.DHs.publicKey);
  if (s.DHr) parts.push(s.DHr);
  parts.push(s.RK);
  if (s.CKs) parts.push(s.CKs);
  if (s.CKr) parts.push(s.CKr);
  parts.push(u32(s.Ns), u32(s.Nr), u32(s.PN), u8(s.previousDHr.length), ...s.previousDHr, u16(s.MKSKIPPED.length));
  for (const k of s.MKSKIPPED) parts.push(k.dh, u32(k.n), k.mk);
  for (const p of parts) if (!(p instanceof Uint8Array)) throw new CryptoError('invalid_argument', 'ratchet state field is not bytes');
  return concat(...parts);
}

/** Reads a stored ratchet state; every length, flag and count is checked before any use. */
export function readRatchetState(r: Reader): RatchetState {
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) throw new CryptoError('unsupported_version', `ratchet state version ${version}`);
  const tag = r.u8();
  if (tag !== RATCHET_STATE_TAG) throw new CryptoError('malformed', `ratchet state: wrong format tag ${tag}`);
  const flags = r.u8();
  // Unknown flag bits, or a sending chain without both ratchet keys, or a receiving chain without
  // DHr, cannot come from encodeRatchetState: refuse rather than guess.
  if ((flags & ~(FLAG_DHS | FLAG_DHR | FLAG_CKS | FLAG_CKR)) !== 0) throw new CryptoError('malformed', 'ratchet state: unknown flags');
  if (flags & FLAG_CKS && !(flags & FLAG_DHS && flags & FLAG_DHR)) throw new CryptoError('malformed', 'ratchet state: CKs without keys');
  if (flags & FLAG_CKR && !(flags & FLAG_DHR)) throw new CryptoError('malformed', 'ratchet state: CKr without DHr');
  const DHs = flags & FLAG_DHS ? { privateKey: r.bytes(X25519_KEY_BYTES), publicKey: r.bytes(X25519_KEY_BYTES) } : null;
  const DHr = flags & FLAG_DHR ? r.bytes(X25519_KEY_BYTES) : null;
  const RK = r.bytes(RATCHET_KEY_BYTES);
  const CKs = flags & FLAG_CKS ? r.bytes(RATCHET_KEY_BYTES) : null;
  const CKr = flags & FLAG_CKR ? r.bytes(RATCHET_KEY_BYTES) : null;
  const Ns = r.u32();
  const Nr = r.u32();
  const PN = r.u32();
  const previousCount = r.u8();
  if (previousCount > MAX_RECEIVING_CHAINS - 1) throw new CryptoError('malformed', `ratchet state: ${previousCount} previous chains`);
  const previousDHr: Uint8Array[] = [];
  for (let i = 0; i < previousCount; i++) previousDHr.push(r.bytes(X25519_KEY_BYTES));
  const skippedCount = r.u16();
  if (skippedCount > MAX_SKIPPED_KEYS) throw new CryptoError('malformed', `ratchet state: ${skippedCount} skipped keys`);
  const MKSKIPPED: SkippedMessageKey[] = [];
  for (let i = 0; i < skippedCount; i++) {
    MKSKIPPED.push({ dh: r.bytes(X25519_KEY_BYTES), n: r.u32(), mk: r.bytes(RATCHET_KEY_BYTES) });
  }
  return { DHs, DHr, RK, CKs, CKr, Ns, Nr, PN, previousDHr, MKSKIPPED };
}

export function parseRatchetState(bytes: Uint8Array): RatchetState {
  const r = new Reader(bytes);
  const s = readRatchetState(r);
  r.end();
  return s;
}
