// Bearer tokens: 32 random bytes, base64url. Only SHA-256(token) is stored, so a copy of the
// database does not let anyone log in. (A fast hash is right here: the token has 256 bits of
// entropy, unlike a password, so there is nothing to brute-force.)
import { createHash, randomBytes } from 'node:crypto';
import { toBase64url } from '../crypto/encoding.js';

export const TOKEN_BYTES = 32;

export function newToken(): string {
  return toBase64url(randomBytes(TOKEN_BYTES));
}

export function hashToken(token: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(token, 'utf8').digest());
}

/** A syntactically possible token (43 base64url chars); anything else is refused unhashed. */
export function looksLikeToken(s: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(s);
}
