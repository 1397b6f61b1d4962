// The two shapes every handshake module shares, and the one canonical byte form of an address
// (it is bound into the X3DH associated data, so it must be unambiguous and identical everywhere).
import { DEVICE_ID_MAX, PROTOCOL_VERSION, USERNAME_PATTERN } from './consts.js';
import { concat, fromUtf8, lp, Reader, u32, utf8 } from './encoding.js';
import { CryptoError } from './errors.js';

/** A device of an account: `user` matches [a-z0-9_]{3,32}, `device` is 1..2^31-1. */
export interface Address {
  user: string;
  device: number;
}

/** An X25519 key pair: 32-byte private scalar (unclamped random bytes) and 32-byte public u. */
export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export function isValidUsername(user: unknown): user is string {
  return typeof user === 'string' && USERNAME_PATTERN.test(user);
}

export function isValidDeviceId(device: unknown): device is number {
  return typeof device === 'number' && Number.isInteger(device) && device >= 1 && device <= DEVICE_ID_MAX;
}

export function isValidAddress(a: unknown): a is Address {
  if (typeof a !== 'object' || a === null) return false;
  const { user, device } = a as Record<string, unknown>;
  return isValidUsername(user) && isValidDeviceId(device);
}

/** Throws `invalid_argument` (a caller's bug), quoting the bad value, which is never secret. */
export function checkAddress(a: Address): void {
  if (!isValidAddress(a)) {
    throw new CryptoError('invalid_argument', `invalid address: ${JSON.stringify(a)}`);
  }
}

/** encodeAddress(a) = lp(utf8(user)) || u32(device). Length-prefixed so "ab"+1 ≠ "a"+... */
export function encodeAddress(a: Address): Uint8Array {
  checkAddress(a);
  return concat(lp(utf8(a.user)), u32(a.device));
}

/** Reads an encoded address; an out-of-range user or device is `malformed` (it came from bytes). */
export function readAddress(r: Reader): Address {
  const user = fromUtf8(r.lp());
  const device = r.u32();
  if (!isValidUsername(user)) throw new CryptoError('malformed', 'invalid username in address');
  if (!isValidDeviceId(device)) throw new CryptoError('malformed', `invalid device id in address: ${device}`);
  return { user, device };
}

/** "alice.1": the display form of an address in messages and logs. */
export function formatAddress(a: Address): string {
  return `${a.user}.${a.device}`;
}

// ---- helpers shared by the handshake formats ---------------------------------------------------

/**
 * Reads the two leading bytes of every stored handshake structure: the version first (a future
 * version may have another length, so it is `unsupported_version`, not `malformed`), then the
 * format tag, so a blob of one kind is never taken for another.
 */
export function readFormatHeader(r: Reader, tag: number, what: string): void {
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) throw new CryptoError('unsupported_version', `${what}: unsupported version ${version}`);
  const t = r.u8();
  if (t !== tag) throw new CryptoError('malformed', `${what}: wrong format tag ${t}`);
}

/** An encoder's guard: a field of the wrong length is the caller's bug, never silently written. */
export function fixed(b: Uint8Array, n: number): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new CryptoError('invalid_argument', `field must be ${n} bytes`);
  return b;
}
