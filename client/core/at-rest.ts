// Encryption at rest inside store.db: every secret column (session state, prekey private keys,
// message bodies) is XChaCha20-Poly1305 under the storage key from the keystore, with a fresh
// random nonce and the column's purpose as associated data, so a value cannot be moved from one
// column (or row kind) to another without failing to open.
import { aeadOpen, aeadSeal } from '../../crypto/aead.js';
import { AEAD_NONCE_BYTES } from '../../crypto/consts.js';
import { concat, utf8 } from '../../crypto/encoding.js';
import type { RandomBytes } from '../../crypto/sodium.js';

export type Column = 'session' | 'signed_prekey' | 'one_time_prekey' | 'message' | 'outbox' | 'group_state' | 'group_record' | 'group_sender_key' | 'group_pending' | 'file_ref';

export interface Sealer {
  seal(column: Column, plaintext: Uint8Array): Uint8Array;
  open(column: Column, stored: Uint8Array): Uint8Array;
}

export function makeSealer(storageKey: Uint8Array, random: RandomBytes): Sealer {
  const ad = (c: Column): Uint8Array => utf8(`fastchat/v1/at-rest/${c}`);
  return {
    seal(column, plaintext) {
      const nonce = random(AEAD_NONCE_BYTES);
      return concat(nonce, aeadSeal(storageKey, nonce, plaintext, ad(column)));
    },
    open(column, stored) {
      const nonce = stored.subarray(0, AEAD_NONCE_BYTES);
      return aeadOpen(storageKey, nonce, stored.subarray(AEAD_NONCE_BYTES), ad(column));
    },
  };
}
