// XChaCha20-Poly1305 (IETF construction, 24-byte nonce), the only AEAD of the protocol.
// Lengths are checked before libsodium sees the input, so a short ciphertext is a typed error and
// never a libsodium exception with an internal message.
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES } from './consts.js';
import { CryptoError } from './errors.js';
import { type ChainStep, xchachaOpen, xchachaSealInto } from './sodium-heap.js';

export type { ChainStep } from './sodium-heap.js';

/** A 32-byte key, or a chain step whose derived key never leaves libsodium's memory (sodium-heap.ts). */
export type AeadKey = Uint8Array | ChainStep;

function checkKeyNonce(key: AeadKey, nonce: Uint8Array): void {
  if (key instanceof Uint8Array && key.length !== AEAD_KEY_BYTES) throw new CryptoError('invalid_argument', 'aead key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_BYTES) throw new CryptoError('invalid_argument', 'aead nonce must be 24 bytes');
}

/** Returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + AEAD_TAG_BYTES);
  aeadSealInto(key, nonce, plaintext, ad, out, 0);
  return out;
}

/**
 * aeadSeal with ciphertext || tag written into `out` at `offset`, for a caller that frames it (the
 * pairwise envelope), so the sealed bytes are not copied a second time.
 */
export function aeadSealInto(key: AeadKey, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, out: Uint8Array, offset: number): void {
  checkKeyNonce(key, nonce);
  if (!Number.isInteger(offset) || offset < 0 || out.length - offset < plaintext.length + AEAD_TAG_BYTES) {
    throw new CryptoError('invalid_argument', 'aead output buffer too small');
  }
  xchachaSealInto(key, nonce, plaintext, ad, out, offset);
}

/** Throws `decrypt_failed` for any ciphertext that does not authenticate under key, nonce and ad. */
export function aeadOpen(key: AeadKey, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array {
  checkKeyNonce(key, nonce);
  if (ciphertext.length < AEAD_TAG_BYTES) throw new CryptoError('decrypt_failed', 'ciphertext shorter than the tag');
  const plaintext = xchachaOpen(key, nonce, ciphertext, ad);
  if (plaintext === null) throw new CryptoError('decrypt_failed', 'message could not be decrypted');
  return plaintext;
}
