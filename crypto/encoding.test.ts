import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromBase64url, Reader, toBase64url } from './encoding.js';
import { isCryptoError } from './errors.js';

test('base64url round-trips any bytes and decodes as RFC 4648 §5 does (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const s = toBase64url(b);
      assert.equal(s, Buffer.from(b).toString('base64url'));
      assert.deepEqual(fromBase64url(s), b);
    }),
  );
});

test('fromBase64url refuses padding, other alphabets, impossible lengths and non-canonical last characters', () => {
  const bad = (s: string) => assert.throws(() => fromBase64url(s), (e) => isCryptoError(e, 'malformed'), JSON.stringify(s));
  for (const s of ['AA==', 'A', 'AAAAA', 'ab+c', 'ab/c', 'ab c', 'abé', 'AB', 'AAB', '\u0100AAA']) bad(s);
  // 'AB' and 'AAB' leave set bits after the last whole byte: two spellings of one byte string.
  assert.deepEqual(fromBase64url('AA'), Uint8Array.of(0));
  assert.deepEqual(fromBase64url('AAA'), Uint8Array.of(0, 0));
  assert.deepEqual(fromBase64url('_-8'), Uint8Array.of(0xff, 0xef));
});

test('Reader reads big-endian integers in place and refuses to read past the end, naming what was wanted', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (const [size, read, expect] of [
        [1, (r: Reader) => r.u8(), (at: number) => view.getUint8(at)],
        [2, (r: Reader) => r.u16(), (at: number) => view.getUint16(at)],
        [4, (r: Reader) => r.u32(), (at: number) => view.getUint32(at)],
      ] as const) {
        const r = new Reader(b);
        let at = 0;
        for (; at + size <= b.length; at += size) assert.equal(read(r), expect(at));
        assert.throws(() => read(r), (e) => isCryptoError(e, 'malformed') && e.message === `truncated: wanted ${size} bytes, ${b.length - at} left`);
        assert.equal(r.remaining, b.length - at); // a refused read consumes nothing
      }
    }),
  );
  // A view: offsets are the view's, not its buffer's.
  const r = new Reader(Uint8Array.from([9, 9, 0x80, 0, 0, 1]).subarray(2));
  assert.equal(r.u32(), 0x80000001);
});
