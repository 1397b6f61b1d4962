// Encryption at rest inside store.db: every secret or security-relevant value (session state,
// prekey private keys, message bodies, contact records, the integrity manifest) is
// XChaCha20-Poly1305 under the storage key from the keystore, with a fresh random nonce. The
// associated data names the column *and the row the value belongs to* (user and device, message
// id, prekey id, group id …), so someone who can rewrite store.db but does not know the storage key
// cannot move a value to another row or column: it fails to open there (docs/PROTOCOL.md S.2).
import { aeadOpen, aeadSeal } from '../../crypto/aead.js';
import { AEAD_NONCE_BYTES } from '../../crypto/consts.js';
import { concat, lp, u64, u8, utf8 } from '../../crypto/encoding.js';
import type { RandomBytes } from '../../crypto/sodium.js';

export type Column =
  | 'session'
  | 'signed_prekey'
  | 'one_time_prekey'
  | 'message'
  | 'group_message'
  | 'outbox'
  | 'group_state'
  | 'group_record'
  | 'group_sender_key'
  | 'group_pending'
  | 'file_ref'
  | 'contact'
  | 'manifest'
  | 'counter';

/** The parts of a row's primary key, in a fixed order per column (see each store module). */
export type RowKey = readonly (string | number | Uint8Array)[];

export interface Sealer {
  seal(column: Column, row: RowKey, plaintext: Uint8Array): Uint8Array;
  open(column: Column, row: RowKey, stored: Uint8Array): Uint8Array;
}

/** Tag bytes keep a string, a number and a byte string with the same bytes apart. */
const PART_STRING = Uint8Array.of(0x73);
const PART_NUMBER = Uint8Array.of(0x6e);
const PART_BYTES = Uint8Array.of(0x62);

/** lp(utf8(label)) per column, made once: every value sealed or opened builds an AD. */
const columnLabels = new Map<Column, Uint8Array>();

function columnLabel(column: Column): Uint8Array {
  let label = columnLabels.get(column);
  if (!label) columnLabels.set(column, (label = lp(utf8(`fastchat/v1/at-rest/${column}`))));
  return label;
}

/**
 * AD = lp(utf8("fastchat/v1/at-rest/" || column)) || u8(parts) || part* ; each part is
 * 's' || lp(utf8), 'n' || u64 or 'b' || lp(bytes). The leading length prefix makes every AD of
 * this format differ from the format-1 AD (the bare label), so an old value never opens as a new one.
 */
export function atRestAd(column: Column, row: RowKey): Uint8Array {
  // One copy into the AD (concat), not one per part and another for the whole.
  const parts: Uint8Array[] = [columnLabel(column), u8(row.length)];
  for (const p of row) {
    if (typeof p === 'string') parts.push(PART_STRING, lp(utf8(p)));
    else if (typeof p === 'number') parts.push(PART_NUMBER, u64(p));
    else parts.push(PART_BYTES, lp(p));
  }
  return concat(...parts);
}

export function makeSealer(storageKey: Uint8Array, random: RandomBytes): Sealer {
  return {
    seal(column, row, plaintext) {
      const nonce = random(AEAD_NONCE_BYTES);
      return concat(nonce, aeadSeal(storageKey, nonce, plaintext, atRestAd(column, row)));
    },
    open(column, row, stored) {
      const nonce = stored.subarray(0, AEAD_NONCE_BYTES);
      return aeadOpen(storageKey, nonce, stored.subarray(AEAD_NONCE_BYTES), atRestAd(column, row));
    },
  };
}

/** Format 1 (before rows were bound): AD = the column label alone. Only the migration opens it. */
export function openFormat1(storageKey: Uint8Array, column: string, stored: Uint8Array): Uint8Array {
  const nonce = stored.subarray(0, AEAD_NONCE_BYTES);
  return aeadOpen(storageKey, nonce, stored.subarray(AEAD_NONCE_BYTES), utf8(`fastchat/v1/at-rest/${column}`));
}
