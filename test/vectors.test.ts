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
import * as spec from './util/from-spec.js';

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

// ---- docs alone: PROTOCOL.md §14 and the sections it cites, rebuilt by test/util/from-spec.ts ----

test('the seed stream of PROTOCOL.md §14 yields every drawn input of the kdf, identity and x3dh vectors', () => {
  const kdf = vectors('kdf');
  const k = spec.seedStream('kdf');
  const drawn = [['ikm', 32], ['ikm', 128], ['salt', 64], ['ikm', 32], ['salt', 16], ['ikm', 40], ['salt', 64], ['ikm', 1]] as const;
  const cases = kdf.hkdf as J[];
  const expected = [cases[0].ikm, cases[1].ikm, cases[2].salt, cases[2].ikm, cases[3].salt, cases[3].ikm, cases[4].salt, cases[4].ikm];
  drawn.forEach(([, n], i) => assert.equal(spec.hex(k(n)), expected[i], `kdf draw ${i}`));
  assert.equal(spec.hex(k(64)), kdf.prf.key);
  for (const c of cases) assert.equal(spec.hex(spec.hkdf(spec.unhex(c.salt), spec.unhex(c.ikm), spec.unhex(c.info), c.length)), c.okm, c.name);

  for (const id of vectors('identity').identities as J[]) {
    const i = spec.identity(spec.seedStream(`identity/${id.user}`));
    assert.deepEqual([spec.hex(i.dhPrivate), spec.hex(i.signSeed), spec.hex(i.signature)], [id.dhPrivate, id.signSeed, id.signature], id.user);
  }

  for (const c of vectors('x3dh') as J[]) {
    const alice = spec.identity(spec.seedStream(`x3dh/${c.name}/alice`));
    const bobDraw = spec.seedStream(`x3dh/${c.name}/bob`);
    const bob = spec.identity(bobDraw);
    const spk = spec.signedPreKey(bob, 1, 1_767_225_600_000, bobDraw);
    const opkPrivate = bobDraw(32);
    const opk = { id: 1000, publicKey: spec.x25519Base(opkPrivate) };
    assert.equal(spec.hex(alice.dhPrivate), c.initiator.dhPrivate);
    assert.equal(spec.hex(bob.dhPrivate), c.responder.dhPrivate);
    assert.equal(spec.hex(spk.signature), c.responder.signedPreKey.signature);
    const init = spec.x3dhInitiator(alice, { user: 'alice', device: 1 }, spec.publicIdentity(bob), { user: 'bob', device: 7 }, spk, c.responder.oneTimePreKey ? opk : null, spec.seedStream(`x3dh/${c.name}/alice-ephemeral`));
    assert.equal(spec.hex(init.SK), c.sharedSecret, c.name);
    assert.equal(spec.hex(init.AD), c.associatedData, c.name);
    assert.equal(spec.hex(init.header), c.headerEncoded, c.name);
  }
});

test('the ratchet vector is rebuilt from PROTOCOL.md alone: every message, in the order §14 gives, and both final states', () => {
  const v = vectors('ratchet');
  const setup = spec.seedStream('ratchet/setup');
  const SK = setup(32);
  const bobPriv = setup(32);
  assert.equal(spec.hex(SK), v.sharedSecret);
  assert.equal(spec.hex(bobPriv), v.bobRatchetKeyPair.privateKey);
  const AD = spec.text('fastchat ratchet vector associated data');
  const state = { alice: spec.ratchetAlice(SK, spec.x25519Base(bobPriv)), bob: spec.ratchetBob(SK, { priv: bobPriv, pub: spec.x25519Base(bobPriv) }) };
  const draw = { alice: spec.seedStream('ratchet/alice'), bob: spec.seedStream('ratchet/bob') };
  const sent = new Map<string, ReturnType<typeof spec.encrypt>>();
  const other = (p: 'alice' | 'bob') => (p === 'alice' ? 'bob' : 'alice');
  const send = (id: string) => {
    const from = id.startsWith('a') ? 'alice' : 'bob';
    const m = spec.encrypt(state[from], AD, spec.text(`${id}: message from ${from}`), draw[from]);
    const published = (v.messages as J[]).find((x) => x.id === id);
    assert.equal(spec.hex(m.headerBytes), published.headerEncoded, id);
    assert.equal(spec.hex(m.ciphertext), published.ciphertext, id);
    sent.set(id, m);
  };
  const deliver = (id: string) => {
    const m = sent.get(id)!;
    const to = other(id.startsWith('a') ? 'alice' : 'bob');
    assert.equal(Buffer.from(spec.decrypt(state[to], AD, m.header, m.ciphertext)).toString(), `${id}: message from ${to === 'bob' ? 'alice' : 'bob'}`);
  };
  const order = 'send a0 a1 a2; deliver a0 a2; send b0 b1; deliver b1; send a3 a4; deliver a4 a1 b0 a3; send b2; deliver b2; send a5; deliver a5';
  for (const step of order.split('; ')) {
    const [op, ...ids] = step.split(' ');
    for (const id of ids) (op === 'send' ? send : deliver)(id!);
  }
  assert.equal(sent.size, v.messages.length);
  assert.deepEqual((v.deliveries as J[]).map((d) => d.message), ['a0', 'a2', 'b1', 'a4', 'a1', 'b0', 'a3', 'b2', 'a5']);
  assert.equal(spec.hex(spec.encodeRatchetState(state.alice)), v.finalStates.alice);
  assert.equal(spec.hex(spec.encodeRatchetState(state.bob)), v.finalStates.bob);
});

test('the session vector is rebuilt from PROTOCOL.md alone: X3DH, every envelope and both stored sessions', () => {
  const v = vectors('session');
  const aDraw = spec.seedStream('session/alice');
  const bDraw = spec.seedStream('session/bob');
  const alice = spec.identity(aDraw);
  const bob = spec.identity(bDraw);
  const spk = spec.signedPreKey(bob, 7, 1_767_225_600_000, bDraw);
  const opkPrivate = bDraw(32);
  const A = { user: 'alice', device: 1 };
  const B = { user: 'bob', device: 2 };
  const init = spec.x3dhInitiator(alice, A, spec.publicIdentity(bob), B, spk, { id: 500, publicKey: spec.x25519Base(opkPrivate) }, aDraw);
  const aliceR = spec.ratchetAlice(init.SK, spk.publicKey);
  const envelopes: string[] = [];
  const m1 = spec.encrypt(aliceR, init.AD, spec.padMessage(spec.text('hello bob')), aDraw);
  envelopes.push(spec.hex(spec.envelope(init.header, m1.headerBytes, m1.ciphertext)));
  const m2 = spec.encrypt(aliceR, init.AD, spec.padMessage(new Uint8Array(1500).fill(0x61)), aDraw);
  envelopes.push(spec.hex(spec.envelope(init.header, m2.headerBytes, m2.ciphertext)));
  const resp = spec.x3dhResponder(bob, B, spec.publicIdentity(alice), A, init.header.subarray(128, 160), spk.privateKey, opkPrivate);
  assert.equal(spec.hex(resp.SK), spec.hex(init.SK));
  assert.equal(spec.hex(resp.AD), v.associatedData);
  const bobR = spec.ratchetBob(resp.SK, { priv: spk.privateKey, pub: spk.publicKey });
  assert.equal(Buffer.from(spec.decrypt(bobR, resp.AD, m1.header, m1.ciphertext).subarray(0, 9)).toString(), 'hello bob');
  spec.decrypt(bobR, resp.AD, m2.header, m2.ciphertext);
  const m3 = spec.encrypt(bobR, resp.AD, spec.padMessage(spec.text('hi alice')), bDraw);
  envelopes.push(spec.hex(spec.envelope(null, m3.headerBytes, m3.ciphertext)));
  spec.decrypt(aliceR, init.AD, m3.header, m3.ciphertext); // a reply decrypted: Alice stops sending the X3DH header
  const m4 = spec.encrypt(aliceR, init.AD, spec.padMessage(new Uint8Array(0)), aDraw);
  envelopes.push(spec.hex(spec.envelope(null, m4.headerBytes, m4.ciphertext)));
  spec.decrypt(bobR, resp.AD, m4.header, m4.ciphertext);
  assert.deepEqual(envelopes, (v.messages as J[]).map((m) => m.envelope));
  assert.equal(spec.hex(spec.encodeSession(B, spec.publicIdentity(bob), init.AD, null, aliceR)), v.finalSessions.alice);
  assert.equal(spec.hex(spec.encodeSession(A, spec.publicIdentity(alice), resp.AD, null, bobR)), v.finalSessions.bob);
});

test('the group vector is rebuilt from PROTOCOL.md alone: chain, refusals and their codes, concurrent records, sender key, messages and receivers', () => {
  const v = vectors('group');
  const rebuilt = spec.groupVectors();
  // Key by key, so a difference names the part of the document that parts from the code.
  for (const k of Object.keys(v)) assert.deepEqual(rebuilt[k], v[k], `group.json ${k}`);
  assert.deepEqual(Object.keys(rebuilt).sort(), Object.keys(v).sort());
});

test('the attachment vector is rebuilt from PROTOCOL.md alone: keys, commitment, blob and hash of every case', () => {
  const v = vectors('attachment');
  for (const c of v.cases as J[]) {
    const file = c.file !== undefined ? spec.unhex(c.file) : spec.seedStream(c.fileFromSeed)(c.size);
    const a = spec.attachment(file, spec.seedStream(`attachment/${c.name}`));
    assert.deepEqual(
      [spec.hex(a.key), spec.hex(a.streamKey), spec.hex(a.commitment), spec.hex(a.ssHeader), a.paddedSize, spec.hex(a.hash)],
      [c.key, c.streamKey, c.commitment, c.streamHeader, c.paddedSize, c.hash],
      c.name,
    );
    assert.equal(spec.hex(a.blob), c.blob, c.name);
  }
});

test('the devices vector is rebuilt from PROTOCOL.md alone: account keys, safety number, every list, and each refused list\'s error', () => {
  const v = vectors('devices');
  const halves: string[] = [];
  for (const a of v.accounts as J[]) {
    const kp = spec.accountKey(spec.seedStream(a.seed));
    assert.equal(spec.hex(kp.publicKey), a.publicKey, a.user);
    assert.equal(spec.hex(spec.cat(Uint8Array.of(1, 0x50), kp.privateKey)), a.accountKeyPairEncoded, a.user);
    const fp = spec.accountFingerprint(kp.publicKey);
    assert.equal(spec.hex(fp), a.fingerprintBytes, a.user);
    const half = spec.safetyNumberHalf('fastchat/v1/account/safety-number', a.user, fp);
    assert.equal(half, a.safetyNumberHalf, a.user);
    halves.push(half);
  }
  assert.equal(v.accountSafetyNumber, halves.sort().join(''));

  const alice = spec.accountKey(spec.seedStream('devices/alice/account'));
  const devices: spec.Device[] = (v.devices as J[]).map((d, i) => {
    const id = spec.identity(spec.seedStream(`devices/alice/device-${i + 1}`));
    const accountSignature = spec.deviceAccountSignature(id.signPrivate, alice.publicKey, 'alice', i + 1, id.dhPublic);
    assert.deepEqual(
      [spec.hex(id.dhPublic), spec.hex(id.signPublic), d.addedAt, d.device, spec.hex(accountSignature)],
      [d.dhPublic, d.signPublic, 1_767_225_600_000 + (i + 1) * 60_000, i + 1, d.accountSignature],
    );
    return { device: i + 1, dhPublic: id.dhPublic, signPublic: id.signPublic, addedAt: d.addedAt, accountSignature };
  });
  let prev: { version: number; body: Uint8Array } | null = null;
  for (const l of v.lists as J[]) {
    const body = spec.deviceListBody('alice', alice.publicKey, l.version, prev === null ? new Uint8Array(32) : spec.deviceListHash(prev.body), l.deviceIds.map((n: number) => devices[n - 1]!));
    const list = spec.signDeviceList(alice.privateKey, body);
    assert.deepEqual([spec.hex(body), spec.hex(list), spec.hex(spec.deviceListHash(body))], [l.body, l.encoded, l.hash], `version ${l.version}`);
    assert.equal(spec.deviceListVerdict('alice', alice.publicKey, prev, list), 'accepted');
    prev = { version: l.version, body };
  }
  assert.equal((v.lists as J[]).length, 3);

  const held = (n: number) => (n === 0 ? null : { version: n, body: spec.unhex(v.lists[n - 1].body) });
  for (const r of v.refused as J[]) {
    assert.equal(spec.deviceListVerdict('alice', alice.publicKey, held(r.held), spec.unhex(r.list)), r.expect, r.name);
  }
  assert.deepEqual(new Set((v.refused as J[]).map((r) => r.expect)), new Set(['account_key_changed', 'bad_signature', 'wrong_account', 'stale_device_list', 'fork', 'broken_chain', 'malformed', 'unsupported_version']));
  // Each way an entry's own signature can fail (D.3) has its vector.
  for (const name of ['entry_signed_by_another_key', 'entry_signature_missing', 'entry_signed_for_another_account_key', 'entry_signed_for_another_device_id']) {
    assert.equal((v.refused as J[]).find((r) => r.name === name)?.expect, 'bad_signature', name);
  }
});

test('the provision vector is rebuilt from PROTOCOL.md alone: code, code key, request, plaintext, envelope and the refusals', () => {
  const v = vectors('provision');
  const code = spec.pairingCode(spec.seedStream('provision/code'));
  assert.deepEqual([code, code.replace(/(.{4})(?!$)/g, '$1-'), code.slice(0, 6), spec.hex(spec.codeKey(code))], [v.code.code, v.code.shown, v.code.channel, v.code.codeKey]);
  const id = spec.identity(spec.seedStream('provision/new-device'));
  const ephPrivate = spec.seedStream('provision/new-device-ephemeral')(32);
  const ephPublic = spec.x25519Base(ephPrivate);
  assert.equal(spec.hex(spec.publicIdentity(id)), v.newDevice.identity);
  const request = spec.linkRequest('alice', id, ephPublic, v.newDevice.createdAt, code);
  assert.equal(spec.hex(request), v.request.encoded);
  assert.equal(spec.hex(spec.linkRequestHash(request)), v.request.hash);
  assert.equal(spec.linkRequestVerdict(code, request), 'ok');

  const account = spec.accountKey(spec.seedStream('devices/alice/account'));
  const bob = spec.identity(spec.seedStream('provision/contact-bob'));
  // The approver's list: version 1 naming alice's device 1 of the devices vector, its entry signed by that device (D.3).
  const first = spec.identity(spec.seedStream('devices/alice/device-1'));
  const entry = { device: 1, dhPublic: first.dhPublic, signPublic: first.signPublic, addedAt: 1_767_225_600_000 + 60_000 };
  const deviceList = spec.signDeviceList(
    account.privateKey,
    spec.deviceListBody('alice', account.publicKey, 1, new Uint8Array(32), [{ ...entry, accountSignature: spec.deviceAccountSignature(first.signPrivate, account.publicKey, 'alice', 1, first.dhPublic) }]),
  );
  assert.equal(spec.hex(deviceList), v.message.deviceList);
  const plaintext = spec.provisionPlaintext('alice', account.privateKey, deviceList, 2, v.message.ticket, { user: 'bob', identity: spec.publicIdentity(bob) });
  assert.equal(spec.hex(plaintext), v.message.plaintext);
  const envelope = spec.provisionEnvelope(code, request, ephPublic, plaintext, spec.seedStream('provision/approver'));
  assert.equal(spec.hex(envelope), v.envelope);
  assert.equal(spec.hex(spec.openEnvelope(code, request, ephPrivate, envelope)!), v.message.plaintext);

  assert.equal(spec.linkRequestVerdict(v.refused.requestUnderAnotherCode.code, request), v.refused.requestUnderAnotherCode.expect);
  assert.equal(spec.linkRequestVerdict(code, spec.unhex(v.refused.requestMadeByTheRelay.request)), v.refused.requestMadeByTheRelay.expect);
  assert.equal(spec.openEnvelope(code, request, ephPrivate, spec.unhex(v.refused.envelopeLastByteFlipped.envelope)), null);
  assert.equal(v.refused.envelopeLastByteFlipped.expect, 'decrypt_failed');
  assert.equal(v.refused.envelopeForAnotherAccount.expect, 'wrong_account');
  assert.notEqual(spec.openEnvelope(code, request, ephPrivate, spec.unhex(v.refused.envelopeForAnotherAccount.envelope)), null);
});
