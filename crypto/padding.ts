// Plaintext padding before encryption, so a ciphertext's length says little about the message.
//
// Scheme (docs/PROTOCOL.md §9): append the marker byte 0x80, then zero bytes up to the bucket size
// (ISO/IEC 7816-4 padding). With m = len(plaintext) + 1, up to 960 bytes the bucket is
//   ceil(m / 160) * 160                 (160, 320, 480, 640, 800, 960)
// for every message. Above that the two kinds of message differ:
// - pairwise messages (MESSAGE_VERSION 3, `padMessage`): Padmé (Nikitin et al., "Reducing
//   Metadata Leakage from Encrypted Files and Communication with PURBs", PETS 2019, also used for
//   attachments): m rounded up to a multiple of 2^(E - S), E = floor(log2 m), S = floor(log2 E) + 1.
//   Here S is 4 (5 at 64 KiB),
//   so 16 sizes per doubling and at most 1/16 of overhead: a 1 KiB message is sealed as 1,088 bytes,
//   not 2,048 (the AEAD over the doubled size was most of the ratchet's cost, issue 20);
// - group messages (`pad`): the smallest power of two >= m, from 1024 (13 buckets in all).
// What still leaks: the bucket (a length to within 160 bytes below 960 bytes; above, to within
// 1/16 for a pairwise message and a factor of two for a group message), and the number and timing
// of messages.
import {
  MAX_PADDED_BYTES,
  MAX_PLAINTEXT_BYTES,
  PADDING_BLOCK_BYTES,
  PADDING_SMALL_MAX_BYTES,
} from './consts.js';
import { CryptoError } from './errors.js';

const MARKER = 0x80;

/** A padding scheme: the small buckets below PADDING_SMALL_MAX_BYTES, and a rule for larger sizes. */
interface Buckets {
  /** The bucket of a marked length m, PADDING_SMALL_MAX_BYTES < m <= MAX_PADDED_BYTES. */
  large(m: number): number;
}

const POWERS_OF_TWO: Buckets = {
  large(m) {
    let size = 1024;
    while (size < m) size *= 2;
    return size;
  },
};

const PADME: Buckets = { large: padme };

/**
 * Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
 * PURBs", PETS 2019): round L up so that only the top ~log2(log2(L)) bits below the leading one
 * may be set. Overhead is at most ~12%, and a size reveals O(log log L) bits instead of O(log L).
 */
export function padme(length: number): number {
  if (length < 2) return length;
  // Every message size, and every attachment size below 2 GiB, takes the integer path (this runs
  // three times per message: the float loops below were 12 % of a 1 KiB ratchet round trip).
  if (length < 2 ** 31) {
    const e = 31 - Math.clz32(length); // floor(log2 L)
    const s = 32 - Math.clz32(e); // floor(log2 e) + 1 = bit length of e
    const step = 1 << (e - s);
    return Math.ceil(length / step) * step;
  }
  let e = 0; // floor(log2 L), computed without floating point
  while (2 ** (e + 1) <= length) e++;
  let s = 0; // floor(log2 e) + 1 = bit length of e
  while (2 ** s <= e) s++;
  const step = 2 ** (e - s);
  return Math.ceil(length / step) * step;
}

function bucketOf(b: Buckets, length: number): number {
  if (!Number.isInteger(length) || length < 0 || length > MAX_PLAINTEXT_BYTES) {
    throw new CryptoError('invalid_argument', `plaintext length out of range: ${length}`);
  }
  const m = length + 1;
  if (m <= PADDING_SMALL_MAX_BYTES) return Math.ceil(m / PADDING_BLOCK_BYTES) * PADDING_BLOCK_BYTES;
  return b.large(m);
}

function isBucketOf(b: Buckets, size: number): boolean {
  if (!Number.isInteger(size) || size < PADDING_BLOCK_BYTES || size > MAX_PADDED_BYTES) return false;
  if (size <= PADDING_SMALL_MAX_BYTES) return size % PADDING_BLOCK_BYTES === 0;
  // Both rules are idempotent (a bucket rounds to itself), so a size is a bucket iff it is its own.
  return b.large(size) === size;
}

function padWith(b: Buckets, plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(bucketOf(b, plaintext.length));
  out.set(plaintext);
  out[plaintext.length] = MARKER;
  return out;
}

/**
 * The checks of unpadding, returning the plaintext's length: the size must be a bucket, the tail
 * must be exactly 0x80 then zeros, and the padding must be the canonical one for the recovered
 * length (no spare bucket), so a padded message has exactly one valid encoding.
 */
function unpaddedLengthWith(b: Buckets, padded: Uint8Array): number {
  if (!isBucketOf(b, padded.length)) throw new CryptoError('malformed', `not a padding bucket: ${padded.length}`);
  const i = lastNonZero(padded);
  if (i < 0 || padded[i] !== MARKER) throw new CryptoError('malformed', 'bad padding');
  if (i > MAX_PLAINTEXT_BYTES || bucketOf(b, i) !== padded.length) {
    throw new CryptoError('malformed', 'non-canonical padding');
  }
  return i;
}

// ---- group messages (powers of two above 960 bytes) ------------------------------------------------

/** The padded size of a group plaintext of `length` bytes. */
export function paddedLength(length: number): number {
  return bucketOf(POWERS_OF_TWO, length);
}

/** True when `size` is one of the group buckets, i.e. a length a padded plaintext may have. */
export function isBucketSize(size: number): boolean {
  return isBucketOf(POWERS_OF_TWO, size);
}

export function pad(plaintext: Uint8Array): Uint8Array {
  return padWith(POWERS_OF_TWO, plaintext);
}

/** Strict inverse of `pad` (see unpaddedLength). */
export function unpad(padded: Uint8Array): Uint8Array {
  return padded.slice(0, unpaddedLength(padded));
}

/** The checks of `unpad`, returning the plaintext's length (for a caller that wants a view). */
export function unpaddedLength(padded: Uint8Array): number {
  return unpaddedLengthWith(POWERS_OF_TWO, padded);
}

// ---- pairwise messages (Padmé above 960 bytes, MESSAGE_VERSION 3) -------------------------------

/** The padded size of a pairwise plaintext of `length` bytes. */
export function messagePaddedLength(length: number): number {
  return bucketOf(PADME, length);
}

/** True when `size` is a pairwise bucket. */
export function isMessageBucketSize(size: number): boolean {
  return isBucketOf(PADME, size);
}

export function padMessage(plaintext: Uint8Array): Uint8Array {
  return padWith(PADME, plaintext);
}

/**
 * padMessage written into `out` (at least messagePaddedLength(plaintext.length) bytes, any
 * contents), returning the padded view of it: for the encrypt path, which reuses one buffer.
 */
export function padMessageInto(plaintext: Uint8Array, out: Uint8Array): Uint8Array {
  const size = bucketOf(PADME, plaintext.length);
  if (out.length < size) throw new CryptoError('invalid_argument', `padding buffer of ${out.length} bytes is under ${size}`);
  out.set(plaintext);
  out[plaintext.length] = MARKER;
  out.fill(0, plaintext.length + 1, size);
  return out.subarray(0, size);
}

/** Strict inverse of `padMessage`, returning the plaintext's length (the caller takes a view). */
export function unpaddedMessageLength(padded: Uint8Array): number {
  return unpaddedLengthWith(PADME, padded);
}

/**
 * Index of the last non-zero byte, or -1. The zero tail can be most of the bucket (1,023 bytes
 * for a 1 KiB group message), so whole 4-byte words are tested where the buffer is aligned; a small
 * array is scanned byte by byte (asking a small array for its .buffer would move it off V8's heap).
 */
function lastNonZero(b: Uint8Array): number {
  let i = b.length - 1;
  const wordsEnd = b.length & ~3;
  while (i >= wordsEnd && b[i] === 0) i--;
  if (i === wordsEnd - 1 && wordsEnd >= 256 && b.byteOffset % 4 === 0) {
    const words = new Uint32Array(b.buffer, b.byteOffset, wordsEnd >>> 2);
    let j = words.length - 1;
    while (j >= 0 && words[j] === 0) j--;
    i = 4 * j + 3;
  }
  while (i >= 0 && b[i] === 0) i--;
  return i;
}
