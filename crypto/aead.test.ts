import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sodiumReady } from './sodium.js';
import { aeadOpen, aeadSeal } from './aead.js';
import { concat, fromHex, toHex } from './encoding.js';
import { isCryptoError } from './errors.js';
import { VENDORED_VECTORS } from '../test/util/paths.js';

await sodiumReady();

interface WycheproofCase {
  tcId: number;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface WycheproofFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: { ivSize: number; keySize: number; tagSize: number; tests: WycheproofCase[] }[];
}

const file = JSON.parse(
  readFileSync(join(VENDORED_VECTORS, 'wycheproof/xchacha20_poly1305_test.json'), 'utf8'),
) as WycheproofFile;
const cases = file.testGroups.flatMap((g) => g.tests);

test('the Wycheproof XChaCha20-Poly1305 file is the one we expect', () => {
  assert.equal(file.algorithm, 'XCHACHA20-POLY1305');
  assert.equal(cases.length, file.numberOfTests);
  assert.equal(cases.length, 315);
});

test('every valid Wycheproof case seals to the expected bytes and opens to the message', () => {
  let n = 0;
  for (const c of cases.filter((x) => x.result === 'valid')) {
    const [key, iv, aad, msg] = [fromHex(c.key), fromHex(c.iv), fromHex(c.aad), fromHex(c.msg)];
    const sealed = concat(fromHex(c.ct), fromHex(c.tag));
    assert.equal(toHex(aeadSeal(key, iv, msg, aad)), toHex(sealed), `tcId ${c.tcId}`);
    assert.equal(toHex(aeadOpen(key, iv, sealed, aad)), c.msg, `tcId ${c.tcId}`);
    n++;
  }
  assert.equal(n, 246);
});

test('every invalid Wycheproof case is refused with a typed error', () => {
  let modifiedTag = 0;
  let badNonce = 0;
  for (const c of cases.filter((x) => x.result !== 'valid')) {
    const [key, iv, aad] = [fromHex(c.key), fromHex(c.iv), fromHex(c.aad)];
    const sealed = concat(fromHex(c.ct), fromHex(c.tag));
    if (c.flags.includes('InvalidNonceSize')) {
      // Nonce sizes other than 24 bytes stop at our length check, before libsodium sees them.
      assert.throws(() => aeadOpen(key, iv, sealed, aad), (e) => isCryptoError(e, 'invalid_argument'), `tcId ${c.tcId}`);
      assert.throws(() => aeadSeal(key, iv, fromHex(c.msg), aad), (e) => isCryptoError(e, 'invalid_argument'), `tcId ${c.tcId}`);
      badNonce++;
    } else {
      assert.throws(() => aeadOpen(key, iv, sealed, aad), (e) => isCryptoError(e, 'decrypt_failed'), `tcId ${c.tcId}`);
      modifiedTag++;
    }
  }
  assert.equal(modifiedTag, 60);
  assert.equal(badNonce, 9);
});

test('keys of the wrong size and ciphertexts shorter than the tag are refused before libsodium', () => {
  const c = cases[0]!;
  const [key, iv, aad] = [fromHex(c.key), fromHex(c.iv), fromHex(c.aad)];
  assert.throws(() => aeadSeal(key.subarray(0, 31), iv, new Uint8Array(1), aad), (e) => isCryptoError(e, 'invalid_argument'));
  assert.throws(() => aeadOpen(concat(key, new Uint8Array(1)), iv, new Uint8Array(16), aad), (e) => isCryptoError(e, 'invalid_argument'));
  assert.throws(() => aeadOpen(key, iv, new Uint8Array(15), aad), (e) => isCryptoError(e, 'decrypt_failed'));
});
