// Direct calls into libsodium's WebAssembly module for the two primitives every message uses
// (XChaCha20-Poly1305 and keyed BLAKE2b), without libsodium-wrappers' per-call work: the wrappers
// malloc and free each argument, copy each into the module's heap, allocate a fresh output array
// and copy the result out, which for a 1 KiB message cost about as much as the cipher (issue 20,
// docs/PERFORMANCE.md "Ratchet"). Here the inputs are copied into one region of the heap that is
// kept between calls, the C function runs on it, and the output is copied straight to where the
// caller wants it. The functions are libsodium's own; only the marshalling is ours. They are the
// module libsodium-wrappers itself loaded (its `.libsodium`), so there is one libsodium, in Node
// and in a browser alike.
//
// Secrets do not stay in the heap: the key, the plaintext and any derived output are zeroed after
// each call (libsodium-wrappers frees its copies without zeroing them).
import { CryptoError } from './errors.js';
import { sodium } from './sodium.js';

/** The Emscripten exports used here; 64-bit lengths are passed as (low, high) 32-bit halves. */
interface SodiumModule {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: number, clenP: number, m: number, mlenLo: number, mlenHi: number,
    ad: number, adlenLo: number, adlenHi: number, nsec: number, npub: number, k: number,
  ): number;
  _crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: number, mlenP: number, nsec: number, c: number, clenLo: number, clenHi: number,
    ad: number, adlenLo: number, adlenHi: number, npub: number, k: number,
  ): number;
  _crypto_generichash(out: number, outlen: number, input: number, inlenLo: number, inlenHi: number, key: number, keylen: number): number;
}

const KEY_BYTES = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const MAX_HASH_KEY_BYTES = 64;
/** Larger calls (attachments, big keystores) get a region of their own, freed after the call. */
const MAX_KEPT_BYTES = 256 * 1024;

let mod: SodiumModule | null = null;
let kept = 0; // address of the region kept between calls, 0 before the first call
let keptSize = 0;

function module(): SodiumModule {
  if (mod !== null) return mod;
  const m = (sodium() as unknown as { libsodium?: Partial<SodiumModule> }).libsodium;
  if (
    m === undefined ||
    !(m.HEAPU8 instanceof Uint8Array) ||
    typeof m._malloc !== 'function' ||
    typeof m._free !== 'function' ||
    typeof m._crypto_aead_xchacha20poly1305_ietf_encrypt !== 'function' ||
    typeof m._crypto_aead_xchacha20poly1305_ietf_decrypt !== 'function' ||
    typeof m._crypto_generichash !== 'function'
  ) {
    throw new Error('libsodium-wrappers does not expose the libsodium module (.libsodium) this build needs');
  }
  mod = m as SodiumModule;
  return mod;
}

/**
 * A region of at least `size` bytes: the kept one (grown when needed) or, above MAX_KEPT_BYTES,
 * a fresh one the caller must release with `release`. Emscripten may replace HEAPU8 when malloc
 * grows the memory, so callers read `m.HEAPU8` only after this returns.
 */
function region(m: SodiumModule, size: number): number {
  if (size > MAX_KEPT_BYTES) return malloc(m, size);
  if (size > keptSize) {
    if (kept !== 0) m._free(kept);
    kept = 0;
    keptSize = 0;
    const grown = Math.min(MAX_KEPT_BYTES, Math.max(size, 4096));
    kept = malloc(m, grown);
    keptSize = grown;
  }
  return kept;
}

function malloc(m: SodiumModule, size: number): number {
  const p = m._malloc(size);
  if (p === 0) throw new CryptoError('invalid_argument', `out of WebAssembly memory for ${size} bytes`);
  return p;
}

function release(m: SodiumModule, base: number): void {
  if (base !== kept) m._free(base);
}

/**
 * A message key that is derived in the heap and never leaves it: the AEAD key is the second half
 * of BLAKE2b-512(input, key = chainKey), and the first half is written to `nextChainKey` (32 bytes).
 * This is the ratchet's KDF_CK followed by its ENCRYPT/DECRYPT (crypto/ratchet.ts), in one pass.
 */
export interface ChainStep {
  chainKey: Uint8Array;
  input: Uint8Array;
  nextChainKey: Uint8Array;
}

/** key, or chain key | KDF input | KDF output (whose second half is the key): zeroed after each call. */
const KEY_AREA = 3 * MAX_HASH_KEY_BYTES;

/** Puts the AEAD key at the start of the region (deriving it for a ChainStep); returns its address. */
function placeKey(m: SodiumModule, base: number, key: Uint8Array | ChainStep): number {
  if (key instanceof Uint8Array) {
    m.HEAPU8.set(key, base);
    return base;
  }
  if (key.chainKey.length < 1 || key.chainKey.length > MAX_HASH_KEY_BYTES || key.input.length > MAX_HASH_KEY_BYTES || key.nextChainKey.length !== KEY_BYTES) {
    throw new CryptoError('invalid_argument', 'chain step: key 1..64, input at most 64 and next chain key 32 bytes');
  }
  const input = base + MAX_HASH_KEY_BYTES;
  const o = input + MAX_HASH_KEY_BYTES;
  m.HEAPU8.set(key.chainKey, base);
  m.HEAPU8.set(key.input, input);
  if (m._crypto_generichash(o, 2 * KEY_BYTES, input, key.input.length, 0, base, key.chainKey.length) !== 0) {
    m.HEAPU8.fill(0, base, base + KEY_AREA);
    throw new CryptoError('invalid_argument', 'blake2b failed');
  }
  key.nextChainKey.set(m.HEAPU8.subarray(o, o + KEY_BYTES));
  return o + KEY_BYTES;
}

/**
 * XChaCha20-Poly1305 seal of `plaintext` under `key` (or the key of a chain step), `nonce` and
 * `ad`, written to `out` at `offset` (plaintext.length + 16 bytes: ciphertext || tag). Lengths of
 * key, nonce and output are the caller's to check.
 */
export function xchachaSealInto(
  key: Uint8Array | ChainStep,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
  offset: number,
): void {
  const m = module();
  const n = plaintext.length;
  // Layout: key area | nonce | ad | plaintext | ciphertext || tag
  const size = KEY_AREA + NONCE_BYTES + ad.length + n + n + TAG_BYTES;
  const base = region(m, size);
  const npub = base + KEY_AREA;
  const a = npub + NONCE_BYTES;
  const p = a + ad.length;
  const c = p + n;
  const k = placeKey(m, base, key);
  let heap = m.HEAPU8;
  heap.set(nonce, npub);
  heap.set(ad, a);
  heap.set(plaintext, p);
  const rc = m._crypto_aead_xchacha20poly1305_ietf_encrypt(c, 0, p, n, 0, a, ad.length, 0, 0, npub, k);
  heap = m.HEAPU8;
  if (rc === 0) out.set(heap.subarray(c, c + n + TAG_BYTES), offset);
  heap.fill(0, base, npub);
  heap.fill(0, p, c);
  release(m, base);
  if (rc !== 0) throw new CryptoError('invalid_argument', 'aead seal failed');
}

/**
 * XChaCha20-Poly1305 open of `ciphertext` (ciphertext || tag, at least 16 bytes) under `key` (or
 * the key of a chain step): the plaintext in a fresh array, or null when it does not authenticate.
 * Nothing is copied out on failure (but a chain step's next chain key is written either way).
 */
export function xchachaOpen(key: Uint8Array | ChainStep, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | null {
  const m = module();
  const n = ciphertext.length - TAG_BYTES;
  // Layout: key area | nonce | ad | ciphertext || tag | plaintext
  const size = KEY_AREA + NONCE_BYTES + ad.length + ciphertext.length + n;
  const base = region(m, size);
  const npub = base + KEY_AREA;
  const a = npub + NONCE_BYTES;
  const c = a + ad.length;
  const p = c + ciphertext.length;
  const k = placeKey(m, base, key);
  let heap = m.HEAPU8;
  heap.set(nonce, npub);
  heap.set(ad, a);
  heap.set(ciphertext, c);
  const rc = m._crypto_aead_xchacha20poly1305_ietf_decrypt(p, 0, 0, c, ciphertext.length, 0, a, ad.length, 0, npub, k);
  heap = m.HEAPU8;
  const plaintext = rc === 0 ? heap.slice(p, p + n) : null;
  heap.fill(0, base, npub);
  heap.fill(0, p, p + n);
  release(m, base);
  return plaintext;
}

/**
 * Keyed BLAKE2b with an `outLength`-byte output (1..64) written to `out` at `offset`; `key` is
 * 1..64 bytes. Checked here, since a wrong length would otherwise be libsodium's silent -1.
 */
export function blake2bKeyedInto(key: Uint8Array, input: Uint8Array, outLength: number, out: Uint8Array, offset: number): void {
  if (key.length < 1 || key.length > MAX_HASH_KEY_BYTES || outLength < 1 || outLength > 64) {
    throw new CryptoError('invalid_argument', 'blake2b key and output must be 1..64 bytes');
  }
  const m = module();
  // Layout: key | output | input
  const size = MAX_HASH_KEY_BYTES + 64 + input.length;
  const base = region(m, size);
  const k = base;
  const o = k + MAX_HASH_KEY_BYTES;
  const i = o + 64;
  let heap = m.HEAPU8;
  heap.set(key, k);
  heap.set(input, i);
  const rc = m._crypto_generichash(o, outLength, i, input.length, 0, k, key.length);
  heap = m.HEAPU8;
  if (rc === 0) out.set(heap.subarray(o, o + outLength), offset);
  // The input may be secret too (HKDF's input key material is a DH output).
  heap.fill(0, k, i + input.length);
  release(m, base);
  if (rc !== 0) throw new CryptoError('invalid_argument', 'blake2b failed');
}
