import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumReady } from './sodium.js';
import { dh, generateKeyPair, keyPairFromPrivate } from './dh.js';
import { fromHex, toHex } from './encoding.js';
import { isCryptoError } from './errors.js';
import { seededRandom } from '../scripts/vectors/seeded.js';

await sodiumReady();

// RFC 7748 §6.1.
const ALICE_PRIV = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const ALICE_PUB = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const BOB_PUB = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

test('derives the RFC 7748 public key and shared secret', () => {
  assert.equal(toHex(keyPairFromPrivate(fromHex(ALICE_PRIV)).publicKey), ALICE_PUB);
  assert.equal(toHex(dh(fromHex(ALICE_PRIV), fromHex(BOB_PUB))), SHARED);
});

test('both sides of a DH compute the same secret', () => {
  fc.assert(
    fc.property(fc.string(), (seed) => {
      const random = seededRandom(seed);
      const a = generateKeyPair(random);
      const b = generateKeyPair(random);
      assert.equal(toHex(dh(a.privateKey, b.publicKey)), toHex(dh(b.privateKey, a.publicKey)));
    }),
    { numRuns: 50 },
  );
});

test('refuses a low-order public key with bad_key', () => {
  const priv = generateKeyPair(seededRandom('dh')).privateKey;
  for (const u of ['00'.repeat(32), '01' + '00'.repeat(31), 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800']) {
    assert.throws(() => dh(priv, fromHex(u)), (e) => isCryptoError(e, 'bad_key'), u);
  }
});

test('refuses keys of the wrong length before libsodium sees them', () => {
  const kp = generateKeyPair(seededRandom('dh'));
  assert.throws(() => dh(kp.privateKey.subarray(0, 31), kp.publicKey), (e) => isCryptoError(e, 'invalid_argument'));
  assert.throws(() => dh(kp.privateKey, new Uint8Array(33)), (e) => isCryptoError(e, 'invalid_argument'));
  assert.throws(() => generateKeyPair(() => new Uint8Array(16)), (e) => isCryptoError(e, 'invalid_argument'));
});
