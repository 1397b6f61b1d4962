// docs/vectors/ is generated; this test regenerates every area and fails on any byte of
// difference, then re-derives a few values of each file in pieces, straight from libsodium, so a
// bug shared by the generator and the code under test cannot hide behind self-consistency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './util/paths.js';
import { sodium, sodiumReady } from '../crypto/sodium.js';
import { concat, fromHex, toHex, u32, u8, utf8 } from '../crypto/encoding.js';
import { LABELS } from '../crypto/consts.js';
import { hkdf } from '../crypto/kdf.js';
import { bundleFromJson, parseBundle, type OneTimePreKey, type SignedPreKey } from '../crypto/prekeys.js';
import { parseX3DHHeader, x3dhRespond } from '../crypto/x3dh.js';
import { AREAS, render } from '../scripts/vectors/index.js';
import { seededRandom } from '../scripts/vectors/seeded.js';

await sodiumReady();

// Vector files are untyped JSON read field by field; a wrong field name fails the assertions.
type J = any; // eslint-style escape hatch kept to this one alias

function committed(name: string): string {
  return readFileSync(join(ROOT, 'docs/vectors', `${name}.json`), 'utf8');
}
function vectors(name: string): J {
  return (JSON.parse(committed(name)) as J).vectors;
}
const h = fromHex;

for (const area of AREAS) {
  test(`regenerating the ${area.name} vectors reproduces docs/vectors/${area.name}.json byte for byte`, () => {
    assert.equal(render(area), committed(area.name), `run \`npm run vectors\` and review the diff of docs/vectors/${area.name}.json`);
  });
}

test('kdf vectors: prk and every output block recomputed with raw keyed BLAKE2b', () => {
  const v = vectors('kdf');
  const s = sodium();
  assert.equal(toHex(s.crypto_generichash(64, h(v.prf.data), h(v.prf.key))), v.prf.output);
  assert.ok(v.hkdf.length >= 5);
  for (const c of v.hkdf as J[]) {
    const salt = c.salt === '' ? new Uint8Array(64) : h(c.salt);
    const prk = s.crypto_generichash(64, h(c.ikm), salt);
    assert.equal(toHex(prk), c.prk, c.name);
    let t: Uint8Array = new Uint8Array(0);
    let okm: Uint8Array = new Uint8Array(0);
    for (let i = 1; okm.length < c.length; i++) {
      t = s.crypto_generichash(64, concat(t, h(c.info), u8(i)), prk);
      okm = concat(okm, t);
    }
    assert.equal(toHex(okm.subarray(0, c.length)), c.okm, c.name);
  }
  assert.ok((v.hkdf as J[]).some((c) => c.length > 64), 'a multi-block case exists');
});

test('identity vectors: keys from the seed stream, signature, fingerprint and safety number', () => {
  const v = vectors('identity');
  const s = sodium();
  const halves: string[] = [];
  for (const id of v.identities as J[]) {
    const random = seededRandom(id.seed);
    assert.equal(toHex(random(32)), id.dhPrivate);
    assert.equal(toHex(random(32)), id.signSeed);
    assert.equal(toHex(s.crypto_scalarmult_base(h(id.dhPrivate))), id.dhPublic);
    assert.equal(toHex(s.crypto_sign_seed_keypair(h(id.signSeed)).publicKey), id.signPublic);
    assert.equal(id.signatureMessage, toHex(concat(utf8(LABELS.identitySignature), h(id.dhPublic))));
    assert.ok(s.crypto_sign_verify_detached(h(id.signature), h(id.signatureMessage), h(id.signPublic)));
    const fp = s.crypto_generichash(32, concat(utf8(LABELS.fingerprint), h(id.dhPublic), h(id.signPublic)), null);
    assert.equal(toHex(fp), id.fingerprintBytes);
    assert.equal(id.fingerprint.replaceAll(' ', ''), id.fingerprintBytes);
    assert.equal(id.publicIdentityEncoded, '0111' + id.dhPublic + id.signPublic + id.signature);
    let d = s.crypto_generichash(64, concat(utf8(LABELS.safetyNumber), u8(0), u8(id.user.length), utf8(id.user), fp), null);
    for (let i = 0; i < v.safetyNumberIterations; i++) d = s.crypto_generichash(64, concat(d, fp), null);
    let digits = '';
    for (let k = 0; k < 6; k++) digits += String(Number(BigInt('0x' + toHex(d.subarray(5 * k, 5 * k + 5))) % 100000n)).padStart(5, '0');
    assert.equal(digits, id.safetyNumberHalf);
    halves.push(digits);
  }
  assert.equal(v.safetyNumber, halves.sort().join(''));
});

test('x3dh vectors: every DH, IKM, SK and AD recomputed, and the responder derives the same from the vector keys', () => {
  const all = vectors('x3dh') as J[];
  assert.deepEqual(all.map((c) => c.name), ['with_one_time_prekey', 'without_one_time_prekey']);
  const s = sodium();
  for (const c of all) {
    const a = c.initiator;
    const b = c.responder;
    const spk = b.signedPreKey;
    const otpk = b.oneTimePreKey;
    assert.equal(c.dh1, toHex(s.crypto_scalarmult(h(a.dhPrivate), h(spk.publicKey))));
    assert.equal(c.dh2, toHex(s.crypto_scalarmult(h(a.ephemeralPrivate), h(b.dhPublic))));
    assert.equal(c.dh3, toHex(s.crypto_scalarmult(h(a.ephemeralPrivate), h(spk.publicKey))));
    assert.equal(c.dh4, otpk === null ? null : toHex(s.crypto_scalarmult(h(a.ephemeralPrivate), h(otpk.publicKey))));
    assert.equal(c.ikm, 'ff'.repeat(32) + c.dh1 + c.dh2 + c.dh3 + (c.dh4 ?? ''));
    assert.equal(toHex(hkdf(new Uint8Array(64), h(c.ikm), 'fastchat/v1/x3dh', 32)), c.sharedSecret);
    const addr = (x: J) => concat(u8(0), u8(x.user.length), utf8(x.user), u32(x.device));
    const ad = concat(u8(1), h(a.dhPublic), h(a.signPublic), addr(a.address), h(b.dhPublic), h(b.signPublic), addr(b.address));
    assert.equal(c.associatedData, toHex(ad), c.name);
    assert.ok(s.crypto_sign_verify_detached(h(spk.signature), h(spk.signatureMessage), h(b.signPublic)));

    // The binary and JSON bundles describe the same thing.
    assert.deepEqual(parseBundle(h(c.bundleEncoded)), bundleFromJson(c.bundleJson));

    // Bob, given only the vector's private keys and the encoded header, reaches the same SK and AD.
    const header = parseX3DHHeader(h(c.headerEncoded));
    assert.equal(toHex(header.ephemeral), a.ephemeralPublic);
    const bob = {
      dh: { privateKey: h(b.dhPrivate), publicKey: h(b.dhPublic) },
      signPublic: h(b.signPublic),
      signPrivate: concat(h(b.signSeed), h(b.signPublic)),
      signature: h(b.signature),
    };
    const spkFull: SignedPreKey = { id: spk.id, createdAt: spk.createdAt, keyPair: { privateKey: h(spk.privateKey), publicKey: h(spk.publicKey) }, signature: h(spk.signature) };
    const otpkFull: OneTimePreKey | undefined = otpk === null ? undefined : { id: otpk.id, keyPair: { privateKey: h(otpk.privateKey), publicKey: h(otpk.publicKey) } };
    const resp = x3dhRespond(bob, b.address, { signedPreKey: (id) => (id === spk.id ? spkFull : undefined), oneTimePreKey: (id) => (id === otpkFull?.id ? otpkFull : undefined) }, a.address, header);
    assert.equal(toHex(resp.sharedSecret), c.sharedSecret);
    assert.equal(toHex(resp.associatedData), c.associatedData);
    assert.equal(resp.usedOneTimePreKeyId, otpk === null ? null : otpk.id);
    assert.equal(c.responderAgrees, true);
  }
});
