import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { sodium, sodiumReady, type RandomBytes } from './sodium.js';
import { AttachmentOpener, AttachmentSealer, attachmentBlobSize, attachmentKeys, attachmentPaddedSize, type AttachmentRef } from './attachment.js';
import { padme } from './padding.js';
import { ATTACHMENT_CHUNK_BYTES, ATTACHMENT_HEADER_BYTES, ATTACHMENT_MAX_BYTES, ATTACHMENT_MIN_PADDED_BYTES, SECRETSTREAM_ABYTES } from './consts.js';
import { concat, fromHex, toHex, u64, utf8 } from './encoding.js';
import { isCryptoError } from './errors.js';
import { ROOT } from '../test/util/paths.js';
import { seededRandom } from '../scripts/vectors/seeded.js';
import { tagKeystreamByte, twoKeyChunk } from '../test/util/two-key-chunk.js';

await sodiumReady();

const CHUNK = ATTACHMENT_CHUNK_BYTES;
const CT = CHUNK + SECRETSTREAM_ABYTES;
/** Blob layout (v2): version || tag || commitment (32) || secretstream header (24) || chunks. */
const COMMIT_AT = 2;
const SS_HEADER_AT = 34;
const CHUNKS_AT = 58;
const AD = Uint8Array.of(2, 0x40);

/** streamKey || commitment = keyed BLAKE2b-512(key, "fastchat/v2/attachment/keys"), from libsodium directly. */
function rawKeys(key: Uint8Array): { streamKey: Uint8Array; commitment: Uint8Array } {
  const out = sodium().crypto_generichash(64, utf8('fastchat/v2/attachment/keys'), key);
  return { streamKey: out.subarray(0, 32), commitment: out.subarray(32) };
}

/** A deterministic RandomBytes (counter bytes), so failures reproduce. */
function counterRandom(seed: number): RandomBytes {
  let n = seed;
  return (len) => Uint8Array.from({ length: len }, () => n++ & 0xff);
}

function fileOf(size: number, seed = 7): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function splitAt(b: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, b.length]) {
    out.push(b.subarray(prev, p));
    prev = p;
  }
  return out;
}

function seal(file: Uint8Array, random: RandomBytes = counterRandom(1), cuts: number[] = []): { blob: Uint8Array; ref: AttachmentRef } {
  const s = new AttachmentSealer(file.length, random);
  const parts: Uint8Array[] = [];
  for (const piece of splitAt(file, cuts)) parts.push(...s.push(piece));
  for (const c of s.finish()) parts.push(c);
  const blob = concat(...parts);
  return { blob, ref: { key: s.key, size: file.length, hash: s.sealed().hash } };
}

function open(blob: Uint8Array, ref: AttachmentRef, cuts: number[] = []): Uint8Array {
  const o = new AttachmentOpener(ref);
  const parts: Uint8Array[] = [];
  for (const piece of splitAt(blob, cuts)) parts.push(...o.pull(piece));
  o.finish();
  return concat(...parts);
}

const refused = (f: () => unknown, code: string) => assert.throws(f, (e) => isCryptoError(e) && e.code === code, `expected ${code}`);

test('Padmé keeps at most log2(log2 L)+1 significant bits and adds at most ~12%', () => {
  assert.deepEqual([0, 1, 2, 3, 9, 10, 11, 16, 17].map(padme), [0, 1, 2, 3, 10, 10, 12, 16, 18]);
  for (let l = 2; l < 100_000; l += 97) {
    const p = padme(l);
    assert.ok(p >= l && p <= l * 1.125 + 2, `padme(${l}) = ${p}`);
    assert.equal(padme(p), p, 'a padded size is its own bucket');
  }
});

test('blob sizes: at least the 4 KiB minimum, one 17-byte tag per chunk, plus the 58-byte header', () => {
  assert.equal(ATTACHMENT_HEADER_BYTES, CHUNKS_AT);
  assert.equal(attachmentPaddedSize(0), ATTACHMENT_MIN_PADDED_BYTES);
  assert.equal(attachmentBlobSize(0), ATTACHMENT_HEADER_BYTES + 4096 + 17);
  assert.equal(attachmentBlobSize(1), attachmentBlobSize(0), 'small files all look alike');
  assert.equal(attachmentBlobSize(4088), attachmentBlobSize(0));
  assert.equal(attachmentPaddedSize(CHUNK - 8), CHUNK);
  assert.equal(attachmentBlobSize(CHUNK - 8), ATTACHMENT_HEADER_BYTES + CHUNK + 17, 'exactly one chunk');
  assert.equal(Math.ceil(attachmentPaddedSize(CHUNK) / CHUNK), 2);
  const fifty = 50 * 1000 * 1000;
  assert.ok(attachmentPaddedSize(fifty) - fifty < fifty * 0.03, 'large files pay a few percent');
  refused(() => attachmentBlobSize(-1), 'invalid_argument');
  refused(() => attachmentBlobSize(ATTACHMENT_MAX_BYTES + 1), 'invalid_argument');
  refused(() => attachmentBlobSize(1.5), 'invalid_argument');
});

test('files of 0, 1, one chunk, one chunk + 1 and three chunks round-trip byte for byte', () => {
  for (const size of [0, 1, CHUNK - 8, CHUNK - 7, CHUNK, CHUNK + 1, 3 * CHUNK + 5]) {
    const file = fileOf(size);
    const { blob, ref } = seal(file);
    assert.equal(blob.length, attachmentBlobSize(size), `size ${size}`);
    assert.deepEqual(open(blob, ref), file, `size ${size}`);
  }
});

test('round-trips any size under any slicing of the input on either side', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 3 * CHUNK + 100 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.nat(255),
      (size, pushCuts, pullCuts, seed) => {
        const file = fileOf(size, seed);
        const { blob, ref } = seal(file, counterRandom(seed), pushCuts);
        assert.equal(blob.length, attachmentBlobSize(size));
        assert.deepEqual(open(blob, ref, pullCuts), file);
      },
    ),
    { numRuns: 40 },
  );
});

test('the key, stream header and blob come only from the random source: same source, same blob', () => {
  const a = seal(fileOf(1000), counterRandom(3));
  const b = seal(fileOf(1000), counterRandom(3));
  assert.deepEqual(a.blob, b.blob);
  const c = seal(fileOf(1000), counterRandom(4));
  assert.notDeepEqual(c.blob, a.blob);
});

test('interoperates with stock libsodium secretstream in both directions', () => {
  const s = sodium();
  const file = fileOf(CHUNK + 300);
  // Ours → stock init_pull / pull.
  const { blob, ref } = seal(file);
  const { streamKey, commitment } = rawKeys(ref.key);
  assert.deepEqual(blob.subarray(COMMIT_AT, SS_HEADER_AT), commitment);
  const st = s.crypto_secretstream_xchacha20poly1305_init_pull(blob.subarray(SS_HEADER_AT, CHUNKS_AT), streamKey);
  const c1 = s.crypto_secretstream_xchacha20poly1305_pull(st, blob.subarray(CHUNKS_AT, CHUNKS_AT + CT), blob.subarray(0, 2));
  assert.ok(c1);
  assert.equal(c1.tag, s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  assert.deepEqual(c1.message.subarray(0, 8), u64(file.length));
  assert.deepEqual(c1.message.subarray(8), file.subarray(0, CHUNK - 8));
  const c2 = s.crypto_secretstream_xchacha20poly1305_pull(st, blob.subarray(CHUNKS_AT + CT), blob.subarray(0, 2));
  assert.ok(c2);
  assert.equal(c2.tag, s.crypto_secretstream_xchacha20poly1305_TAG_FINAL);

  // Stock init_push (libsodium's own random header) → ours.
  const key = s.crypto_secretstream_xchacha20poly1305_keygen();
  const stock = rawKeys(key);
  const push = s.crypto_secretstream_xchacha20poly1305_init_push(stock.streamKey);
  const padded = new Uint8Array(attachmentPaddedSize(file.length));
  padded.set(u64(file.length));
  padded.set(file, 8);
  const ad = AD;
  const parts: Uint8Array[] = [ad, stock.commitment, push.header];
  for (let off = 0; off < padded.length; off += CHUNK) {
    const end = Math.min(off + CHUNK, padded.length);
    const tag = end === padded.length ? s.crypto_secretstream_xchacha20poly1305_TAG_FINAL : s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    parts.push(s.crypto_secretstream_xchacha20poly1305_push(push.state, padded.subarray(off, end), ad, tag));
  }
  const stockBlob = concat(...parts);
  const hash = s.crypto_generichash(32, stockBlob, null);
  assert.deepEqual(open(stockBlob, { key, size: file.length, hash }), file);
});

test('a blob cut anywhere is refused as truncated, including exactly at a chunk boundary', () => {
  const file = fileOf(2 * CHUNK);
  const { blob, ref } = seal(file);
  for (const cut of [0, 10, ATTACHMENT_HEADER_BYTES, ATTACHMENT_HEADER_BYTES + CT, ATTACHMENT_HEADER_BYTES + 2 * CT, blob.length - 1]) {
    refused(() => open(blob.subarray(0, cut), ref), 'decrypt_failed');
  }
});

test('a truncated stream re-tagged FINAL early, or one missing its FINAL tag, is refused', () => {
  const s = sodium();
  const key = new Uint8Array(32).fill(9);
  const { streamKey, commitment } = rawKeys(key);
  const header = new Uint8Array(24).fill(5);
  const ad = AD;
  const size = 2 * CHUNK;
  const padded = new Uint8Array(attachmentPaddedSize(size));
  padded.set(u64(size));
  const chunks = Math.ceil(padded.length / CHUNK);
  const build = (tagOf: (i: number) => number) => {
    const st = s.crypto_secretstream_xchacha20poly1305_init_pull(header, streamKey);
    const parts: Uint8Array[] = [ad, commitment, header];
    for (let i = 0; i < chunks; i++) {
      parts.push(s.crypto_secretstream_xchacha20poly1305_push(st, padded.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, padded.length)), ad, tagOf(i)));
    }
    const blob = concat(...parts);
    return { blob, ref: { key, size, hash: s.crypto_generichash(32, blob, null) } };
  };
  const FINAL = s.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  const MESSAGE = s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  const good = build((i) => (i === chunks - 1 ? FINAL : MESSAGE));
  assert.equal(open(good.blob, good.ref).length, size);
  const noFinal = build(() => MESSAGE);
  refused(() => open(noFinal.blob, noFinal.ref), 'decrypt_failed');
  const earlyFinal = build((i) => (i === 0 ? FINAL : i === chunks - 1 ? FINAL : MESSAGE));
  refused(() => open(earlyFinal.blob, earlyFinal.ref), 'decrypt_failed');
  const push = build((i) => (i === chunks - 1 ? FINAL : s.crypto_secretstream_xchacha20poly1305_TAG_PUSH));
  refused(() => open(push.blob, push.ref), 'decrypt_failed');
});

test('swapped chunks are refused', () => {
  const { blob, ref } = seal(fileOf(3 * CHUNK));
  const h = ATTACHMENT_HEADER_BYTES;
  const swapped = concat(blob.subarray(0, h), blob.subarray(h + CT, h + 2 * CT), blob.subarray(h, h + CT), blob.subarray(h + 2 * CT));
  refused(() => open(swapped, ref), 'decrypt_failed');
});

test('a flipped bit anywhere in the blob is refused with a typed error', () => {
  const { blob, ref } = seal(fileOf(CHUNK + 1000));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: blob.length - 1 }), fc.integer({ min: 0, max: 7 }), (at, bit) => {
      const bad = blob.slice();
      bad[at]! ^= 1 << bit;
      assert.throws(() => open(bad, ref), (e) => isCryptoError(e) && ['decrypt_failed', 'malformed', 'unsupported_version'].includes(e.code));
    }),
    { numRuns: 60 },
  );
  for (const v of [1, 3]) {
    const versionFlip = blob.slice();
    versionFlip[0] = v;
    refused(() => open(versionFlip, ref), 'unsupported_version');
  }
  const tagFlip = blob.slice();
  tagFlip[1] = 0x33;
  refused(() => open(tagFlip, ref), 'malformed');
});

test('bytes after the declared blob are refused before they are decrypted', () => {
  const { blob, ref } = seal(fileOf(10));
  const o = new AttachmentOpener(ref);
  o.pull(blob);
  refused(() => o.pull(Uint8Array.of(0)), 'malformed');
});

test('a blob that opens but is not the one the message named (hash, size, key) is refused', () => {
  const file = fileOf(5000);
  const { blob, ref } = seal(file);
  refused(() => open(blob, { ...ref, hash: new Uint8Array(32) }), 'decrypt_failed');
  // Same blob size bucket, different declared file size: the authenticated size prefix differs.
  refused(() => open(blob, { ...ref, size: 5001 }), 'decrypt_failed');
  refused(() => open(blob, { ...ref, key: new Uint8Array(32).fill(1) }), 'decrypt_failed');
  refused(() => new AttachmentOpener({ ...ref, key: new Uint8Array(31) }), 'invalid_argument');
  refused(() => new AttachmentOpener({ ...ref, hash: new Uint8Array(64) }), 'invalid_argument');
});

test('a blob built to open under two keys is refused under the key it does not commit to, before any chunk is decrypted', () => {
  // A hostile sender wants two recipients to keep different files "with the same hash": one blob,
  // one hash in both messages, key1 in one and key2 in the other. The chunk below authenticates
  // under both stream keys (Poly1305 is not key-committing); only the commitment tells them apart.
  const s = sodium();
  const size = 4096 - 8; // one chunk, no padding: every byte of P is file for key1
  const file1 = utf8('the file recipient one is meant to keep. '.repeat(100)).subarray(0, size);
  const ssHeader = new Uint8Array(24).fill(0x5a);
  const key1 = new Uint8Array(32).fill(0x11);
  const k1 = rawKeys(key1);
  // Draw key2 until its stream key decrypts the tag byte to FINAL too (1 in 256).
  let key2: Uint8Array | null = null;
  for (let i = 0; i < 20_000 && key2 === null; i++) {
    const candidate = s.crypto_generichash(32, u64(i), key1);
    if (tagKeystreamByte(rawKeys(candidate).streamKey, ssHeader) === tagKeystreamByte(k1.streamKey, ssHeader)) key2 = candidate;
  }
  assert.ok(key2, 'a second key with the same tag keystream byte');
  const k2 = rawKeys(key2);
  const FINAL = s.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  let chunk: Uint8Array | null = null;
  for (let salt = 0; salt < 64 && chunk === null; salt++) chunk = twoKeyChunk(k1.streamKey, k2.streamKey, ssHeader, AD, concat(u64(size), file1), FINAL, 100, salt);
  assert.ok(chunk, 'the two-key chunk was built');

  // The attack is real at the primitive: stock libsodium accepts the chunk under both keys.
  const pulled = [k1, k2].map((k) => s.crypto_secretstream_xchacha20poly1305_pull(s.crypto_secretstream_xchacha20poly1305_init_pull(ssHeader, k.streamKey), chunk, AD));
  assert.ok(pulled[0] && pulled[1], 'both keys authenticate the chunk');
  assert.equal(pulled[0].tag, FINAL);
  assert.equal(pulled[1].tag, FINAL);
  assert.notDeepEqual(pulled[0].message, pulled[1].message, 'two different plaintexts from one ciphertext');

  // The blob commits to key1; both messages name its one hash.
  const blob = concat(AD, k1.commitment, ssHeader, chunk);
  const hash = s.crypto_generichash(32, blob, null);
  const opened = open(blob, { key: key1, size, hash });
  assert.equal(opened.length, size);
  assert.deepEqual(opened.subarray(0, 1000), file1.subarray(0, 1000));
  // Under key2 the opener stops at the header: nothing is decrypted, no byte released.
  const o = new AttachmentOpener({ key: key2, size, hash });
  refused(() => o.pull(blob.subarray(0, ATTACHMENT_HEADER_BYTES)), 'decrypt_failed');
  refused(() => open(blob, { key: key2, size, hash }), 'decrypt_failed');
  // And a blob committing to key2 instead is refused under key1, the same way.
  const other = concat(AD, k2.commitment, ssHeader, chunk);
  refused(() => new AttachmentOpener({ key: key1, size, hash: s.crypto_generichash(32, other, null) }).pull(other.subarray(0, ATTACHMENT_HEADER_BYTES)), 'decrypt_failed');
});

test('the sealer refuses more or fewer bytes than declared', () => {
  const s = new AttachmentSealer(3, counterRandom(0));
  refused(() => s.push(new Uint8Array(4)), 'invalid_argument');
  s.push(new Uint8Array(2));
  refused(() => [...s.finish()], 'invalid_argument');
  refused(() => s.sealed(), 'invalid_argument');
});

test('the sealer holds at most one chunk: output keeps pace with input', () => {
  const s = new AttachmentSealer(10 * CHUNK, counterRandom(0));
  let out = 0;
  for (let i = 0; i < 10; i++) {
    for (const c of s.push(new Uint8Array(CHUNK))) out += c.length;
    assert.ok(out >= (i + 1) * CHUNK - CHUNK, `after ${i + 1} chunks in, ${out} bytes out`);
  }
});

// docs/vectors/attachment.json, re-derived piece by piece with raw libsodium.
type J = any; // untyped vector JSON, read field by field
test('attachment vectors: each blob decrypts with raw secretstream to the size prefix, file and zero padding', () => {
  const doc = JSON.parse(readFileSync(join(ROOT, 'docs/vectors/attachment.json'), 'utf8')) as J;
  const s = sodium();
  assert.ok(doc.vectors.cases.length >= 3);
  assert.equal(doc.vectors.chunkBytes, CHUNK);
  let chunked = false;
  for (const c of doc.vectors.cases as J[]) {
    const blob = fromHex(c.blob);
    assert.equal(blob.length, c.blobSize, c.name);
    assert.equal(toHex(s.crypto_generichash(32, blob, null)), c.hash, c.name);
    assert.equal(toHex(blob.subarray(0, 2)), '0240');
    const { streamKey, commitment } = rawKeys(fromHex(c.key));
    assert.equal(toHex(streamKey), c.streamKey, c.name);
    assert.equal(toHex(commitment), c.commitment, c.name);
    assert.equal(toHex(blob.subarray(COMMIT_AT, SS_HEADER_AT)), c.commitment);
    assert.equal(toHex(blob.subarray(SS_HEADER_AT, CHUNKS_AT)), c.streamHeader);
    const st = s.crypto_secretstream_xchacha20poly1305_init_pull(blob.subarray(SS_HEADER_AT, CHUNKS_AT), streamKey);
    const plain: Uint8Array[] = [];
    let off = CHUNKS_AT;
    while (off < blob.length) {
      const end = Math.min(off + CT, blob.length);
      const r = s.crypto_secretstream_xchacha20poly1305_pull(st, blob.subarray(off, end), blob.subarray(0, 2));
      assert.ok(r, c.name);
      assert.equal(r.tag, end === blob.length ? 3 : 0, c.name);
      plain.push(r.message);
      off = end;
    }
    const p = concat(...plain);
    assert.equal(p.length, c.paddedSize, c.name);
    assert.equal(toHex(p.subarray(0, 8)), toHex(u64(c.size)));
    const file: string = c.file ?? toHex(seededRandom(c.fileFromSeed)(c.size));
    assert.equal(toHex(p.subarray(8, 8 + c.size)), file, c.name);
    assert.ok(p.subarray(8 + c.size).every((x) => x === 0), c.name);
    assert.equal(toHex(open(blob, { key: fromHex(c.key), size: c.size, hash: fromHex(c.hash) })), file);
    chunked ||= blob.length > CHUNKS_AT + CT;
  }
  assert.ok(chunked, 'a case spans more than one chunk');
});
