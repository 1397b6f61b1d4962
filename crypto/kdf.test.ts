import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sodiumReady, sodium } from './sodium.js';
import { hkdf, hkdfExpand, hkdfExtract, prf } from './kdf.js';
import { concat, toHex, u8, utf8 } from './encoding.js';
import { LABELS } from './consts.js';
import { isCryptoError } from './errors.js';

await sodiumReady();

test('prf is keyed BLAKE2b-512', () => {
  const key = utf8('k');
  const data = utf8('data');
  assert.equal(toHex(prf(key, data)), toHex(sodium().crypto_generichash(64, data, key)));
});

test('hkdf-extract with an empty salt keys BLAKE2b with 64 zero bytes', () => {
  const ikm = utf8('ikm');
  assert.equal(toHex(hkdfExtract(new Uint8Array(0), ikm)), toHex(prf(new Uint8Array(64), ikm)));
});

test('hkdf-expand chains T(i) = PRF(PRK, T(i-1) || info || i) and truncates', () => {
  const prk = new Uint8Array(64).fill(7);
  const info = utf8('info');
  const t1 = prf(prk, concat(info, u8(1)));
  const t2 = prf(prk, concat(t1, info, u8(2)));
  assert.equal(toHex(hkdfExpand(prk, info, 100)), toHex(concat(t1, t2).subarray(0, 100)));
  assert.equal(toHex(hkdfExpand(prk, info, 32)), toHex(t1.subarray(0, 32)));
});

test('different labels give unrelated keys', () => {
  const ikm = new Uint8Array(32).fill(1);
  assert.notEqual(toHex(hkdf(new Uint8Array(0), ikm, LABELS.x3dh, 32)), toHex(hkdf(new Uint8Array(0), ikm, LABELS.ratchetRoot, 32)));
});

test('refuses out-of-range lengths and keys with a typed error', () => {
  assert.throws(() => hkdfExpand(new Uint8Array(64), new Uint8Array(0), 0), (e) => isCryptoError(e, 'invalid_argument'));
  assert.throws(() => hkdfExpand(new Uint8Array(64), new Uint8Array(0), 255 * 64 + 1), (e) => isCryptoError(e, 'invalid_argument'));
  assert.throws(() => prf(new Uint8Array(65), new Uint8Array(0)), (e) => isCryptoError(e, 'invalid_argument'));
});
