// X25519, wrapped so that every DH in the protocol goes through one place that checks lengths and
// refuses an all-zero result. An all-zero output means the peer sent a low-order point: the
// "shared" secret would then be known to anyone, so contributory behaviour is enforced here.
import { X25519_KEY_BYTES } from './consts.js';
import { isAllZero } from './encoding.js';
import { CryptoError } from './errors.js';
import { sodium, type RandomBytes } from './sodium.js';
import type { KeyPair } from './types.js';

/** A fresh key pair from 32 random bytes (libsodium clamps the scalar when it uses it). */
export function generateKeyPair(random: RandomBytes): KeyPair {
  const privateKey = random(X25519_KEY_BYTES);
  if (privateKey.length !== X25519_KEY_BYTES) {
    throw new CryptoError('invalid_argument', `random source returned ${privateKey.length} bytes, wanted 32`);
  }
  return keyPairFromPrivate(privateKey);
}

export function keyPairFromPrivate(privateKey: Uint8Array): KeyPair {
  if (privateKey.length !== X25519_KEY_BYTES) throw new CryptoError('invalid_argument', 'x25519 private key must be 32 bytes');
  return { privateKey, publicKey: sodium().crypto_scalarmult_base(privateKey) };
}

/**
 * DH(privateKey, publicKey) = X25519(privateKey, publicKey). Throws `invalid_argument` for a
 * wrong length (parsers have checked wire keys already, so this is a caller's bug) and `bad_key`
 * when the result is all zeros (libsodium refuses it with an untyped Error; we re-check anyway).
 */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (privateKey.length !== X25519_KEY_BYTES) throw new CryptoError('invalid_argument', 'x25519 private key must be 32 bytes');
  if (publicKey.length !== X25519_KEY_BYTES) throw new CryptoError('invalid_argument', 'x25519 public key must be 32 bytes');
  let out: Uint8Array;
  try {
    out = sodium().crypto_scalarmult(privateKey, publicKey);
  } catch {
    throw new CryptoError('bad_key', 'x25519 result is all zeros (low-order public key)');
  }
  if (isAllZero(out)) throw new CryptoError('bad_key', 'x25519 result is all zeros (low-order public key)');
  return out;
}
