import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumReady } from './sodium.js';
import {
  encodeIdentityKeyPair,
  encodePublicIdentity,
  fingerprint,
  formatSafetyNumber,
  generateIdentity,
  identitySignatureMessage,
  IDENTITY_KEY_PAIR_BYTES,
  parseIdentityKeyPair,
  parsePublicIdentity,
  PUBLIC_IDENTITY_BYTES,
  publicIdentity,
  safetyNumber,
  sign,
  verify,
  verifyIdentity,
} from './identity.js';
import { concat, toHex, utf8 } from './encoding.js';
import { isCryptoError } from './errors.js';
import { LABELS } from './consts.js';
import { seededRandom } from '../scripts/vectors/seeded.js';

await sodiumReady();

const alice = generateIdentity(seededRandom('alice'));
const bob = generateIdentity(seededRandom('bob'));

test('a fresh identity signs its dh key under the identity label', () => {
  assert.ok(verify(alice.signPublic, concat(utf8(LABELS.identitySignature), alice.dh.publicKey), alice.signature));
  assert.equal(toHex(identitySignatureMessage(alice.dh.publicKey)), toHex(concat(utf8(LABELS.identitySignature), alice.dh.publicKey)));
  verifyIdentity(publicIdentity(alice));
});

test('the same seed gives the same identity and another seed another', () => {
  assert.equal(toHex(encodeIdentityKeyPair(generateIdentity(seededRandom('alice')))), toHex(encodeIdentityKeyPair(alice)));
  assert.notEqual(toHex(alice.dh.publicKey), toHex(bob.dh.publicKey));
});

test('refuses an identity whose dh key was swapped for another', () => {
  const forged = { ...publicIdentity(alice), dhPublic: bob.dh.publicKey };
  assert.throws(() => verifyIdentity(forged), (e) => isCryptoError(e, 'bad_signature'));
});

test('refuses an identity signed by another signing key', () => {
  const forged = { ...publicIdentity(alice), signPublic: bob.signPublic };
  assert.throws(() => verifyIdentity(forged), (e) => isCryptoError(e, 'bad_signature'));
});

test('refuses an identity signature without the label (a bare signature over the key)', () => {
  const bare = { ...publicIdentity(alice), signature: sign(alice, alice.dh.publicKey) };
  assert.throws(() => verifyIdentity(bare), (e) => isCryptoError(e, 'bad_signature'));
});

test('verify returns false on wrong lengths instead of throwing', () => {
  const sig = sign(alice, utf8('m'));
  assert.equal(verify(alice.signPublic, utf8('m'), sig), true);
  assert.equal(verify(alice.signPublic, utf8('n'), sig), false);
  assert.equal(verify(alice.signPublic.subarray(1), utf8('m'), sig), false);
  assert.equal(verify(alice.signPublic, utf8('m'), sig.subarray(1)), false);
});

test('a fingerprint is 16 groups of 4 hex digits and differs between identities', () => {
  const fa = fingerprint(publicIdentity(alice));
  assert.match(fa, /^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
  assert.equal(fa, fingerprint(publicIdentity(generateIdentity(seededRandom('alice')))));
  assert.notEqual(fa, fingerprint(publicIdentity(bob)));
});

test('the fingerprint changes when only the signing key changes', () => {
  const other = generateIdentity(seededRandom('other'));
  const mixed = { ...publicIdentity(alice), signPublic: other.signPublic };
  assert.notEqual(fingerprint(mixed), fingerprint(publicIdentity(alice)));
});

test('the safety number is 60 digits and the same from both sides', () => {
  const a = { user: 'alice', identity: publicIdentity(alice) };
  const b = { user: 'bob', identity: publicIdentity(bob) };
  const n = safetyNumber(a, b);
  assert.match(n, /^\d{60}$/);
  assert.equal(safetyNumber(b, a), n);
  assert.match(formatSafetyNumber(n), /^(\d{5} ){11}\d{5}$/);
});

test('the safety number changes with either identity or either username', () => {
  const a = { user: 'alice', identity: publicIdentity(alice) };
  const b = { user: 'bob', identity: publicIdentity(bob) };
  const n = safetyNumber(a, b);
  const mallory = publicIdentity(generateIdentity(seededRandom('mallory')));
  assert.notEqual(safetyNumber(a, { user: 'bob', identity: mallory }), n);
  assert.notEqual(safetyNumber({ user: 'alice', identity: mallory }, b), n);
  assert.notEqual(safetyNumber({ user: 'alicf', identity: a.identity }, b), n);
  // Each side's half stays put when only the other side changes: it is the peer's half that moves.
  const other = safetyNumber(a, { user: 'bob', identity: mallory });
  const halves = (s: string) => [s.slice(0, 30), s.slice(30)];
  assert.equal(halves(n).filter((h) => halves(other).includes(h)).length, 1);
});

test('identity key pairs and public identities round-trip through their binary forms', () => {
  fc.assert(
    fc.property(fc.string(), (seed) => {
      const id = generateIdentity(seededRandom(seed));
      const bytes = encodeIdentityKeyPair(id);
      assert.equal(bytes.length, IDENTITY_KEY_PAIR_BYTES);
      assert.deepEqual(parseIdentityKeyPair(bytes), id);
      const pub = encodePublicIdentity(publicIdentity(id));
      assert.equal(pub.length, PUBLIC_IDENTITY_BYTES);
      assert.deepEqual(parsePublicIdentity(pub), publicIdentity(id));
    }),
    { numRuns: 30 },
  );
});

test('parsers check version, tag and length first', () => {
  const bytes = encodeIdentityKeyPair(alice);
  const v2 = bytes.slice();
  v2[0] = 2;
  assert.throws(() => parseIdentityKeyPair(v2), (e) => isCryptoError(e, 'unsupported_version'));
  const wrongTag = encodePublicIdentity(publicIdentity(alice));
  assert.throws(() => parseIdentityKeyPair(wrongTag), (e) => isCryptoError(e, 'malformed'));
  assert.throws(() => parseIdentityKeyPair(bytes.subarray(0, bytes.length - 1)), (e) => isCryptoError(e, 'malformed'));
  assert.throws(() => parseIdentityKeyPair(concat(bytes, new Uint8Array(1))), (e) => isCryptoError(e, 'malformed'));
  assert.throws(() => parsePublicIdentity(bytes), (e) => isCryptoError(e, 'malformed'));
});

test('a stored key pair whose halves disagree is refused', () => {
  const bytes = encodeIdentityKeyPair(alice);
  for (const offset of [2, 2 + 32, 2 + 64, 2 + 96, 2 + 96 + 40, 2 + 160]) {
    const bad = bytes.slice();
    bad[offset]! ^= 0x10; // not bit 0..2 of the X25519 scalar: clamping ignores those
    assert.throws(() => parseIdentityKeyPair(bad), (e) => isCryptoError(e), `offset ${offset}`);
  }
});

test('identity parsers on random bytes and on mutated encodings throw only typed errors', () => {
  const valid = [encodeIdentityKeyPair(alice), encodePublicIdentity(publicIdentity(alice))];
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, i, x]) => {
      const c = b.slice();
      c[i % c.length]! ^= x;
      return c;
    }),
    fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([b, n]) => b.subarray(0, n % b.length)),
  );
  fc.assert(
    fc.property(input, (bytes) => {
      for (const parse of [parseIdentityKeyPair, parsePublicIdentity]) {
        try {
          parse(bytes);
        } catch (e) {
          assert.ok(isCryptoError(e), String(e));
        }
      }
    }),
    { numRuns: 300 },
  );
});
