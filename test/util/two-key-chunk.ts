// The "invisible salamanders" attack on a non-key-committing AEAD (Dodis, Grubbs, Ristenpart,
// Woodage, CRYPTO 2018; Len, Grubbs, Ristenpart, "Partitioning Oracle Attacks", USENIX Security
// 2021), for one secretstream chunk: given two stream keys, build a chunk whose Poly1305 tag is
// valid under both, so it decrypts under each key to a different plaintext. Poly1305 is linear in
// each 16-byte block of its input, so one free ciphertext block solves the equation
// tag(k1) = tag(k2) over GF(2^130 − 5).
//
// libsodium-wrappers exposes neither raw ChaCha20 nor HChaCha20, so both are written out here
// (RFC 8439 §2.3, draft-irtf-cfrg-xchacha §2.2). The tests check every chunk built here with
// stock libsodium secretstream_pull, so a mistake in this file fails them rather than hiding.
import { concat, u8 } from '../../crypto/encoding.js';

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];

function words(b: Uint8Array, n: number): number[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Array.from({ length: n }, (_, i) => dv.getUint32(4 * i, true));
}

function rounds(x: number[]): void {
  const qr = (a: number, b: number, c: number, d: number) => {
    x[a] = (x[a]! + x[b]!) | 0; x[d] = rotl(x[d]! ^ x[a]!, 16);
    x[c] = (x[c]! + x[d]!) | 0; x[b] = rotl(x[b]! ^ x[c]!, 12);
    x[a] = (x[a]! + x[b]!) | 0; x[d] = rotl(x[d]! ^ x[a]!, 8);
    x[c] = (x[c]! + x[d]!) | 0; x[b] = rotl(x[b]! ^ x[c]!, 7);
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15);
    qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14);
  }
}

function rotl(v: number, c: number): number {
  return (v << c) | (v >>> (32 - c));
}

function le32(ws: number[]): Uint8Array {
  const out = new Uint8Array(4 * ws.length);
  const dv = new DataView(out.buffer);
  ws.forEach((w, i) => dv.setUint32(4 * i, w >>> 0, true));
  return out;
}

/** ChaCha20 (IETF: 32-bit counter, 12-byte nonce), `blocks` keystream blocks from `counter`. */
function chacha20(key: Uint8Array, nonce12: Uint8Array, counter: number, blocks: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < blocks; i++) {
    const init = [...SIGMA, ...words(key, 8), counter + i, ...words(nonce12, 3)];
    const x = init.slice();
    rounds(x);
    parts.push(le32(x.map((v, j) => (v + init[j]!) | 0)));
  }
  return concat(...parts);
}

function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const x = [...SIGMA, ...words(key, 8), ...words(nonce16, 4)];
  rounds(x);
  return le32([...x.slice(0, 4), ...x.slice(12, 16)]);
}

/** What secretstream's init_pull(header, streamKey) sets up: subkey and the 12-byte nonce. */
function streamState(streamKey: Uint8Array, ssHeader: Uint8Array): { k: Uint8Array; nonce: Uint8Array } {
  return { k: hchacha20(streamKey, ssHeader.subarray(0, 16)), nonce: concat(Uint8Array.of(1, 0, 0, 0), ssHeader.subarray(16, 24)) };
}

/** The keystream byte that encrypts the first chunk's tag byte (block 1, byte 0). */
export function tagKeystreamByte(streamKey: Uint8Array, ssHeader: Uint8Array): number {
  const { k, nonce } = streamState(streamKey, ssHeader);
  return chacha20(k, nonce, 1, 1)[0]!;
}

const P = (1n << 130n) - 5n;
const TWO128 = 1n << 128n;
const leInt = (b: Uint8Array): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;
function powMod(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  for (b = mod(b, m); e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}
function leBytes(v: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

interface KeyView {
  r: bigint;
  s: bigint;
  /** The 64-byte block secretstream authenticates before the ciphertext: c0 || keystream[1..64]. */
  block: (c0: number) => Uint8Array;
  /** Keystream from block 2: what the chunk's plaintext is XORed with. */
  stream: Uint8Array;
  tagByte: number;
}

function view(streamKey: Uint8Array, ssHeader: Uint8Array, length: number): KeyView {
  const { k, nonce } = streamState(streamKey, ssHeader);
  const polyKey = chacha20(k, nonce, 0, 1);
  const b1 = chacha20(k, nonce, 1, 1);
  return {
    r: leInt(polyKey.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn,
    s: leInt(polyKey.subarray(16, 32)),
    block: (c0) => concat(u8(c0), b1.subarray(1)),
    stream: chacha20(k, nonce, 2, Math.ceil(length / 64)).subarray(0, length),
    tagByte: b1[0]!,
  };
}

/** Poly1305's accumulator (before + s) over 16-byte blocks; the input length is a multiple of 16. */
function polyAcc(r: bigint, data: Uint8Array): bigint {
  let acc = 0n;
  for (let i = 0; i < data.length; i += 16) acc = ((acc + leInt(data.subarray(i, i + 16)) + TWO128) * r) % P;
  return acc;
}

/** secretstream's MAC input for one chunk: ad || pad, the 64-byte block, c || pad, u64le lengths. */
function macInput(ad: Uint8Array, block: Uint8Array, c: Uint8Array): Uint8Array {
  const pad = (n: number) => new Uint8Array((16 - (n % 16)) % 16);
  return concat(ad, pad(ad.length), block, c, pad(64 + c.length), leBytes(BigInt(ad.length), 8), leBytes(BigInt(64 + c.length), 8));
}

/**
 * One secretstream chunk (tag byte || ciphertext || MAC) that decrypts under streamKey1 to
 * `plaintext1` — except one 16-byte block at `freeBlock` the solver chooses — with tag `tag`, and
 * whose MAC is also valid under streamKey2. Its tag byte decrypts to `tag` under streamKey2 only
 * if both keys give the same tagKeystreamByte (the caller draws keys until they do). The length
 * must be a multiple of 16. Returns null when no solution fits 16 bytes (about 3 in 4 tries;
 * change `salt` and try again).
 */
export function twoKeyChunk(
  streamKey1: Uint8Array,
  streamKey2: Uint8Array,
  ssHeader: Uint8Array,
  ad: Uint8Array,
  plaintext1: Uint8Array,
  tag: number,
  freeBlock: number,
  salt: number,
): Uint8Array | null {
  const v1 = view(streamKey1, ssHeader, plaintext1.length);
  const v2 = view(streamKey2, ssHeader, plaintext1.length);
  const c = plaintext1.map((x, i) => x ^ v1.stream[i]!);
  // Another block beside the free one changes with `salt`, giving the solver another equation.
  c[(freeBlock + 1) * 16] = c[(freeBlock + 1) * 16]! ^ (salt & 0xff);
  const c0 = tag ^ v1.tagByte;
  c.fill(0, freeBlock * 16, freeBlock * 16 + 16);
  const data1 = macInput(ad, v1.block(c0), c);
  const data2 = macInput(ad, v2.block(c0), c);
  const n = BigInt(data1.length / 16);
  const j = BigInt((ad.length + 15 - ((ad.length + 15) % 16) + 64) / 16 + freeBlock);
  const e = n - j; // block j is multiplied by r^(n − j)
  const a1 = polyAcc(v1.r, data1);
  const a2 = polyAcc(v2.r, data2);
  const coeff = mod(powMod(v1.r, e, P) - powMod(v2.r, e, P), P);
  const inv = powMod(coeff, P - 2n, P);
  // tag_k = (acc_k + s_k) mod 2^128, acc_k = a_k + X·r_k^e mod p: find X < 2^128 with equal tags.
  for (let t = -4n; t <= 4n; t++) {
    const x = mod((v2.s - v1.s + t * TWO128 - (a1 - a2)) * inv, P);
    if (x >= TWO128) continue;
    const acc1 = (a1 + x * powMod(v1.r, e, P)) % P;
    const acc2 = (a2 + x * powMod(v2.r, e, P)) % P;
    const mac1 = (acc1 + v1.s) % TWO128;
    if (mac1 !== (acc2 + v2.s) % TWO128) continue;
    c.set(leBytes(x, 16), freeBlock * 16);
    return concat(u8(c0), c, leBytes(mac1, 16));
  }
  return null;
}
