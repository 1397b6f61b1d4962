// HKDF (RFC 5869) with keyed BLAKE2b-512 standing in for HMAC-Hash. BLAKE2b is a secure PRF
// when keyed directly (its design allows keys up to 64 bytes), so the HMAC construction's double
// hashing is not needed; everything else follows the RFC step by step.
import { KDF_HASH_BYTES } from './consts.js';
import { concat, u8, utf8 } from './encoding.js';
import { CryptoError } from './errors.js';
import { blake2bKeyedInto } from './sodium-heap.js';

/** PRF(key, data) = BLAKE2b-512(data, key). `key` is 1..64 bytes. */
export function prf(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length < 1 || key.length > KDF_HASH_BYTES) {
    throw new CryptoError('invalid_argument', `prf key must be 1..64 bytes, got ${key.length}`);
  }
  const out = new Uint8Array(KDF_HASH_BYTES);
  blake2bKeyedInto(key, data, KDF_HASH_BYTES, out, 0);
  return out;
}

/** HKDF-Extract: PRK = PRF(salt, IKM); an empty salt means 64 zero bytes, as in the RFC. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return prf(salt.length === 0 ? ZERO_SALT : salt, ikm);
}

/** Never written to (libsodium copies its inputs), so one instance serves every call. */
const ZERO_SALT = new Uint8Array(KDF_HASH_BYTES);

/** HKDF-Expand: T(i) = PRF(PRK, T(i-1) || info || i), output the first `length` bytes. */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > 255 * KDF_HASH_BYTES) {
    throw new CryptoError('invalid_argument', `hkdf length out of range: ${length}`);
  }
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, o = 0; o < length; i++) {
    t = prf(prk, concat(t, info, u8(i)));
    out.set(t.subarray(0, Math.min(t.length, length - o)), o);
    o += t.length;
  }
  return out;
}

/** HKDF(salt, IKM, info, L) with a UTF-8 label as info. */
export function hkdf(salt: Uint8Array, ikm: Uint8Array, label: string, length: number): Uint8Array {
  return hkdfExpand(hkdfExtract(salt, ikm), utf8(label), length);
}
