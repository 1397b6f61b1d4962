import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sodium, sodiumReady, systemRandom } from './sodium.js';
import { ROOT } from '../test/util/paths.js';
import {
  encodeHeader,
  encodeRatchetState,
  kdfCk,
  kdfRk,
  parseHeader,
  parseRatchetState,
  ratchetDecrypt,
  ratchetEncrypt,
  ratchetInitAlice,
  ratchetInitBob,
  type RatchetHeader,
  type RatchetState,
} from './ratchet.js';
import { generateKeyPair } from './dh.js';
import { aeadOpen } from './aead.js';
import { concat, fromHex, toHex, utf8 } from './encoding.js';
import { isCryptoError, type CryptoErrorCode } from './errors.js';
import { LABELS, MAX_RECEIVING_CHAINS, MAX_SKIP, MAX_SKIPPED_KEYS, RATCHET_HEADER_BYTES } from './consts.js';
import { prf } from './kdf.js';

await sodiumReady();
const random = systemRandom();
const AD = utf8('associated data of this session');

interface Party {
  state: RatchetState;
}
interface Sent {
  header: RatchetHeader;
  ciphertext: Uint8Array;
  plaintext: string;
}

function pair(): { alice: Party; bob: Party } {
  const sk = random(32);
  const bobKeys = generateKeyPair(random);
  return { alice: { state: ratchetInitAlice(sk, bobKeys.publicKey) }, bob: { state: ratchetInitBob(sk, bobKeys) } };
}

let counter = 0;
function send(from: Party, text = `message ${counter++}`): Sent {
  const r = ratchetEncrypt(from.state, AD, utf8(text), random);
  from.state = r.state;
  return { header: r.header, ciphertext: r.ciphertext, plaintext: text };
}

function receive(to: Party, m: Sent): void {
  const r = ratchetDecrypt(to.state, AD, m.header, m.ciphertext);
  to.state = r.state;
  assert.equal(new TextDecoder().decode(r.plaintext), m.plaintext);
}

/** Asserts the refusal code and that the state's bytes did not change. */
function refused(to: Party, m: Sent, code: CryptoErrorCode, ad = AD): void {
  const before = toHex(encodeRatchetState(to.state));
  assert.throws(() => ratchetDecrypt(to.state, ad, m.header, m.ciphertext), (e) => isCryptoError(e, code));
  assert.equal(toHex(encodeRatchetState(to.state)), before);
}

function flip(b: Uint8Array, i: number): Uint8Array {
  const c = b.slice();
  c[i]! ^= 1;
  return c;
}

test('alice and bob exchange messages across several ratchet steps', () => {
  const { alice, bob } = pair();
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 3; i++) receive(bob, send(alice));
    for (let i = 0; i < 2; i++) receive(alice, send(bob));
  }
});

test('the responder cannot send before it has received the first message', () => {
  const { bob } = pair();
  assert.throws(() => ratchetEncrypt(bob.state, AD, utf8('x'), random), (e) => isCryptoError(e, 'invalid_argument'));
});

test('encrypt and decrypt leave the caller state untouched and return a new one', () => {
  const { alice, bob } = pair();
  const aliceBefore = toHex(encodeRatchetState(alice.state));
  const r = ratchetEncrypt(alice.state, AD, utf8('hi'), random);
  assert.equal(toHex(encodeRatchetState(alice.state)), aliceBefore);
  const bobBefore = toHex(encodeRatchetState(bob.state));
  const d = ratchetDecrypt(bob.state, AD, r.header, r.ciphertext);
  assert.equal(toHex(encodeRatchetState(bob.state)), bobBefore);
  assert.notEqual(toHex(encodeRatchetState(d.state)), bobBefore);
});

test('no step ever writes to a state it was given: every earlier state still encodes to its bytes (property)', () => {
  // New states share unchanged fields with old ones (copy on write), so a write through a shared
  // array or key would show here as a changed encoding of some earlier state.
  const op = fc.record({ aliceActs: fc.boolean(), send: fc.boolean(), pick: fc.nat(50) });
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), (ops) => {
      const { alice, bob } = pair();
      const inFlight = new Map<Party, Sent[]>([
        [alice, []],
        [bob, []],
      ]);
      const seen: [RatchetState, string][] = [];
      const keep = (p: Party): void => {
        seen.push([p.state, toHex(encodeRatchetState(p.state))]);
      };
      keep(alice);
      keep(bob);
      inFlight.get(bob)!.push(send(alice));
      keep(alice);
      for (const o of ops) {
        const [me, peer] = o.aliceActs ? [alice, bob] : [bob, alice];
        const queue = inFlight.get(me)!;
        if (o.send) {
          try {
            inFlight.get(peer)!.push(send(me));
          } catch (e) {
            // Bob cannot send before his first message has arrived.
            assert.ok(isCryptoError(e, 'invalid_argument') && me === bob, String(e));
          }
        } else if (queue.length > 0) {
          const [m] = queue.splice(o.pick % queue.length, 1);
          try {
            receive(me, m!);
          } catch (e) {
            // Only a message whose chain has expired may fail (MAX_RECEIVING_CHAINS).
            assert.ok(isCryptoError(e), String(e));
          }
        }
        keep(me);
      }
      for (const [state, hex] of seen) assert.equal(toHex(encodeRatchetState(state)), hex);
    }),
    { numRuns: 40 },
  );
});

test('out-of-order delivery within and across ratchet steps decrypts every message exactly once', () => {
  const { alice, bob } = pair();
  const a1 = [send(alice), send(alice), send(alice), send(alice)];
  receive(bob, a1[2]!); // skips 0 and 1
  const b1 = [send(bob), send(bob), send(bob)];
  receive(alice, b1[1]!);
  const a2 = [send(alice), send(alice)];
  receive(bob, a2[1]!); // new chain: skips a1[3] (via pn) and a2[0]
  receive(alice, b1[2]!);
  receive(alice, b1[0]!);
  for (const m of [a1[0]!, a2[0]!, a1[3]!, a1[1]!]) receive(bob, m);
  assert.equal(bob.state.MKSKIPPED.length, 0);
  assert.equal(alice.state.MKSKIPPED.length, 0);
  for (const m of [...a1, ...a2]) refused(bob, m, 'duplicate_message');
  for (const m of b1) refused(alice, m, 'duplicate_message');
});

test('refuses a replay of a message already decrypted, then still decrypts the next one', () => {
  const { alice, bob } = pair();
  const m = send(alice);
  receive(bob, m);
  refused(bob, m, 'duplicate_message');
  receive(bob, send(alice));
  const r = send(bob);
  receive(alice, r);
  refused(alice, r, 'duplicate_message');
  receive(alice, send(bob));
});

test('refuses header tampering (every byte) and ciphertext tampering, then decrypts the honest message', () => {
  const { alice, bob } = pair();
  receive(bob, send(alice));
  receive(alice, send(bob));
  const m = send(alice);
  const h = encodeHeader(m.header);
  for (let i = 0; i < RATCHET_HEADER_BYTES; i++) {
    let header: RatchetHeader;
    try {
      header = parseHeader(flip(h, i));
    } catch (e) {
      assert.ok(isCryptoError(e, 'unsupported_version'), `byte ${i}`);
      continue;
    }
    const before = toHex(encodeRatchetState(bob.state));
    assert.throws(() => ratchetDecrypt(bob.state, AD, header, m.ciphertext), (e) => isCryptoError(e), `byte ${i}`);
    assert.equal(toHex(encodeRatchetState(bob.state)), before);
  }
  for (const i of [0, 5, m.ciphertext.length - 1]) {
    refused(bob, { ...m, ciphertext: flip(m.ciphertext, i) }, 'decrypt_failed');
  }
  refused(bob, { ...m, ciphertext: m.ciphertext.subarray(0, 10) }, 'decrypt_failed');
  refused(bob, m, 'decrypt_failed', utf8('another session'));
  receive(bob, m);
});

test('refuses a message more than MAX_SKIP ahead, then decrypts the next honest message', () => {
  const { alice, bob } = pair();
  receive(bob, send(alice));
  const skipped: Sent[] = [];
  for (let i = 0; i < MAX_SKIP + 1; i++) skipped.push(send(alice));
  const far = send(alice); // MAX_SKIP + 1 messages ahead of bob's position
  refused(bob, far, 'too_far_ahead');
  receive(bob, skipped[MAX_SKIP]!); // exactly MAX_SKIP ahead is allowed
  assert.equal(bob.state.MKSKIPPED.length, MAX_SKIP);
  receive(bob, far);
  receive(bob, skipped[0]!);
});

test('refuses a new chain whose previous chain length is more than MAX_SKIP ahead', () => {
  const { alice, bob } = pair();
  receive(bob, send(alice));
  receive(alice, send(bob));
  const tampered = send(alice);
  // pn is authenticated, so a forged pn is refused (too far ahead or by the tag), never stored.
  refused(bob, { ...tampered, header: { ...tampered.header, pn: MAX_SKIP + 5 } }, 'too_far_ahead');
  receive(bob, tampered);
});

test('the skipped-key store stays within MAX_SKIPPED_KEYS under a flood of gaps, evicting the oldest', () => {
  const { alice, bob } = pair();
  const all: Sent[] = [];
  for (let i = 0; i < 3 * MAX_SKIP + 1; i++) all.push(send(alice));
  for (let i = MAX_SKIP; i < all.length; i += MAX_SKIP) {
    receive(bob, all[i]!);
    assert.ok(bob.state.MKSKIPPED.length <= MAX_SKIPPED_KEYS);
  }
  assert.equal(bob.state.MKSKIPPED.length, MAX_SKIPPED_KEYS);
  // 2998 keys were skipped (0..999, 1001..1999, 2001..2999); the 998 oldest were evicted.
  refused(bob, all[0]!, 'duplicate_message');
  refused(bob, all[997]!, 'duplicate_message');
  receive(bob, all[998]!);
  receive(bob, all[3 * MAX_SKIP - 1]!);
  receive(bob, send(alice));
});

test('skipped keys expire after MAX_RECEIVING_CHAINS receiving ratchet steps', () => {
  const { alice, bob } = pair();
  const late: Sent[] = [];
  for (let step = 0; step < MAX_RECEIVING_CHAINS + 1; step++) {
    const held = send(alice);
    receive(bob, send(alice));
    late.push(held);
    receive(alice, send(bob));
  }
  // The chain of late[0] is now MAX_RECEIVING_CHAINS steps old: its key and its ratchet key are
  // forgotten, so it reads as an unknown chain and fails; late[1] is within the bound and works.
  assert.equal(bob.state.previousDHr.length, MAX_RECEIVING_CHAINS - 1);
  refused(bob, late[0]!, 'decrypt_failed');
  for (const m of late.slice(1)) receive(bob, m);
});

test('a message from a ratchet key we have not replied to yet is refused without changing state', () => {
  const { alice, bob } = pair();
  receive(bob, send(alice));
  // A second initiator with the same SK would start another chain; bob has no DHs for it.
  const other = { state: ratchetInitAlice(new Uint8Array(32).fill(7), generateKeyPair(random).publicKey) };
  refused(bob, send(other), 'decrypt_failed');
  receive(bob, send(alice));
});

test('a low-order ratchet key in a header is refused', () => {
  const { alice, bob } = pair();
  receive(bob, send(alice));
  receive(alice, send(bob));
  const m = send(alice);
  const before = toHex(encodeRatchetState(bob.state));
  assert.throws(() => ratchetDecrypt(bob.state, AD, { ...m.header, dh: new Uint8Array(32) }, m.ciphertext), (e) => isCryptoError(e));
  assert.equal(toHex(encodeRatchetState(bob.state)), before);
  receive(bob, m);
});

/** True when some 32-byte window of `bytes`, used as a message key or chain key, opens `m`. */
function windowDecrypts(bytes: Uint8Array, m: Sent): boolean {
  const ad = concat(AD, encodeHeader(m.header));
  const tryMk = (mk: Uint8Array): boolean => {
    try {
      aeadOpen(mk, m.header.nonce, m.ciphertext, ad);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i + 32 <= bytes.length; i++) {
    const w = bytes.slice(i, i + 32);
    if (tryMk(w)) return true;
    let ck: Uint8Array = w;
    for (let step = 0; step < 3; step++) {
      const [next, mk] = kdfCk(ck);
      if (tryMk(mk)) return true;
      ck = next;
    }
  }
  return false;
}

test('forward secrecy: after decrypting, the serialised state holds nothing that decrypts the message again', () => {
  const { alice, bob } = pair();
  receive(bob, send(alice));
  receive(alice, send(bob));
  const inOrder = [send(alice), send(alice)];
  const skippedOne = send(alice);
  const ahead = send(alice);
  receive(bob, inOrder[0]!);
  // The check can fail: before decrypting, the chain key in bob's state does open the message.
  assert.ok(windowDecrypts(encodeRatchetState(bob.state), inOrder[1]!));
  receive(bob, inOrder[1]!);
  assert.ok(!windowDecrypts(encodeRatchetState(bob.state), inOrder[1]!));
  receive(bob, ahead);
  assert.ok(windowDecrypts(encodeRatchetState(bob.state), skippedOne)); // stored as a skipped key
  receive(bob, skippedOne);
  const after = encodeRatchetState(bob.state);
  for (const m of [...inOrder, skippedOne, ahead]) assert.ok(!windowDecrypts(after, m));
});

test('post-compromise security: a clone of bob taken at time t cannot decrypt after one full round trip', () => {
  const { alice, bob } = pair();
  receive(bob, send(alice));
  receive(alice, send(bob));
  receive(bob, send(alice));
  const clone: Party = { state: parseRatchetState(encodeRatchetState(bob.state)) }; // stolen at time t
  // The thief sees every message and tracks them as bob does (a passive attacker with bob's state).
  const a0 = send(alice);
  receive(bob, a0);
  receive(clone, a0); // still the chain known at time t
  const b1 = send(bob); // bob's fresh ratchet key: the thief does not have its private half
  receive(alice, b1);
  const a1 = send(alice);
  receive(bob, a1);
  assert.throws(() => ratchetDecrypt(clone.state, AD, a1.header, a1.ciphertext), (e) => isCryptoError(e, 'decrypt_failed'));
  const b2 = send(bob);
  receive(alice, b2);
  const a2 = send(alice);
  receive(bob, a2);
  assert.throws(() => ratchetDecrypt(clone.state, AD, a2.header, a2.ciphertext), (e) => isCryptoError(e));
});

test('KDF_RK splits one 64-byte HKDF output into the new root key and chain key', () => {
  const [rk, ck] = kdfRk(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
  assert.equal(rk.length, 32);
  assert.equal(ck.length, 32);
  assert.notEqual(toHex(rk), toHex(ck));
});

test('KDF_CK splits one PRF output under LABELS.ratchetChain into the next chain key and the message key', () => {
  const ck = new Uint8Array(32).fill(5);
  const out = prf(ck, utf8(LABELS.ratchetChain));
  const [ck2, mk] = kdfCk(ck);
  assert.equal(toHex(ck2), toHex(out.subarray(0, 32)));
  assert.equal(toHex(mk), toHex(out.subarray(32, 64)));
  assert.equal(toHex(ck), toHex(new Uint8Array(32).fill(5)), 'the input chain key is not written to');
});

test('the ratchet state round-trips through its encoding, and the parser refuses any other shape', () => {
  const { alice, bob } = pair();
  const a = [send(alice), send(alice), send(alice)];
  receive(bob, a[2]!);
  receive(alice, send(bob));
  for (const s of [alice.state, bob.state, pair().bob.state, pair().alice.state]) {
    const bytes = encodeRatchetState(s);
    assert.equal(toHex(encodeRatchetState(parseRatchetState(bytes))), toHex(bytes));
  }
  const bytes = encodeRatchetState(bob.state);
  const bad = (b: Uint8Array, code: CryptoErrorCode = 'malformed') =>
    assert.throws(() => parseRatchetState(b), (e) => isCryptoError(e, code));
  bad(flip(bytes, 0), 'unsupported_version');
  bad(flip(bytes, 1));
  const badFlags = bytes.slice();
  badFlags[2] = 0x10;
  bad(badFlags);
  bad(bytes.subarray(0, bytes.length - 1));
  bad(concat(bytes, new Uint8Array(1)));
  for (let n = 0; n < 80; n++) {
    try {
      parseRatchetState(random(n));
    } catch (e) {
      assert.ok(isCryptoError(e));
    }
  }
});

test('the header is 57 bytes and its parser checks length and version first', () => {
  const { alice } = pair();
  const m = send(alice);
  const h = encodeHeader(m.header);
  assert.equal(h.length, RATCHET_HEADER_BYTES);
  assert.deepEqual(parseHeader(h), m.header);
  assert.throws(() => parseHeader(h.subarray(1)), (e) => isCryptoError(e, 'malformed'));
  assert.throws(() => parseHeader(flip(h, 0)), (e) => isCryptoError(e, 'unsupported_version'));
  // A version-1 header (41 bytes, no salt) is refused by its version, never read as a short v2 one.
  assert.throws(() => parseHeader(concat(Uint8Array.of(1), h.subarray(1))), (e) => isCryptoError(e, 'unsupported_version'));
});

// ---- docs/vectors/ratchet.json, re-derived in pieces from raw libsodium ----------------------------

test('the ratchet vectors recompute step by step from raw X25519, keyed BLAKE2b and XChaCha20-Poly1305', () => {
  // eslint-style escape hatch: the vector file is untyped JSON read field by field.
  type J = any;
  const v = (JSON.parse(readFileSync(join(ROOT, 'docs/vectors/ratchet.json'), 'utf8')) as J).vectors;
  const s = sodium();
  const h = fromHex;
  const blake = (key: Uint8Array, data: Uint8Array) => s.crypto_generichash(64, data, key);
  const rawHkdf = (salt: Uint8Array, ikm: Uint8Array, info: string, length: number) => {
    const prk = blake(salt.length === 0 ? new Uint8Array(64) : salt, ikm);
    let t: Uint8Array = new Uint8Array(0);
    let okm: Uint8Array = new Uint8Array(0);
    for (let i = 1; okm.length < length; i++) {
      t = blake(prk, concat(t, utf8(info), Uint8Array.of(i)));
      okm = concat(okm, t);
    }
    return okm.subarray(0, length);
  };
  assert.equal(v.steps.length, 10);
  const chainStarts = new Set<string>();
  for (const step of v.steps as J[]) {
    assert.equal(toHex(s.crypto_scalarmult_base(h(step.ourPrivate))), step.ourPublic);
    assert.equal(toHex(s.crypto_scalarmult(h(step.ourPrivate), h(step.theirPublic))), step.dhOutput);
    const out = rawHkdf(h(step.rootKeyIn), h(step.dhOutput), 'fastchat/v1/ratchet/root', 64);
    assert.equal(toHex(out.subarray(0, 32)), step.rootKeyOut);
    assert.equal(toHex(out.subarray(32)), step.chainKey);
    chainStarts.add(step.chainKey);
  }
  // Root keys chain: each step starts from the root key the previous step ended with.
  for (let i = 1; i < v.steps.length; i += 2) {
    // Steps come in pairs (a sending step on one side, the matching receiving step on the other).
    assert.equal(v.steps[i].rootKeyIn, v.steps[i - 1].rootKeyIn);
    assert.equal(v.steps[i].chainKey, v.steps[i - 1].chainKey);
    if (i + 1 < v.steps.length) assert.equal(v.steps[i + 1].rootKeyIn, v.steps[i].rootKeyOut);
  }
  assert.equal(v.steps[0].rootKeyIn, v.sharedSecret);
  const nextKeys = new Set<string>();
  for (const m of v.messages as J[]) {
    assert.ok(chainStarts.has(m.chainKey) || nextKeys.has(m.chainKey), `${m.id} chain key comes from a step or the previous message`);
    const chainOut = blake(h(m.chainKey), utf8('fastchat/v3/ratchet/chain'));
    assert.equal(toHex(chainOut.subarray(0, 32)), m.nextChainKey);
    assert.equal(toHex(chainOut.subarray(32, 64)), m.messageKey);
    nextKeys.add(m.nextChainKey);
    assert.equal(m.header.nonce.length, 48, 'a 24-byte nonce per message');
    assert.equal(m.aeadKey, m.messageKey, 'the message key is the AEAD key');
    assert.equal(m.aeadNonce, m.header.nonce, "the header's nonce is the AEAD nonce");
    const header = concat(Uint8Array.of(3), h(m.header.dh), Uint8Array.of(0, 0, m.header.pn >> 8, m.header.pn & 255, 0, 0, m.header.n >> 8, m.header.n & 255), h(m.header.nonce));
    assert.equal(toHex(header), m.headerEncoded);
    assert.equal(m.aeadAssociatedData, v.associatedData + m.headerEncoded);
    const pt = s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, h(m.ciphertext), h(m.aeadAssociatedData), h(m.aeadNonce), h(m.aeadKey));
    assert.equal(toHex(pt), m.plaintext);
  }
  // Every message was delivered exactly once, several out of order, and decrypted to its plaintext.
  const delivered = (v.deliveries as J[]).map((d) => d.message);
  assert.deepEqual([...delivered].sort(), (v.messages as J[]).map((m) => m.id).sort());
  for (const d of v.deliveries as J[]) assert.equal(d.plaintext, (v.messages as J[]).find((m) => m.id === d.message).plaintext);
  assert.ok((v.deliveries as J[]).some((d) => d.skippedKeysAfter > 0));
  for (const st of Object.values(v.finalStates) as string[]) assert.equal(toHex(encodeRatchetState(parseRatchetState(h(st)))), st);
});

test('any header round-trips through encodeHeader and parseHeader (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.uint8Array({ minLength: 24, maxLength: 24 }), (dhKey, pn, n, nonce) => {
      const h = { dh: dhKey, pn, n, nonce };
      const bytes = encodeHeader(h);
      assert.equal(bytes.length, RATCHET_HEADER_BYTES);
      assert.deepEqual(parseHeader(bytes), h);
    }),
  );
});

test('header and ratchet-state parsers on random bytes throw only CryptoError (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, versioned) => {
      const b = versioned && bytes.length > 1 ? Uint8Array.of(1, 0x20, ...bytes.subarray(2)) : bytes;
      for (const parse of [parseHeader, parseRatchetState]) {
        try {
          parse(b);
        } catch (e) {
          assert.ok(isCryptoError(e), String(e));
        }
      }
    }),
  );
});

test('a reserve in front of the ciphertext changes no byte of it, and the reserve is left zero for the caller', () => {
  // The same state and the same randomness twice: with and without the reserve.
  const { alice, bob } = pair();
  const draws: Uint8Array[] = [];
  const recorded = (n: number): Uint8Array => {
    const b = random(n);
    draws.push(b.slice());
    return b;
  };
  const replay = (): ((n: number) => Uint8Array) => {
    let i = 0;
    return () => draws[i++]!.slice();
  };
  const plain = ratchetEncrypt(alice.state, AD, utf8('hello'), recorded);
  const reserved = ratchetEncrypt(alice.state, AD, utf8('hello'), replay(), 77);
  assert.equal(reserved.sealed.length, 77 + plain.ciphertext.length);
  assert.ok(reserved.sealed.subarray(0, 77).every((b) => b === 0));
  assert.equal(toHex(reserved.ciphertext), toHex(plain.ciphertext));
  assert.equal(toHex(plain.sealed), toHex(plain.ciphertext));
  assert.equal(new TextDecoder().decode(ratchetDecrypt(bob.state, AD, reserved.header, reserved.ciphertext).plaintext), 'hello');
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(() => ratchetEncrypt(alice.state, AD, utf8('x'), random, bad), (e) => isCryptoError(e, 'invalid_argument'));
  }
});
