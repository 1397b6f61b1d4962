import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Reader, toHex } from './encoding.js';
import { isCryptoError } from './errors.js';
import { checkAddress, encodeAddress, formatAddress, isValidAddress, readAddress } from './types.js';

test('accepts usernames of 3 to 32 lowercase letters, digits and underscores', () => {
  for (const user of ['abc', 'a_1', 'x'.repeat(32), '___']) assert.ok(isValidAddress({ user, device: 1 }), user);
  for (const user of ['ab', 'x'.repeat(33), 'Alice', 'al ice', 'al-ice', 'alïce', '']) assert.ok(!isValidAddress({ user, device: 1 }), user);
});

test('accepts device ids from 1 to 2^31-1 only', () => {
  for (const device of [1, 2, 2 ** 31 - 1]) assert.ok(isValidAddress({ user: 'bob', device }));
  for (const device of [0, -1, 2 ** 31, 1.5, NaN, Infinity]) assert.ok(!isValidAddress({ user: 'bob', device }), String(device));
  assert.ok(!isValidAddress({ user: 'bob', device: '1' }));
  assert.ok(!isValidAddress(null));
});

test('checkAddress refuses a bad address with invalid_argument', () => {
  assert.throws(() => checkAddress({ user: 'B', device: 1 }), (e) => isCryptoError(e, 'invalid_argument'));
});

test('encodes an address as u16 length, utf-8 user, u32 device', () => {
  assert.equal(toHex(encodeAddress({ user: 'bob', device: 258 })), '0003626f6200000102');
  assert.equal(formatAddress({ user: 'bob', device: 2 }), 'bob.2');
});

test('every valid address round-trips through encode and read', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z0-9_]{3,32}$/), fc.integer({ min: 1, max: 2 ** 31 - 1 }), (user, device) => {
      const r = new Reader(encodeAddress({ user, device }));
      assert.deepEqual(readAddress(r), { user, device });
      r.end();
    }),
  );
});

test('reading an address from random bytes throws only a typed error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 48 }), (bytes) => {
      try {
        readAddress(new Reader(bytes));
      } catch (e) {
        assert.ok(isCryptoError(e, 'malformed'), String(e));
      }
    }),
  );
});
