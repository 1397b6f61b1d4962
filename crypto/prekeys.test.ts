import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumReady } from './sodium.js';
import { generateIdentity, publicIdentity, sign } from './identity.js';
import {
  bundleFromJson,
  bundleToJson,
  encodeBundle,
  encodeOneTimePreKey,
  encodeSignedPreKey,
  generateOneTimePreKeys,
  generateSignedPreKey,
  parseBundle,
  parseOneTimePreKey,
  parseSignedPreKey,
  publicOneTimePreKey,
  publicSignedPreKey,
  signedPreKeySignatureMessage,
  verifyBundle,
  verifySignedPreKey,
  type PreKeyBundle,
} from './prekeys.js';
import { concat, toBase64url, toHex, u32, u64, utf8 } from './encoding.js';
import { isCryptoError } from './errors.js';
import { LABELS } from './consts.js';
import { seededRandom } from '../scripts/vectors/seeded.js';

await sodiumReady();

const random = seededRandom('prekeys');
const bob = generateIdentity(random);
const spk = generateSignedPreKey(bob, 7, 1_700_000_000_000, random);
const [otpk] = generateOneTimePreKeys(100, 1, random);

function bundle(withOtpk = true): PreKeyBundle {
  return {
    address: { user: 'bob', device: 3 },
    identity: publicIdentity(bob),
    signedPreKey: publicSignedPreKey(spk),
    oneTimePreKey: withOtpk ? publicOneTimePreKey(otpk!) : null,
  };
}

test('the signed prekey signature covers label, id, creation time and key', () => {
  const msg = concat(utf8(LABELS.signedPreKeySignature), u32(7), u64(1_700_000_000_000), spk.keyPair.publicKey);
  assert.equal(toHex(signedPreKeySignatureMessage(7, 1_700_000_000_000, spk.keyPair.publicKey)), toHex(msg));
  verifySignedPreKey(publicIdentity(bob), publicSignedPreKey(spk));
});

test('refuses a signed prekey whose id, time or key was changed', () => {
  const pub = publicSignedPreKey(spk);
  const other = generateOneTimePreKeys(1, 1, random)[0]!.keyPair.publicKey;
  for (const forged of [{ ...pub, id: 8 }, { ...pub, createdAt: pub.createdAt + 1 }, { ...pub, publicKey: other }]) {
    assert.throws(() => verifySignedPreKey(publicIdentity(bob), forged), (e) => isCryptoError(e, 'bad_signature'));
  }
});

test('refuses a signed prekey signed by another identity', () => {
  const mallory = generateIdentity(seededRandom('mallory'));
  const forged = { ...publicSignedPreKey(spk), signature: sign(mallory, signedPreKeySignatureMessage(7, spk.createdAt, spk.keyPair.publicKey)) };
  assert.throws(() => verifySignedPreKey(publicIdentity(bob), forged), (e) => isCryptoError(e, 'bad_signature'));
  assert.throws(() => verifyBundle({ ...bundle(), signedPreKey: forged }), (e) => isCryptoError(e, 'bad_signature'));
});

test('one-time prekeys get consecutive ids and distinct keys', () => {
  const keys = generateOneTimePreKeys(5, 4, random);
  assert.deepEqual(keys.map((k) => k.id), [5, 6, 7, 8]);
  assert.equal(new Set(keys.map((k) => toHex(k.keyPair.publicKey))).size, 4);
  assert.deepEqual(generateOneTimePreKeys(5, 0, random), []);
  assert.throws(() => generateOneTimePreKeys(0xffffffff, 2, random), (e) => isCryptoError(e, 'invalid_argument'));
  assert.throws(() => generateSignedPreKey(bob, -1, 0, random), (e) => isCryptoError(e, 'invalid_argument'));
  assert.throws(() => generateSignedPreKey(bob, 1, 1.5, random), (e) => isCryptoError(e, 'invalid_argument'));
});

test('a bundle round-trips through binary and JSON, with and without a one-time prekey', () => {
  for (const b of [bundle(true), bundle(false)]) {
    assert.deepEqual(parseBundle(encodeBundle(b)), b);
    const json = JSON.parse(JSON.stringify(bundleToJson(b))) as unknown;
    assert.deepEqual(bundleFromJson(json), b);
    verifyBundle(bundleFromJson(json));
  }
});

test('the JSON bundle uses the relay field names with base64url bytes', () => {
  const j = bundleToJson(bundle());
  assert.deepEqual(Object.keys(j), ['address', 'identity', 'signedPreKey', 'oneTimePreKey']);
  assert.deepEqual(Object.keys(j.identity), ['dhPublic', 'signPublic', 'signature']);
  assert.deepEqual(j.signedPreKey, {
    id: 7,
    createdAt: 1_700_000_000_000,
    publicKey: toBase64url(spk.keyPair.publicKey),
    signature: toBase64url(spk.signature),
  });
  assert.deepEqual(j.oneTimePreKey, { id: 100, publicKey: toBase64url(otpk!.keyPair.publicKey) });
});

test('bundleFromJson refuses unknown or missing fields, wrong lengths and bad values', () => {
  const good = bundleToJson(bundle()) as unknown as Record<string, Record<string, unknown>>;
  const variants: unknown[] = [
    null,
    [],
    { ...good, extra: 1 },
    { ...good, oneTimePreKey: undefined },
    { ...good, address: { user: 'Bob', device: 1 } },
    { ...good, address: { user: 'bob', device: 0 } },
    { ...good, identity: { ...good.identity, dhPublic: toBase64url(new Uint8Array(31)) } },
    { ...good, identity: { ...good.identity, signature: 'not base64!' } },
    { ...good, identity: { ...good.identity, signPublic: toBase64url(new Uint8Array(32)) + '=' } },
    { ...good, signedPreKey: { ...good.signedPreKey, id: -1 } },
    { ...good, signedPreKey: { ...good.signedPreKey, id: 2 ** 32 } },
    { ...good, signedPreKey: { ...good.signedPreKey, id: '7' } },
    { ...good, signedPreKey: { ...good.signedPreKey, createdAt: 1.5 } },
    { ...good, signedPreKey: { ...good.signedPreKey, extra: true } },
    { ...good, oneTimePreKey: { id: 1 } },
  ];
  for (const v of variants) assert.throws(() => bundleFromJson(v), (e) => isCryptoError(e, 'malformed'), JSON.stringify(v));
});

test('private prekeys round-trip and refuse disagreeing halves', () => {
  assert.deepEqual(parseSignedPreKey(encodeSignedPreKey(spk)), spk);
  assert.deepEqual(parseOneTimePreKey(encodeOneTimePreKey(otpk!)), otpk);
  const bad = encodeOneTimePreKey(otpk!);
  bad[bad.length - 1]! ^= 1;
  assert.throws(() => parseOneTimePreKey(bad), (e) => isCryptoError(e, 'malformed'));
  assert.throws(() => parseSignedPreKey(encodeOneTimePreKey(otpk!)), (e) => isCryptoError(e, 'malformed'));
});

test('every prekey type round-trips for arbitrary ids and times', () => {
  fc.assert(
    fc.property(fc.string(), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (seed, id, now) => {
      const r = seededRandom(seed);
      const ident = generateIdentity(r);
      const s = generateSignedPreKey(ident, id, now, r);
      const o = generateOneTimePreKeys(id, 1, r)[0]!;
      assert.deepEqual(parseSignedPreKey(encodeSignedPreKey(s)), s);
      assert.deepEqual(parseOneTimePreKey(encodeOneTimePreKey(o)), o);
      const b: PreKeyBundle = { address: { user: 'u_' + (id % 1000), device: (id % 0x7fffffff) + 1 }, identity: publicIdentity(ident), signedPreKey: publicSignedPreKey(s), oneTimePreKey: id % 2 ? publicOneTimePreKey(o) : null };
      assert.deepEqual(parseBundle(encodeBundle(b)), b);
      assert.deepEqual(bundleFromJson(JSON.parse(JSON.stringify(bundleToJson(b)))), b);
      verifyBundle(b);
    }),
    { numRuns: 30 },
  );
});

test('prekey parsers on random and mutated bytes throw only typed errors', () => {
  const valid = [encodeBundle(bundle()), encodeBundle(bundle(false)), encodeSignedPreKey(spk), encodeOneTimePreKey(otpk!)];
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 400 }),
    fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, i, x]) => {
      const c = b.slice();
      c[i % c.length]! ^= x;
      return c;
    }),
    fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([b, n]) => b.subarray(0, n % b.length)),
  );
  fc.assert(
    fc.property(input, (bytes) => {
      for (const parse of [parseBundle, parseSignedPreKey, parseOneTimePreKey]) {
        try {
          parse(bytes);
        } catch (e) {
          assert.ok(isCryptoError(e), String(e));
        }
      }
    }),
    { numRuns: 500 },
  );
});

test('bundleFromJson on arbitrary JSON values throws only typed errors', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      try {
        bundleFromJson(v);
      } catch (e) {
        assert.ok(isCryptoError(e, 'malformed'), String(e));
      }
    }),
  );
});
