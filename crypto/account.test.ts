import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sodiumReady, sodium } from './sodium.js';
import { seededRandom } from '../scripts/vectors/seeded.js';
import { concat, toHex, utf8 } from './encoding.js';
import { isCryptoError } from './errors.js';
import { LABELS, PROTOCOL_VERSION } from './consts.js';
import * as account from './account.js';
import { generateIdentity, joinSafetyNumberHalves, publicIdentity, safetyNumberHalf } from './identity.js';

await sodiumReady();
const random = seededRandom('account tests');
const alice = account.generateAccountKey(random);
const bob = account.generateAccountKey(random);

test('an account key is an Ed25519 key pair drawn from one 32-byte seed', () => {
  const seed = seededRandom('account seed')(32);
  const kp = account.generateAccountKey(seededRandom('account seed'));
  assert.equal(toHex(kp.publicKey), toHex(sodium().crypto_sign_seed_keypair(seed).publicKey));
  assert.equal(toHex(kp.privateKey.subarray(32)), toHex(kp.publicKey));
  assert.throws(() => account.generateAccountKey(() => new Uint8Array(31)), (e) => isCryptoError(e, 'invalid_argument'));
});

test('the account fingerprint hashes the label and the key, and is shown in 16 groups of 4', () => {
  const fp = account.accountFingerprintBytes(alice.publicKey);
  assert.equal(toHex(fp), toHex(sodium().crypto_generichash(32, concat(utf8(LABELS.accountFingerprint), alice.publicKey), null)));
  assert.equal(account.accountFingerprint(alice.publicKey).replaceAll(' ', ''), toHex(fp));
  assert.equal(account.accountFingerprint(alice.publicKey).split(' ').length, 16);
  assert.throws(() => account.accountFingerprintBytes(new Uint8Array(31)), (e) => isCryptoError(e, 'invalid_argument'));
});

test('the account safety number is the same from both sides and depends on user and account key only', () => {
  const a = { user: 'alice', accountKey: alice.publicKey };
  const b = { user: 'bob', accountKey: bob.publicKey };
  const n = account.accountSafetyNumber(a, b);
  assert.match(n, /^[0-9]{60}$/);
  assert.equal(account.accountSafetyNumber(b, a), n);
  assert.notEqual(account.accountSafetyNumber({ user: 'alicia', accountKey: alice.publicKey }, b), n);
  assert.notEqual(account.accountSafetyNumber({ user: 'alice', accountKey: account.generateAccountKey(random).publicKey }, b), n);
  assert.throws(() => account.accountSafetyNumberHalf({ user: 'A!', accountKey: alice.publicKey }), (e) => isCryptoError(e, 'invalid_argument'));
});

test('an account half never equals the identity half of a device whose signing key has the same bytes', () => {
  // Domain separation: the account label and fingerprint differ from the identity ones (§5).
  const id = generateIdentity(seededRandom('account vs identity'));
  const asAccount = account.accountSafetyNumberHalf({ user: 'alice', accountKey: id.signPublic });
  assert.notEqual(asAccount, safetyNumberHalf('alice', publicIdentity(id)));
  // A contact without an account key still combines with an account half into one 60-digit number.
  const mixed = joinSafetyNumberHalves(asAccount, safetyNumberHalf('bob', publicIdentity(id)));
  assert.match(mixed, /^[0-9]{60}$/);
});

test('an account key pair round-trips and a corrupted one is refused', () => {
  const bytes = account.encodeAccountKeyPair(alice);
  assert.equal(bytes.length, account.ACCOUNT_KEY_PAIR_BYTES);
  assert.deepEqual([bytes[0], bytes[1]], [PROTOCOL_VERSION, 0x50]);
  const back = account.parseAccountKeyPair(bytes);
  assert.equal(toHex(back.publicKey), toHex(alice.publicKey));
  assert.equal(toHex(back.privateKey), toHex(alice.privateKey));
  for (const at of [0, 1, 2, 40, account.ACCOUNT_KEY_PAIR_BYTES - 1]) {
    const bad = bytes.slice();
    bad[at]! ^= 1;
    assert.throws(() => account.parseAccountKeyPair(bad), (e) => isCryptoError(e), `byte ${at}`);
  }
  assert.throws(() => account.parseAccountKeyPair(bytes.subarray(0, 65)), (e) => isCryptoError(e, 'malformed'));
  assert.throws(() => account.parseAccountKeyPair(concat(bytes, new Uint8Array(1))), (e) => isCryptoError(e, 'malformed'));
  assert.throws(() => account.encodeAccountKeyPair({ publicKey: bob.publicKey, privateKey: alice.privateKey }), (e) => isCryptoError(e, 'invalid_argument'));
});
