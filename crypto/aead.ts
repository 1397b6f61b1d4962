// XChaCha20-Poly1305 (IETF construction, 24-byte nonce), the only AEAD of the protocol.
// Lengths are checked before libsodium sees the input, so a short ciphertext is a typed error and
// never a libsodium exception with an internal message.
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES } from './consts.js';
import { CryptoError } from './errors.js';
import { sodium } from './sodium.js';

function checkKeyNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== AEAD_KEY_BYTES) throw new CryptoError('invalid_argument', 'aead key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_BYTES) throw new CryptoError('invalid_argument', 'aead nonce must be 24 bytes');
}

/** Returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  checkKeyNonce(key, nonce);
  return sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key);
}

/** Throws `decrypt_failed` for any ciphertext that does not authenticate under key, nonce and ad. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array {
  checkKeyNonce(key, nonce);
  if (ciphertext.length < AEAD_TAG_BYTES) throw new CryptoError('decrypt_failed', 'ciphertext shorter than the tag');
  try {
    return sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, ad, nonce, key);
  } catch {
    throw new CryptoError('decrypt_failed', 'message could not be decrypted');
  }
}
