import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromBase64url, toBase64url } from './encoding.js';
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
