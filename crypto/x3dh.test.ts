import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumReady } from './sodium.js';
import { generateIdentity, identitySignatureMessage, publicIdentity, sign, type IdentityKeyPair } from './identity.js';
import {
  generateOneTimePreKeys,
  generateSignedPreKey,
  publicOneTimePreKey,
  publicSignedPreKey,
  signedPreKeySignatureMessage,
  type OneTimePreKey,
  type PreKeyBundle,
  type SignedPreKey,
} from './prekeys.js';
import {
  encodeX3DHHeader,
  parseX3DHHeader,
  x3dhAssociatedData,
  x3dhInitiate,
  x3dhRespond,
  x3dhSharedSecret,
  X3DH_HEADER_MAX_BYTES,
  X3DH_HEADER_MIN_BYTES,
  type PreKeyStore,
  type X3DHInitHeader,
} from './x3dh.js';
import { dh } from './dh.js';
import { concat, fromHex, toHex, u32, u8, utf8 } from './encoding.js';
import { hkdf } from './kdf.js';
import { isCryptoError } from './errors.js';
import { LABELS, SIGNED_PREKEY_MAX_AGE_MS } from './consts.js';
import type { Address } from './types.js';
import { acceptPreKeyMessage, encodeEnvelope, encryptMessage, initiateSession, parseEnvelope } from './session.js';
import { seededRandom } from '../scripts/vectors/seeded.js';

await sodiumReady();

const A: Address = { user: 'alice', device: 1 };
/** When the test's signed prekey was made, and the initiator's clock. */
const T0 = 1_700_000_000_000;
const B: Address = { user: 'bob', device: 2 };
/** An order-8 point of Curve25519 (Wycheproof): X25519 with it is all zeros for every scalar. */
const LOW_ORDER = fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');

class MemoryStore implements PreKeyStore {
  readonly spks = new Map<number, SignedPreKey>();
  readonly otpks = new Map<number, OneTimePreKey>();
  signedPreKey(id: number): SignedPreKey | undefined {
    return this.spks.get(id);
  }
  oneTimePreKey(id: number): OneTimePreKey | undefined {
    return this.otpks.get(id);
  }
}

function setup(seed: string) {
  const random = seededRandom(seed);
  const alice = generateIdentity(random);
  const bob = generateIdentity(random);
  const spk = generateSignedPreKey(bob, 1, T0, random);
  const otpks = generateOneTimePreKeys(10, 2, random);
  const store = new MemoryStore();
  store.spks.set(spk.id, spk);
  for (const k of otpks) store.otpks.set(k.id, k);
  const bundle = (withOtpk: boolean): PreKeyBundle => ({
    address: B,
    identity: publicIdentity(bob),
    signedPreKey: publicSignedPreKey(spk),
    oneTimePreKey: withOtpk ? publicOneTimePreKey(otpks[0]!) : null,
  });
  return { random, alice, bob, spk, otpks, store, bundle };
}

test('both sides derive the same SK and AD, with and without a one-time prekey', () => {
  const s = setup('agree');
  for (const withOtpk of [true, false]) {
    const init = x3dhInitiate(s.alice, A, s.bundle(withOtpk), s.random, T0);
    const resp = x3dhRespond(s.bob, B, s.store, A, init.header);
    assert.equal(init.sharedSecret.length, 32);
    assert.equal(toHex(resp.sharedSecret), toHex(init.sharedSecret));
    assert.equal(toHex(resp.associatedData), toHex(init.associatedData));
    assert.equal(toHex(init.theirRatchetKey), toHex(s.spk.keyPair.publicKey));
    assert.equal(toHex(resp.ourRatchetKeyPair.privateKey), toHex(s.spk.keyPair.privateKey));
    assert.equal(resp.usedOneTimePreKeyId, withOtpk ? 10 : null);
    assert.equal(init.header.oneTimePreKeyId, withOtpk ? 10 : null);
  }
});

test('SK is HKDF over F and the DH outputs in the spec order', () => {
  const s = setup('spec');
  let ek: Uint8Array | undefined;
  const spy = (n: number) => {
    const b = s.random(n);
    ek = b.slice();
    return b;
  };
  const init = x3dhInitiate(s.alice, A, s.bundle(true), spy, T0);
  const spkB = s.spk.keyPair.publicKey;
  const ikm = concat(
    new Uint8Array(32).fill(0xff),
    dh(s.alice.dh.privateKey, spkB),
    dh(ek!, s.bob.dh.publicKey),
    dh(ek!, spkB),
    dh(ek!, s.otpks[0]!.keyPair.publicKey),
  );
  assert.equal(toHex(init.sharedSecret), toHex(hkdf(new Uint8Array(64), ikm, LABELS.x3dh, 32)));
});

test('AD is version, initiator keys and address, then responder keys and address', () => {
  const s = setup('ad');
  const init = x3dhInitiate(s.alice, A, s.bundle(false), s.random, T0);
  const expected = concat(
    u8(1),
    s.alice.dh.publicKey,
    s.alice.signPublic,
    concat(u8(0), u8(5), utf8('alice'), u32(1)),
    s.bob.dh.publicKey,
    s.bob.signPublic,
    concat(u8(0), u8(3), utf8('bob'), u32(2)),
  );
  assert.equal(toHex(init.associatedData), toHex(expected));
});

test('the initiator aborts on a bad signed-prekey signature before any DH', () => {
  const s = setup('bad-spk');
  const b = s.bundle(true);
  const sig = b.signedPreKey.signature.slice();
  sig[0]! ^= 1;
  let drew = 0;
  const counting = (n: number) => {
    drew++;
    return s.random(n);
  };
  assert.throws(() => x3dhInitiate(s.alice, A, { ...b, signedPreKey: { ...b.signedPreKey, signature: sig } }, counting, T0), (e) =>
    isCryptoError(e, 'bad_signature'),
  );
  assert.equal(drew, 0, 'no ephemeral key was made');
});

test('the initiator refuses a signed prekey older than SIGNED_PREKEY_MAX_AGE_MS, before any DH', () => {
  const s = setup('stale-spk');
  let drew = 0;
  const counting = (n: number) => {
    drew++;
    return s.random(n);
  };
  // The signature covers createdAt, so a relay serving this key cannot make it look newer.
  assert.throws(() => x3dhInitiate(s.alice, A, s.bundle(true), counting, T0 + SIGNED_PREKEY_MAX_AGE_MS + 1), (e) => isCryptoError(e, 'stale_prekey'));
  assert.equal(drew, 0, 'no ephemeral key was made');
  assert.doesNotThrow(() => x3dhInitiate(s.alice, A, s.bundle(true), s.random, T0 + SIGNED_PREKEY_MAX_AGE_MS));
  assert.doesNotThrow(() => x3dhInitiate(s.alice, A, s.bundle(true), s.random, T0 - 3600_000), 'a key dated ahead of our clock is not refused');
  assert.throws(() => initiateSession(s.alice, A, s.bundle(false), s.random, T0 + 40 * 24 * 3600_000), (e) => isCryptoError(e, 'stale_prekey'));
});

test('the initiator aborts on a bad identity signature', () => {
  const s = setup('bad-id');
  const b = s.bundle(true);
  const mallory = generateIdentity(seededRandom('mallory'));
  // The relay swaps in Mallory's DH key but cannot re-sign it with Bob's signing key.
  const forged = { ...b, identity: { ...b.identity, dhPublic: mallory.dh.publicKey } };
  assert.throws(() => x3dhInitiate(s.alice, A, forged, s.random, T0), (e) => isCryptoError(e, 'bad_signature'));
});

test('the responder refuses a header whose identity signature does not verify', () => {
  const s = setup('bad-header-id');
  const init = x3dhInitiate(s.alice, A, s.bundle(true), s.random, T0);
  const sig = init.header.identity.signature.slice();
  sig[5]! ^= 4;
  const header = { ...init.header, identity: { ...init.header.identity, signature: sig } };
  assert.throws(() => x3dhRespond(s.bob, B, s.store, A, header), (e) => isCryptoError(e, 'bad_signature'));
});

test('a swapped initiator identity gives the responder a different SK and AD', () => {
  const s = setup('swap-id');
  const init = x3dhInitiate(s.alice, A, s.bundle(true), s.random, T0);
  const mallory = generateIdentity(seededRandom('mallory'));
  const header: X3DHInitHeader = { ...init.header, identity: publicIdentity(mallory) };
  const resp = x3dhRespond(s.bob, B, s.store, A, header);
  assert.notEqual(toHex(resp.sharedSecret), toHex(init.sharedSecret));
  assert.notEqual(toHex(resp.associatedData), toHex(init.associatedData));
});

test('a swapped address on either side gives a different AD', () => {
  const s = setup('swap-addr');
  const init = x3dhInitiate(s.alice, A, s.bundle(false), s.random, T0);
  for (const [ours, theirs] of [
    [B, { user: 'carol', device: 1 }],
    [B, { user: 'alice', device: 2 }],
    [{ user: 'bob', device: 3 }, A],
  ] as [Address, Address][]) {
    const resp = x3dhRespond(s.bob, ours, s.store, theirs, init.header);
    assert.equal(toHex(resp.sharedSecret), toHex(init.sharedSecret));
    assert.notEqual(toHex(resp.associatedData), toHex(init.associatedData), `${theirs.user}.${theirs.device} → ${ours.user}.${ours.device}`);
  }
});

test('a bundle re-addressed to another account gives a different AD', () => {
  const s = setup('readdress');
  const init = x3dhInitiate(s.alice, A, { ...s.bundle(false), address: { user: 'bobby', device: 2 } }, s.random, T0);
  const resp = x3dhRespond(s.bob, B, s.store, A, init.header);
  assert.notEqual(toHex(resp.associatedData), toHex(init.associatedData));
});

test('the responder refuses unknown signed and one-time prekey ids', () => {
  const s = setup('unknown');
  const init = x3dhInitiate(s.alice, A, s.bundle(true), s.random, T0);
  assert.throws(() => x3dhRespond(s.bob, B, s.store, A, { ...init.header, signedPreKeyId: 2 }), (e) => isCryptoError(e, 'unknown_prekey'));
  assert.throws(() => x3dhRespond(s.bob, B, s.store, A, { ...init.header, oneTimePreKeyId: 99 }), (e) => isCryptoError(e, 'unknown_prekey'));
});

test('a replayed first message fails once the caller deleted the used one-time prekey', () => {
  const s = setup('replay');
  const init = x3dhInitiate(s.alice, A, s.bundle(true), s.random, T0);
  const first = x3dhRespond(s.bob, B, s.store, A, init.header);
  assert.equal(first.usedOneTimePreKeyId, 10);
  s.store.otpks.delete(first.usedOneTimePreKeyId);
  assert.throws(() => x3dhRespond(s.bob, B, s.store, A, init.header), (e) => isCryptoError(e, 'unknown_prekey'));
});

test('the initiator refuses an all-zero DH from a validly signed low-order signed prekey', () => {
  const s = setup('low-spk');
  const b = s.bundle(false);
  const signature = sign(s.bob, signedPreKeySignatureMessage(b.signedPreKey.id, b.signedPreKey.createdAt, LOW_ORDER));
  const evil = { ...b, signedPreKey: { ...b.signedPreKey, publicKey: LOW_ORDER, signature } };
  assert.throws(() => x3dhInitiate(s.alice, A, evil, s.random, T0), (e) => isCryptoError(e, 'bad_key'));
});

test('the initiator refuses a validly signed low-order identity key and a low-order one-time prekey', () => {
  const s = setup('low-id');
  const b = s.bundle(true);
  const evilId = { ...b.identity, dhPublic: LOW_ORDER, signature: sign(s.bob, identitySignatureMessage(LOW_ORDER)) };
  assert.throws(() => x3dhInitiate(s.alice, A, { ...b, identity: evilId }, s.random, T0), (e) => isCryptoError(e, 'bad_key'));
  const evilOtpk = { id: 10, publicKey: LOW_ORDER };
  assert.throws(() => x3dhInitiate(s.alice, A, { ...b, oneTimePreKey: evilOtpk }, s.random, T0), (e) => isCryptoError(e, 'bad_key'));
});

test('the responder refuses a low-order ephemeral or identity key in the header', () => {
  const s = setup('low-header');
  const init = x3dhInitiate(s.alice, A, s.bundle(true), s.random, T0);
  assert.throws(() => x3dhRespond(s.bob, B, s.store, A, { ...init.header, ephemeral: LOW_ORDER }), (e) => isCryptoError(e, 'bad_key'));
  const evil: IdentityKeyPair = { ...s.alice, dh: { ...s.alice.dh, publicKey: LOW_ORDER }, signature: sign(s.alice, identitySignatureMessage(LOW_ORDER)) };
  const header = { ...init.header, identity: publicIdentity(evil) };
  assert.throws(() => x3dhRespond(s.bob, B, s.store, A, header), (e) => isCryptoError(e, 'bad_key'));
});

test('the initiator wipes its ephemeral private key', () => {
  const s = setup('wipe');
  let ek: Uint8Array | undefined;
  x3dhInitiate(s.alice, A, s.bundle(true), (n) => (ek = s.random(n)), T0);
  assert.equal(toHex(ek!), '00'.repeat(32));
});

test('refuses invalid addresses with invalid_argument', () => {
  const s = setup('addr');
  assert.throws(() => x3dhInitiate(s.alice, { user: 'Al', device: 1 }, s.bundle(true), s.random, T0), (e) => isCryptoError(e, 'invalid_argument'));
});

test('the SK helper and AD helper agree with what the handshake returns', () => {
  const s = setup('helpers');
  const init = x3dhInitiate(s.alice, A, s.bundle(false), s.random, T0);
  assert.equal(toHex(init.associatedData), toHex(x3dhAssociatedData(publicIdentity(s.alice), A, publicIdentity(s.bob), B)));
  assert.notEqual(toHex(x3dhSharedSecret([new Uint8Array(32)])), toHex(init.sharedSecret));
});

test('headers round-trip with and without a one-time prekey id, at the documented sizes', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 128, maxLength: 128 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.option(fc.integer({ min: 0, max: 0xffffffff })),
      (id, ephemeral, signedPreKeyId, oneTimePreKeyId) => {
        const h: X3DHInitHeader = {
          identity: { dhPublic: id.slice(0, 32), signPublic: id.slice(32, 64), signature: id.slice(64) },
          ephemeral,
          signedPreKeyId,
          oneTimePreKeyId,
        };
        const bytes = encodeX3DHHeader(h);
        assert.equal(bytes.length, oneTimePreKeyId === null ? X3DH_HEADER_MIN_BYTES : X3DH_HEADER_MAX_BYTES);
        assert.deepEqual(parseX3DHHeader(bytes), h);
      },
    ),
  );
});

test('the header parser on random and mutated bytes throws only typed errors', () => {
  const s = setup('fuzz');
  const valid = encodeX3DHHeader(x3dhInitiate(s.alice, A, s.bundle(true), s.random, T0).header);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const c = valid.slice();
          c[i % c.length]! ^= x;
          return c;
        }),
      ),
      (bytes) => {
        try {
          parseX3DHHeader(bytes);
        } catch (e) {
          assert.ok(isCryptoError(e, 'malformed'), String(e));
        }
      },
    ),
    { numRuns: 500 },
  );
});

// ---- through the session face: a handshake the two sides disagree on must kill the first message

function firstMessage(seed: string) {
  const s = setup(seed);
  const session = initiateSession(s.alice, A, s.bundle(true), s.random, T0);
  const { envelope } = encryptMessage(session, utf8('hello bob'), s.random);
  return { s, envelope };
}

test('an honest first message decrypts and names the used one-time prekey', () => {
  const { s, envelope } = firstMessage('session-honest');
  const r = acceptPreKeyMessage(s.bob, B, s.store, A, envelope);
  assert.equal(new TextDecoder().decode(r.plaintext), 'hello bob');
  assert.equal(r.usedOneTimePreKeyId, 10);
});

test('a first message whose header identity was swapped for a validly signed other one fails to decrypt', () => {
  const { s, envelope } = firstMessage('session-swap-id');
  const e = parseEnvelope(envelope);
  const mallory = publicIdentity(generateIdentity(seededRandom('mallory')));
  const forged = encodeEnvelope({ ...e, preKey: { ...e.preKey!, identity: mallory } });
  assert.throws(() => acceptPreKeyMessage(s.bob, B, s.store, A, forged), (err) => isCryptoError(err, 'decrypt_failed'));
});

test('a first message attributed to another sender or delivered to another device fails to decrypt', () => {
  const { s, envelope } = firstMessage('session-swap-addr');
  assert.throws(() => acceptPreKeyMessage(s.bob, B, s.store, { user: 'carol', device: 1 }, envelope), (err) => isCryptoError(err, 'decrypt_failed'));
  assert.throws(() => acceptPreKeyMessage(s.bob, B, s.store, { user: 'alice', device: 9 }, envelope), (err) => isCryptoError(err, 'decrypt_failed'));
  assert.throws(() => acceptPreKeyMessage(s.bob, { user: 'bob', device: 3 }, s.store, A, envelope), (err) => isCryptoError(err, 'decrypt_failed'));
  // The refusals consumed nothing: the honest delivery still works.
  assert.equal(new TextDecoder().decode(acceptPreKeyMessage(s.bob, B, s.store, A, envelope).plaintext), 'hello bob');
});

test('a replayed first message fails once its one-time prekey was deleted', () => {
  const { s, envelope } = firstMessage('session-replay');
  const r = acceptPreKeyMessage(s.bob, B, s.store, A, envelope);
  s.store.otpks.delete(r.usedOneTimePreKeyId!);
  assert.throws(() => acceptPreKeyMessage(s.bob, B, s.store, A, envelope), (err) => isCryptoError(err, 'decrypt_failed'));
});
