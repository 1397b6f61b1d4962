// Message bodies cross the relay as base64url text. The relay decodes them once (to check the size
// and store the bytes) and encodes stored bytes once per push, with Node's native codec: the
// hand-written one in crypto/encoding.ts is portable but ~10x slower, and the relay is CPU-bound.
//
// Buffer's decoder is lenient (it skips foreign characters, accepts padding and the standard
// alphabet's + and /, and ignores unused low bits), so a text is accepted only if it is exactly the
// canonical encoding of the bytes it decodes to: that is crypto's strictness (the alphabet, no
// padding, a possible length, a canonical last character), so one byte string has exactly one
// accepted text form. Encoding the bytes back costs less than a regular expression over the text.

/** Strict base64url (no padding) → bytes; undefined when `s` is not canonical base64url. */
export function decodeBase64url(s: string): Buffer | undefined {
  const bytes = Buffer.from(s, 'base64url');
  return bytes.toString('base64url') === s ? bytes : undefined;
}

/** Bytes → base64url without padding. */
export function encodeBase64url(b: Uint8Array): string {
  return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString('base64url');
}
