import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isBucketSize, isMessageBucketSize, messagePaddedLength, pad, padme, padMessage, padMessageInto, paddedLength, unpad, unpaddedMessageLength } from './padding.js';
import { MAX_PADDED_BYTES, MAX_PLAINTEXT_BYTES } from './consts.js';
import { isCryptoError } from './errors.js';

const BUCKETS = [160, 320, 480, 640, 800, 960, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

test('pads to multiples of 160 up to 960 bytes, then to powers of two up to 64 KiB', () => {
  const cases: [number, number][] = [
    [0, 160], [159, 160], [160, 320], [319, 320], [959, 960], [960, 1024], [1023, 1024],
    [1024, 2048], [32767, 32768], [32768, 65536], [MAX_PLAINTEXT_BYTES, MAX_PADDED_BYTES],
  ];
  for (const [len, size] of cases) assert.equal(paddedLength(len), size, `length ${len}`);
  const sizes = new Set<number>();
  for (let len = 0; len <= MAX_PLAINTEXT_BYTES; len += 7) sizes.add(paddedLength(len));
  assert.deepEqual([...sizes].sort((a, b) => a - b), BUCKETS);
  for (const b of BUCKETS) assert.ok(isBucketSize(b));
});

test('the padding is the marker 0x80 followed by zeros', () => {
  const p = pad(Uint8Array.of(1, 2, 3));
  assert.equal(p.length, 160);
  assert.deepEqual([...p.subarray(0, 5)], [1, 2, 3, 0x80, 0]);
  assert.ok(p.subarray(4).every((x) => x === 0));
});

test('refuses a plaintext longer than MAX_PLAINTEXT_BYTES', () => {
  assert.throws(() => pad(new Uint8Array(MAX_PLAINTEXT_BYTES + 1)), (e) => isCryptoError(e, 'invalid_argument'));
});

test('unpad refuses a size that is not a bucket, a missing marker, garbage after it, and spare buckets', () => {
  const bad = (b: Uint8Array) => assert.throws(() => unpad(b), (e) => isCryptoError(e, 'malformed'));
  bad(new Uint8Array(0));
  bad(new Uint8Array(161));
  bad(new Uint8Array(160)); // all zeros: no marker
  const noMarker = pad(Uint8Array.of(9));
  noMarker[1] = 0x81;
  bad(noMarker);
  const trailing = pad(Uint8Array.of(9));
  trailing[159] = 1;
  bad(trailing);
  // 10 bytes padded into the 320 bucket: valid-looking but not canonical.
  const spare = new Uint8Array(320);
  spare[10] = 0x80;
  bad(spare);
  bad(new Uint8Array(MAX_PADDED_BYTES * 2).fill(0x80));
});

test('unpad finds a stray byte anywhere in a long zero tail, at any alignment of the buffer', () => {
  // The tail is scanned a word at a time where aligned: every byte position and offset must count.
  const pt = new Uint8Array(1024).fill(3);
  for (const offset of [0, 1, 2, 3, 4]) {
    const backing = new Uint8Array(offset + 2048);
    backing.set(pad(pt), offset);
    const padded = backing.subarray(offset, offset + 2048);
    assert.deepEqual(unpad(padded), pt);
    for (let i = 1025; i < 2048; i++) {
      padded[i] = 1;
      assert.throws(() => unpad(padded), (e) => isCryptoError(e, 'malformed'), `offset ${offset}, byte ${i}`);
      padded[i] = 0;
    }
  }
});

test('pad then unpad returns the plaintext for any length, including trailing 0x80 and zero bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.constantFrom(0, 0x80), (body, last) => {
      const pt = Uint8Array.from([...body, last]);
      assert.deepEqual(unpad(pad(pt)), pt);
    }),
  );
});

test('the padded length depends only on the bucket of the plaintext length', () => {
  fc.assert(
    fc.property(fc.nat({ max: MAX_PLAINTEXT_BYTES }), fc.nat({ max: MAX_PLAINTEXT_BYTES }), (a, b) => {
      const sameBucket = paddedLength(a) === paddedLength(b);
      assert.equal(pad(new Uint8Array(a)).length === pad(new Uint8Array(b)).length, sameBucket);
      // Within a bucket the length is constant; different buckets never collide.
      const bucketA = BUCKETS.find((s) => s >= a + 1);
      const bucketB = BUCKETS.find((s) => s >= b + 1);
      assert.equal(sameBucket, bucketA === bucketB);
    }),
    { numRuns: 300 },
  );
});

test('unpad on random bytes throws only a CryptoError', () => {
  fc.assert(
    fc.property(fc.constantFrom(...BUCKETS.slice(0, 7), 17, 0), fc.uint8Array({ maxLength: 64 }), (size, head) => {
      const b = new Uint8Array(size);
      b.set(head.subarray(0, size));
      try {
        unpad(b);
      } catch (e) {
        assert.ok(isCryptoError(e, 'malformed'));
      }
    }),
  );
});

// ---- pairwise messages: Padmé above 960 bytes (message version 3) -------------------------------

/** Padmé as PROTOCOL.md §9 writes it, in floating point: the reference the integer path must match. */
function padmeAsWritten(L: number): number {
  if (L < 2) return L;
  const E = Math.floor(Math.log2(L));
  const S = Math.floor(Math.log2(E)) + 1;
  const step = 2 ** (E - S);
  return Math.ceil(L / step) * step;
}

test('pairwise messages pad to 160-byte buckets up to 960 bytes, then to Padmé sizes: 104 buckets, at most 1/16 over', () => {
  const cases: [number, number][] = [
    [0, 160], [959, 960], [960, 992], [991, 992], [992, 1024], [1023, 1024], [1024, 1088], [1087, 1088],
    [1088, 1152], [2047, 2048], [2048, 2176], [32767, 32768], [32768, 34816], [MAX_PLAINTEXT_BYTES, MAX_PADDED_BYTES],
  ];
  for (const [len, size] of cases) assert.equal(messagePaddedLength(len), size, `length ${len}`);
  const sizes = new Set<number>();
  for (let len = 0; len <= MAX_PLAINTEXT_BYTES; len++) {
    const size = messagePaddedLength(len);
    sizes.add(size);
    if (len + 1 > 960) assert.ok(size - (len + 1) <= (len + 1) / 16, `length ${len} pads to ${size}`);
  }
  assert.equal(sizes.size, 104);
  let buckets = 0;
  for (let size = 0; size <= MAX_PADDED_BYTES + 1; size++) {
    if (isMessageBucketSize(size)) {
      buckets++;
      assert.ok(sizes.has(size), `${size} is a bucket no length pads to`);
    }
  }
  assert.equal(buckets, 104);
});

test('padme, computed on integers, equals the formula of PROTOCOL.md for every size up to 2^40 (property)', () => {
  for (let L = 0; L < 70_000; L++) assert.equal(padme(L), padmeAsWritten(L), `padme(${L})`);
  for (const L of [2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 32 - 1, 2 ** 32]) assert.equal(padme(L), padmeAsWritten(L), `padme(${L})`);
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (L) => assert.equal(padme(L), padmeAsWritten(L))));
});

test('padMessage then unpadding returns the plaintext; a spare bucket or a stray byte is malformed', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), fc.constantFrom(0, 0x80), (body, last) => {
      const pt = Uint8Array.from([...body, last]);
      const padded = padMessage(pt);
      assert.equal(padded.length, messagePaddedLength(pt.length));
      assert.equal(unpaddedMessageLength(padded), pt.length);
      assert.deepEqual(padded.subarray(0, pt.length), pt);
    }),
    { numRuns: 200 },
  );
  const bad = (b: Uint8Array) => assert.throws(() => unpaddedMessageLength(b), (e) => isCryptoError(e, 'malformed'));
  // 1,000 bytes fit 1024: sealed as 1088 it is valid-looking but not canonical.
  const spare = new Uint8Array(1088);
  spare[1000] = 0x80;
  bad(spare);
  bad(new Uint8Array(1089)); // not a bucket
  bad(new Uint8Array(2048).fill(0)); // no marker
  const stray = padMessage(new Uint8Array(1024).fill(7));
  stray[1087] = 1;
  bad(stray);
  // A group bucket that is no pairwise one (and the reverse) is refused by each scheme.
  assert.ok(isBucketSize(2048) && isMessageBucketSize(2048));
  assert.ok(!isMessageBucketSize(3000) && isMessageBucketSize(3072) && !isBucketSize(3072) && !isBucketSize(1088));
});

test('padMessageInto writes exactly padMessage\'s bytes over any earlier contents, and refuses a short buffer', () => {
  const buffer = new Uint8Array(MAX_PADDED_BYTES);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 255 }), (pt, junk) => {
      buffer.fill(junk); // what an earlier, longer message would have left if it were not wiped
      const view = padMessageInto(pt, buffer);
      assert.equal(view.buffer, buffer.buffer);
      assert.deepEqual(view, padMessage(pt));
    }),
    { numRuns: 200 },
  );
  assert.throws(() => padMessageInto(new Uint8Array(1024), new Uint8Array(1087)), (e) => isCryptoError(e, 'invalid_argument'));
  assert.throws(() => padMessageInto(new Uint8Array(MAX_PLAINTEXT_BYTES + 1), buffer), (e) => isCryptoError(e, 'invalid_argument'));
});
