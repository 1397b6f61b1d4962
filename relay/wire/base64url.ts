// Message bodies cross the relay as base64url text. The relay decodes them once (to check the size
// and store the bytes) and encodes stored bytes once per push, with Node's native codec: the
// hand-written one in crypto/encoding.ts is portable but ~10x slower, and the relay is CPU-bound.
//
// Buffer's decoder is lenient (it skips foreign characters and accepts padding), so the same
// strictness as crypto's fromBase64url is checked first: the alphabet, no padding, a possible
// length, and a canonical last character (unused low bits zero), so one byte string has exactly
// one accepted text form.
const ALPHABET = /^[A-Za-z0-9_-]*$/;

/** The 6-bit value of a base64url character (the caller checked the alphabet). */
function sextet(c: number): number {
  if (c >= 97) return c - 71; // a-z → 26..51
  if (c >= 65) return c - 65; // A-Z → 0..25
  if (c >= 48) return c + 4; //  0-9 → 52..61
  return c === 45 ? 62 : 63; //  '-' → 62, '_' → 63
}

/** Strict base64url (no padding) → bytes; undefined when `s` is not canonical base64url. */
export function decodeBase64url(s: string): Buffer | undefined {
  const rest = s.length % 4;
  if (rest === 1 || !ALPHABET.test(s)) return undefined;
  if (rest !== 0) {
    // 2 chars carry 1 byte (4 spare bits), 3 chars carry 2 bytes (2 spare bits).
    const spare = rest === 2 ? 0x0f : 0x03;
    if ((sextet(s.charCodeAt(s.length - 1)) & spare) !== 0) return undefined;
  }
  return Buffer.from(s, 'base64url');
}

/** Bytes → base64url without padding. */
export function encodeBase64url(b: Uint8Array): string {
  return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString('base64url');
}
