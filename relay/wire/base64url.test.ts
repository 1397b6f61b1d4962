import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { decodeBase64url, encodeBase64url } from './base64url.js';

function cryptoDecode(s: string): Uint8Array | undefined {
  try {
    return fromBase64url(s);
  } catch {
    return undefined;
  }
}

test('encodes exactly like crypto/encoding.ts for any bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => encodeBase64url(b) === toBase64url(b)));
});

test('round-trips any bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => Buffer.compare(decodeBase64url(toBase64url(b))!, Buffer.from(b)) === 0));
});

test('accepts and refuses exactly the strings crypto/encoding.ts accepts and refuses', () => {
  const chars = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', '=', '+', '/', ' ', '\n', '.', 'é'];
  const str = fc.array(fc.constantFrom(...chars), { maxLength: 12 }).map((a) => a.join(''));
  fc.assert(
    fc.property(fc.oneof(str, fc.string({ maxLength: 12 })), (s) => {
      const ours = decodeBase64url(s);
      const theirs = cryptoDecode(s);
      if (theirs === undefined) return ours === undefined;
      return ours !== undefined && Buffer.compare(ours, Buffer.from(theirs)) === 0;
    }),
    { numRuns: 20_000 },
  );
});

test('refuses padding, the standard alphabet, impossible lengths and non-canonical last characters', () => {
  for (const s of ['aGk=', 'a+b/', 'aGkhY', 'aGl', 'aR', 'aGm']) assert.equal(decodeBase64url(s), undefined, s);
  assert.deepEqual([...decodeBase64url('aGk')!], [0x68, 0x69]);
  assert.deepEqual([...decodeBase64url('')!], []);
});
