// Byte helpers shared by every wire format. All multi-byte integers are big-endian. Parsers read
// through `Reader`, which checks every length before it hands out bytes, so malformed input
// becomes a typed `malformed` error and never an out-of-range read or a thrown TypeError.
import { CryptoError } from './errors.js';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(s: string): Uint8Array {
  return textEncoder.encode(s);
}

export function fromUtf8(b: Uint8Array): string {
  try {
    return textDecoder.decode(b);
  } catch {
    throw new CryptoError('malformed', 'invalid utf-8');
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function u8(n: number): Uint8Array {
  checkUint(n, 0xff);
  return Uint8Array.of(n);
}

export function u16(n: number): Uint8Array {
  checkUint(n, 0xffff);
  return Uint8Array.of(n >>> 8, n & 0xff);
}

export function u32(n: number): Uint8Array {
  checkUint(n, 0xffffffff);
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** 64-bit big-endian from a safe integer (timestamps in milliseconds). */
export function u64(n: number): Uint8Array {
  checkUint(n, Number.MAX_SAFE_INTEGER);
  const hi = Math.floor(n / 2 ** 32);
  return concat(u32(hi), u32(n >>> 0));
}

function checkUint(n: number, max: number): void {
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new CryptoError('invalid_argument', `integer out of range: ${n}`);
  }
}

/** Length-prefixed (u16) bytes: the encoding of every variable-length field. */
export function lp(b: Uint8Array): Uint8Array {
  return concat(u16(b.length), b);
}

export class Reader {
  private offset = 0;
  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  bytes(n: number): Uint8Array {
    if (n < 0 || this.offset + n > this.buf.length) {
      throw new CryptoError('malformed', `truncated: wanted ${n} bytes, ${this.remaining} left`);
    }
    const out = this.buf.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /**
   * Like bytes(n) but a view into the input, not a copy: only for data that is used at once and
   * not kept, since a later change to the input would show through it.
   */
  view(n: number): Uint8Array {
    if (n < 0 || this.offset + n > this.buf.length) {
      throw new CryptoError('malformed', `truncated: wanted ${n} bytes, ${this.remaining} left`);
    }
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** The offset of the next n bytes, which are then consumed; the same check and error as bytes(n). */
  private take(n: number): number {
    if (this.offset + n > this.buf.length) {
      throw new CryptoError('malformed', `truncated: wanted ${n} bytes, ${this.remaining} left`);
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }

  // The integers are read in place: a copy per field was 1-2 % of a ratchet round trip (issue 20).
  u8(): number {
    return this.buf[this.take(1)]!;
  }

  u16(): number {
    const at = this.take(2);
    return (this.buf[at]! << 8) | this.buf[at + 1]!;
  }

  u32(): number {
    const at = this.take(4);
    const b = this.buf;
    return ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;
  }

  u64(): number {
    const hi = this.u32();
    const lo = this.u32();
    const n = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(n)) throw new CryptoError('malformed', 'u64 beyond 2^53');
    return n;
  }

  lp(): Uint8Array {
    return this.bytes(this.u16());
  }

  /** Every parser ends with this: trailing bytes are an error, not ignored. */
  end(): void {
    if (this.remaining !== 0) throw new CryptoError('malformed', `${this.remaining} trailing bytes`);
  }
}

const HEX = '0123456789abcdef';

export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += HEX[x >>> 4]! + HEX[x & 15]!;
  return s;
}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new CryptoError('malformed', 'invalid hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** base64url without padding (RFC 4648 §5): the encoding of bytes inside JSON. */
export function toBase64url(b: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 3 <= b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64URL[n >>> 18]! + B64URL[(n >>> 12) & 63]! + B64URL[(n >>> 6) & 63]! + B64URL[n & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i]! << 16;
    s += B64URL[n >>> 18]! + B64URL[(n >>> 12) & 63]!;
  } else if (rest === 2) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    s += B64URL[n >>> 18]! + B64URL[(n >>> 12) & 63]! + B64URL[(n >>> 6) & 63]!;
  }
  return s;
}

/** The value of each base64url character by its char code (the regex below admits no others). */
const B64URL_VALUE = new Uint8Array(128);
for (let i = 0; i < B64URL.length; i++) B64URL_VALUE[B64URL.charCodeAt(i)] = i;

/** Strict: refuses padding, other alphabets, impossible lengths and non-canonical last chars. */
export function fromBase64url(s: string): Uint8Array {
  if (!B64URL_RE.test(s) || s.length % 4 === 1) throw new CryptoError('malformed', 'invalid base64url');
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  // By char code through a table: every message body is decoded here (a search of the alphabet
  // per character was a tenth of a client's CPU time receiving a group backlog).
  for (let i = 0; i < s.length; i++) {
    acc = (acc << 6) | B64URL_VALUE[s.charCodeAt(i)]!;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new CryptoError('malformed', 'non-canonical base64url');
  return out;
}

/** Constant-time equality for secrets and MACs; lengths are public. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function isAllZero(b: Uint8Array): boolean {
  let d = 0;
  for (const x of b) d |= x;
  return d === 0;
}

/** Best-effort wipe of secret bytes once they are no longer needed (JS gives no guarantee). */
export function wipe(...bufs: (Uint8Array | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
