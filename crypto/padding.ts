// Plaintext padding before encryption, so a ciphertext's length says little about the message.
//
// Scheme (docs/PROTOCOL.md "Padding"): append the marker byte 0x80, then zero bytes up to the
// bucket size (ISO/IEC 7816-4 padding). With m = len(plaintext) + 1, the bucket is
//   ceil(m / 160) * 160                 if m <= 960   (160, 320, 480, 640, 800, 960)
//   the smallest power of two >= m      otherwise     (1024, 2048, ..., 65536)
// What still leaks: which of these 13 buckets a message falls in (its length to within 160 bytes
// below 960 bytes, to within a factor of two above), and the number and timing of messages.
import {
  MAX_PADDED_BYTES,
  MAX_PLAINTEXT_BYTES,
  PADDING_BLOCK_BYTES,
  PADDING_SMALL_MAX_BYTES,
} from './consts.js';
import { CryptoError } from './errors.js';

const MARKER = 0x80;

/** The padded size of a plaintext of `length` bytes. */
export function paddedLength(length: number): number {
  if (!Number.isInteger(length) || length < 0 || length > MAX_PLAINTEXT_BYTES) {
    throw new CryptoError('invalid_argument', `plaintext length out of range: ${length}`);
  }
  const m = length + 1;
  if (m <= PADDING_SMALL_MAX_BYTES) return Math.ceil(m / PADDING_BLOCK_BYTES) * PADDING_BLOCK_BYTES;
  let size = 1024;
  while (size < m) size *= 2;
  return size;
}

/** True when `size` is one of the buckets, i.e. a length a padded plaintext may have. */
export function isBucketSize(size: number): boolean {
  if (!Number.isInteger(size) || size < PADDING_BLOCK_BYTES || size > MAX_PADDED_BYTES) return false;
  if (size <= PADDING_SMALL_MAX_BYTES) return size % PADDING_BLOCK_BYTES === 0;
  return size >= 1024 && (size & (size - 1)) === 0;
}

export function pad(plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(paddedLength(plaintext.length));
  out.set(plaintext);
  out[plaintext.length] = MARKER;
  return out;
}

/**
 * Strict inverse of `pad`: the size must be a bucket, the tail must be exactly 0x80 then zeros,
 * and the padding must be the canonical one for the recovered length (no spare bucket), so a
 * padded message has exactly one valid encoding.
 */
export function unpad(padded: Uint8Array): Uint8Array {
  return padded.slice(0, unpaddedLength(padded));
}

/** The checks of `unpad`, returning the plaintext's length (for a caller that wants a view). */
export function unpaddedLength(padded: Uint8Array): number {
  if (!isBucketSize(padded.length)) throw new CryptoError('malformed', `not a padding bucket: ${padded.length}`);
  const i = lastNonZero(padded);
  if (i < 0 || padded[i] !== MARKER) throw new CryptoError('malformed', 'bad padding');
  if (i > MAX_PLAINTEXT_BYTES || paddedLength(i) !== padded.length) {
    throw new CryptoError('malformed', 'non-canonical padding');
  }
  return i;
}

/**
 * Index of the last non-zero byte, or -1. The zero tail can be most of the bucket (1,023 bytes
 * for a 1 KiB message), so whole 4-byte words are tested where the buffer is aligned; a small
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
