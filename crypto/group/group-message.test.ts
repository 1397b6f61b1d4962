import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodium, sodiumReady } from '../sodium.js';
import { seededRandom } from '../../scripts/vectors/seeded.js';
import { concat, toHex, utf8, fromUtf8 } from '../encoding.js';
import { aeadSeal } from '../aead.js';
import { isCryptoError, type CryptoErrorCode } from '../errors.js';
import { AEAD_TAG_BYTES, GROUP_MAX_SKIP, GROUP_MAX_SKIPPED_KEYS, GROUP_VERSION } from '../consts.js';
import { pad, paddedLength } from '../padding.js';
import { proposeChange, type GroupState } from './membership.js';
import {
  acceptSenderKeyDistribution,
  createSenderKey,
  encodeOurSenderKey,
  encodeSenderKeyDistribution,
  encodeTheirSenderKey,
  groupChainStep,
  groupMessageKeys,
  parseOurSenderKey,
  senderKeyDistribution,
  type EpochView,
  type OurSenderKey,
  type TheirSenderKey,
} from './sender-keys.js';
import { decryptGroupMessage, encryptGroupMessage as encryptAt, groupMessageAd, groupMessageSignatureInput, parseGroupMessage, peekGroupMessage, type ParsedGroupMessage, type SignatureCheck } from './group-message.js';
import { distributeKeys, newGroup, people } from './test-helpers.js';

await sodiumReady();
const random = seededRandom('group message tests');
const P = people(['alice', 'bob', 'carol'], random);
const { alice, bob, carol } = P;
const group = newGroup(alice, [bob, carol], random).state;

function code(c: CryptoErrorCode) {
  return (e: unknown) => isCryptoError(e, c);
}

function fresh() {
  return distributeKeys(group, P, random);
}

/** Encrypts on `at` (the group's first state unless given). */
function encryptGroupMessage(ours: OurSenderKey, plaintext: Uint8Array, at: EpochView = group) {
  return encryptAt(ours, at, plaintext, random);
}

/** Decrypts as a receiver whose state at the message's epoch is `at` (the group's first state unless given). */
function decrypt(theirs: TheirSenderKey, message: Uint8Array, at: EpochView = group) {
  return decryptGroupMessage(theirs, at, message);
}

/** Encrypts texts in order from `ours`; returns the messages and the advanced state. */
function sendAll(ours: OurSenderKey, texts: string[], at: EpochView = group): { state: OurSenderKey; messages: Uint8Array[] } {
  const messages: Uint8Array[] = [];
  let state = ours;
  for (const t of texts) {
    const r = encryptGroupMessage(state, utf8(t), at);
    state = r.state;
    messages.push(r.message);
  }
  return { state, messages };
}

function snapshot(k: TheirSenderKey): string {
  return toHex(encodeTheirSenderKey(k));
}

test('every member reads every other member\'s messages with the right sender', () => {
  const keys = fresh();
  for (const sender of ['alice', 'bob', 'carol']) {
    const { message } = encryptGroupMessage(keys.ours[sender]!, utf8(`hello from ${sender}`));
    const h = peekGroupMessage(message);
    assert.equal(h.sender, sender);
    assert.equal(h.counter, 0);
    for (const receiver of ['alice', 'bob', 'carol']) {
      if (receiver === sender) continue;
      const { plaintext } = decrypt(keys.theirs[receiver]![h.sender]!, message);
      assert.equal(fromUtf8(plaintext), `hello from ${sender}`);
    }
  }
});

test('the ciphertext is padded to a bucket, so the length leaks only the bucket', () => {
  const keys = fresh();
  const { message: short } = encryptGroupMessage(keys.ours.alice!, utf8('hi'));
  const { message: longer } = encryptGroupMessage(keys.ours.alice!, utf8('x'.repeat(150)));
  assert.equal(short.length, longer.length);
  const overhead = short.length - paddedLength(2) - AEAD_TAG_BYTES;
  const { message: big } = encryptGroupMessage(keys.ours.alice!, utf8('x'.repeat(2000)));
  assert.equal(big.length - overhead - AEAD_TAG_BYTES, paddedLength(2000));
});

test('member A cannot forge a group message as member B, even holding B\'s chain key', () => {
  const keys = fresh();
  // Alice knows bob's chain (she receives it), so she can make a ciphertext carol's key for bob
  // opens; what she lacks is bob's group signature key.
  const bobAsAliceSeesHim = keys.theirs.alice!.bob!;
  const forger: OurSenderKey = { ...bobAsAliceSeesHim, signPublic: keys.ours.alice!.signPublic, signPrivate: keys.ours.alice!.signPrivate };
  const { message } = encryptGroupMessage(forger, utf8('bob says: send alice money'));
  assert.equal(peekGroupMessage(message).sender, 'bob');
  const carolsBob = keys.theirs.carol!.bob!;
  const before = snapshot(carolsBob);
  assert.throws(() => decrypt(carolsBob, message), code('bad_signature'));
  assert.equal(snapshot(carolsBob), before);
  // Bob's genuine message 0 still decrypts: the forgery did not use up the key.
  const real = encryptGroupMessage(keys.ours.bob!, utf8('real')).message;
  assert.equal(fromUtf8(decrypt(carolsBob, real).plaintext), 'real');
});

test('a signature checked ahead stands only for the very same key, bytes and signature that passed', () => {
  const keys = fresh();
  const forger: OurSenderKey = { ...keys.theirs.alice!.bob!, signPublic: keys.ours.alice!.signPublic, signPrivate: keys.ours.alice!.signPrivate };
  const forged = encryptGroupMessage(forger, utf8('bob says: send alice money')).message;
  const genuine = encryptGroupMessage(keys.ours.bob!, utf8('real')).message;
  const carolsBob = keys.theirs.carol!.bob!;
  const f = groupMessageSignatureInput(forged);
  const g = groupMessageSignatureInput(genuine);
  const bobKey = carolsBob.signPublic;
  // Each a check that really passed, or claims to, for something other than the forged message under bob's key.
  const near: [string, SignatureCheck][] = [
    ["the forger's own key (it does verify the forged bytes)", { signPublic: keys.ours.alice!.signPublic, message: f.message, signature: f.signature, valid: true }],
    ["another message's bytes", { signPublic: bobKey, message: g.message, signature: f.signature, valid: true }],
    ["another message's signature", { signPublic: bobKey, message: f.message, signature: g.signature, valid: true }],
    ['one byte more', { signPublic: bobKey, message: concat(f.message, new Uint8Array(1)), signature: f.signature, valid: true }],
    ['a check that failed', { signPublic: bobKey, message: f.message, signature: f.signature, valid: false }],
  ];
  const before = snapshot(carolsBob);
  for (const [what, check] of near) {
    assert.throws(() => decryptGroupMessage(carolsBob, group, forged, check), code('bad_signature'), what);
    assert.equal(snapshot(carolsBob), before, what);
  }
  // A genuine message opens with its own check, and with another's (verified in line then).
  assert.equal(fromUtf8(decryptGroupMessage(carolsBob, group, genuine, { signPublic: bobKey, ...g, valid: true }).plaintext), 'real');
  assert.equal(fromUtf8(decryptGroupMessage(carolsBob, group, genuine, near[0]![1]).plaintext), 'real');
  // The exact match is used in the signature's place: why only a real verify may make one.
  assert.equal(fromUtf8(decryptGroupMessage(carolsBob, group, forged, { signPublic: bobKey, ...f, valid: true }).plaintext), 'bob says: send alice money');
});

test('a replayed group message is refused as duplicate_message', () => {
  const keys = fresh();
  const { messages } = sendAll(keys.ours.alice!, ['one', 'two']);
  let bobsAlice = keys.theirs.bob!.alice!;
  for (const m of messages) bobsAlice = decrypt(bobsAlice, m).state;
  for (const m of messages) assert.throws(() => decrypt(bobsAlice, m), code('duplicate_message'));
});

test('out-of-order messages within GROUP_MAX_SKIP decrypt exactly once each', () => {
  const keys = fresh();
  const texts = Array.from({ length: 6 }, (_, i) => `m${i}`);
  const { messages } = sendAll(keys.ours.alice!, texts);
  let s = keys.theirs.bob!.alice!;
  for (const i of [5, 0, 3, 1, 4, 2]) {
    const r = decrypt(s, messages[i]!);
    assert.equal(fromUtf8(r.plaintext), texts[i]);
    s = r.state;
    assert.throws(() => decrypt(s, messages[i]!), code('duplicate_message'));
  }
  assert.equal(s.skipped.length, 0);
});

test('a message exactly GROUP_MAX_SKIP ahead decrypts, one more is refused as too_far_ahead', () => {
  const keys = fresh();
  const { messages } = sendAll(keys.ours.alice!, Array.from({ length: GROUP_MAX_SKIP + 2 }, (_, i) => String(i)));
  const s = keys.theirs.bob!.alice!;
  const before = snapshot(s);
  assert.throws(() => decrypt(s, messages[GROUP_MAX_SKIP + 1]!), code('too_far_ahead'));
  assert.equal(snapshot(s), before);
  const r = decrypt(s, messages[GROUP_MAX_SKIP]!);
  assert.equal(fromUtf8(r.plaintext), String(GROUP_MAX_SKIP));
  assert.equal(r.state.skipped.length, GROUP_MAX_SKIP);
});

test('skipped keys are capped at GROUP_MAX_SKIPPED_KEYS, the oldest evicted first', () => {
  const keys = fresh();
  const n = GROUP_MAX_SKIPPED_KEYS + GROUP_MAX_SKIP;
  const { messages } = sendAll(keys.ours.alice!, Array.from({ length: n + 3 }, (_, i) => String(i)));
  let s = keys.theirs.bob!.alice!;
  for (let i = GROUP_MAX_SKIP; i <= n + 2; i += GROUP_MAX_SKIP) s = decrypt(s, messages[i]!).state;
  assert.ok(s.skipped.length <= GROUP_MAX_SKIPPED_KEYS);
  assert.throws(() => decrypt(s, messages[0]!), code('duplicate_message'));
  const newest = s.skipped[s.skipped.length - 1]!.counter;
  assert.equal(fromUtf8(decrypt(s, messages[newest]!).plaintext), String(newest));
});

test('a failed decryption leaves the receiving chain exactly as it was', () => {
  const keys = fresh();
  const { messages } = sendAll(keys.ours.alice!, ['a', 'b', 'c']);
  const s = keys.theirs.bob!.alice!;
  // A chain that disagrees with the sender's (same signature key): signature passes, AEAD fails.
  const wrongChain: TheirSenderKey = { ...s, chainKey: random(32) };
  const before = snapshot(wrongChain);
  assert.throws(() => decrypt(wrongChain, messages[2]!), code('decrypt_failed'));
  assert.equal(snapshot(wrongChain), before);
  const tampered = messages[0]!.slice();
  tampered[tampered.length - 70]! ^= 1; // a ciphertext byte
  assert.throws(() => decrypt(s, tampered), code('bad_signature'));
  assert.equal(fromUtf8(decrypt(s, messages[0]!).plaintext), 'a');
});

test('a message is refused by the chain of another group, key epoch or sender, or under the view of another epoch', () => {
  const keys = fresh();
  const { message } = encryptGroupMessage(keys.ours.alice!, utf8('x'));
  const bobsAlice = keys.theirs.bob!.alice!;
  assert.throws(() => decrypt({ ...bobsAlice, groupId: random(32) }, message), code('wrong_group'));
  assert.throws(() => decrypt({ ...bobsAlice, epoch: 7 }, message), code('wrong_epoch'));
  assert.throws(() => decrypt(keys.theirs.bob!.carol!, message), code('invalid_argument'));
  const later = proposeChange(group, alice, { op: 'rename', name: 'later' }).state;
  assert.throws(() => decrypt(bobsAlice, message, later), code('wrong_epoch'));
});

test('a message sent on another history of the same epoch is refused as a fork before any key is used', () => {
  const a = proposeChange(group, alice, { op: 'rename', name: 'history a' }).state;
  const b = proposeChange(group, alice, { op: 'rename', name: 'history b' }).state;
  const onA = distributeKeys(a, P, random);
  const { message } = encryptGroupMessage(onA.ours.bob!, utf8('from history a'), a);
  const h = peekGroupMessage(message);
  assert.equal(toHex(h.transcript), toHex(a.transcript));
  // Carol applied history b; even holding bob's chain (a hostile relay cannot give her more) the
  // transcript check refuses it, and leaves the chain unmoved.
  const carolsBob = onA.theirs.carol!.bob!;
  const before = snapshot(carolsBob);
  assert.throws(() => decrypt(carolsBob, message, b), code('fork'));
  assert.equal(snapshot(carolsBob), before);
  // The transcript is in the AD as well: rewriting the header's transcript breaks the signature.
  const relabelled = message.slice();
  relabelled.set(b.transcript, 2 + 32 + 4);
  assert.throws(() => decrypt(carolsBob, relabelled, b), code('bad_signature'));
});

test('after carol is removed her old keys cannot decrypt what members send after applying it', () => {
  const old = fresh();
  const next = proposeChange(group, alice, { op: 'remove', users: ['carol'] }).state;
  assert.equal(next.keyFloor, next.epoch);
  // Alice cannot keep her old key past the removal: encrypting with it is refused.
  assert.throws(() => encryptGroupMessage(old.ours.alice!, utf8('x'), next), code('stale_key'));
  const keys = distributeKeys(next, P, random);
  assert.equal(keys.ours.carol, undefined);
  assert.throws(() => createSenderKey(next, 'carol', random), code('invalid_argument'));
  const { message } = encryptGroupMessage(keys.ours.alice!, utf8('after carol left'), next);
  assert.equal(fromUtf8(decrypt(keys.theirs.bob!.alice!, message, next).plaintext), 'after carol left');
  const carolsAlice = old.theirs.carol!.alice!;
  assert.throws(() => decrypt(carolsAlice, message, next), code('wrong_epoch'));
  // Relabelling her old chain with the new key epoch does not help: the keys themselves are new.
  assert.throws(() => decrypt({ ...carolsAlice, epoch: next.epoch }, message, next), code('bad_signature'));
  const withNewSigner = { ...carolsAlice, epoch: next.epoch, signPublic: keys.ours.alice!.signPublic };
  assert.throws(() => decrypt(withNewSigner, message, next), code('decrypt_failed'));
});

test('a member that keeps its pre-removal key is refused as stale_key by every receiver, before any key is used', () => {
  const old = fresh();
  const next = proposeChange(group, alice, { op: 'remove', users: ['carol'] }).state;
  // Bob's modified client skips the rotation: a message at the new epoch under his old key, built
  // by hand (encryptGroupMessage refuses to). Carol, who holds that key, could read it.
  const ours = old.ours.bob!;
  const [, mk] = groupChainStep(ours.chainKey);
  const salt = random(16);
  const header = { groupId: next.groupId, epoch: next.epoch, transcript: next.transcript, sender: 'bob', keyEpoch: ours.epoch, counter: ours.counter, salt };
  const { key, nonce } = groupMessageKeys(mk, salt);
  const ad = groupMessageAd(header);
  const signed = concat(Uint8Array.of(GROUP_VERSION, 0x33), ad, aeadSeal(key, nonce, pad(utf8('carol reads this')), ad));
  const message = concat(signed, sodium().crypto_sign_detached(concat(utf8('fastchat/v1/group/message-signature'), signed), ours.signPrivate));
  const alicesBob = old.theirs.alice!.bob!;
  const before = snapshot(alicesBob);
  assert.throws(() => decrypt(alicesBob, message, next), code('stale_key'));
  assert.equal(snapshot(alicesBob), before);
});

test('an add rotates nobody: the newcomer reads the messages of a member from the key it is given on, never the ones before', () => {
  const keys = fresh();
  const early = sendAll(keys.ours.alice!, ['before the add 0', 'before the add 1']);
  const dave = people(['dave'], random).dave;
  const added = proposeChange(group, alice, { op: 'add', members: [dave.member] }).state;
  assert.equal(added.keyFloor, 0);
  // Alice's first send after the add: the same key, shared with dave only, at its current position.
  const d = encodeSenderKeyDistribution(senderKeyDistribution(early.state, added));
  const davesAlice = acceptSenderKeyDistribution(added, alice.member, d);
  assert.deepEqual([davesAlice.epoch, davesAlice.counter], [0, 2]);
  const after = sendAll(early.state, ['after the add'], added);
  const m = after.messages[0]!;
  assert.equal(peekGroupMessage(m).keyEpoch, 0);
  assert.equal(fromUtf8(decrypt(davesAlice, m, added).plaintext), 'after the add');
  // Bob, who has had the key all along, reads it at the new epoch with no new distribution.
  const bobsAlice = early.messages.reduce((k, x) => decrypt(k, x).state, keys.theirs.bob!.alice!);
  assert.equal(fromUtf8(decrypt(bobsAlice, m, added).plaintext), 'after the add');
  // What alice sent before the add stays unreadable to dave, whatever epoch he checks it under.
  for (const x of early.messages) {
    assert.throws(() => decrypt(davesAlice, x, group), code('duplicate_message'));
  }
});

test('a sender state restored from an old copy never encrypts twice under one (key, nonce) and leaks no XOR of plaintexts', () => {
  const keys = fresh();
  const saved = encodeOurSenderKey(keys.ours.alice!);
  const texts = ['attack at dawn, bring the maps', 'retreat at dusk, burn the maps!', 'hold the bridge until the night'];
  // The same saved state, restored three times (a backup put back twice), each time encrypting
  // another text as message 0 of the chain.
  const sent = texts.map((t) => encryptGroupMessage(parseOurSenderKey(saved), utf8(t)).message);
  // Under a stream cipher a reused (key, nonce) gives c1 ^ c2 = p1 ^ p2: check no pair leaks it.
  const body = (m: Uint8Array) => m.subarray(m.length - 64 - (paddedLength(texts[0]!.length) + AEAD_TAG_BYTES), m.length - 64 - AEAD_TAG_BYTES);
  for (let i = 0; i < 3; i++) {
    for (let j = i + 1; j < 3; j++) {
      const cx = body(sent[i]!).map((x, k) => x ^ body(sent[j]!)[k]!);
      const px = pad(utf8(texts[i]!)).map((x, k) => x ^ pad(utf8(texts[j]!))[k]!);
      assert.notEqual(toHex(cx), toHex(px), `messages ${i} and ${j} leak the XOR of their plaintexts`);
    }
  }
  const [, mk] = groupChainStep(keys.ours.alice!.chainKey);
  const pairs = sent.map((m) => {
    const h = peekGroupMessage(m);
    assert.equal(h.counter, 0);
    const { key, nonce } = groupMessageKeys(mk, h.salt);
    return toHex(key) + toHex(nonce);
  });
  assert.equal(new Set(pairs).size, 3, 'every restored copy encrypted under a fresh (key, nonce)');
  // The receiver reads one of them for the slot; the others are refused as duplicates.
  const r = decrypt(keys.theirs.bob!.alice!, sent[1]!);
  assert.equal(fromUtf8(r.plaintext), texts[1]);
  for (const m of [sent[0]!, sent[2]!]) assert.throws(() => decrypt(r.state, m), code('duplicate_message'));
});

test('an exhausted sender chain refuses to wrap its counter', () => {
  const keys = fresh();
  assert.throws(() => encryptGroupMessage({ ...keys.ours.alice!, counter: 0xffffffff }, utf8('x')), code('invalid_argument'));
  assert.throws(() => encryptAt(keys.ours.alice!, group, utf8('x'), () => new Uint8Array(3)), code('invalid_argument'));
});

test('property: random delivery schedules (loss, reordering, replays) decrypt each message exactly once', () => {
  const keys = fresh();
  const N = 40;
  const texts = Array.from({ length: N }, (_, i) => `message ${i}`);
  const { messages } = sendAll(keys.ours.alice!, texts);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: N - 1 }), { maxLength: 80 }), (schedule) => {
      let s = keys.theirs.bob!.alice!;
      const seen = new Set<number>();
      for (const i of schedule) {
        if (seen.has(i)) {
          assert.throws(() => decrypt(s, messages[i]!), code('duplicate_message'));
          continue;
        }
        const r = decrypt(s, messages[i]!);
        assert.equal(fromUtf8(r.plaintext), texts[i]);
        seen.add(i);
        s = r.state;
      }
    }),
    { numRuns: 200 },
  );
});

test('property: peek and decrypt on random bytes throw only CryptoError', () => {
  const keys = fresh();
  const real = encryptGroupMessage(keys.ours.alice!, utf8('x')).message;
  const mutated = fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const b = real.slice();
    b[i]! ^= x;
    return b;
  });
  const prefixed = fc.uint8Array({ maxLength: 400 }).map((b) => concat(Uint8Array.of(GROUP_VERSION, 0x33), b));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), prefixed, mutated), (bytes) => {
      const s = keys.theirs.bob!.alice!;
      const before = snapshot(s);
      for (const f of [() => peekGroupMessage(bytes), () => decrypt(s, bytes)]) {
        try {
          f();
        } catch (e) {
          assert.ok(isCryptoError(e), String(e));
        }
      }
      assert.equal(snapshot(s), before);
    }),
    { numRuns: 1000 },
  );
});

/** The outcome of f: 'ok' or the CryptoError code it threw. */
function outcome(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    assert.ok(isCryptoError(e), String(e));
    return (e as { code: string }).code;
  }
}

test('property: a message parsed once (parseGroupMessage) is refused at the same step, with the same error, as its bytes', () => {
  const keys = fresh();
  const real = encryptGroupMessage(keys.ours.alice!, utf8('parsed once')).message;
  const mutated = fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const b = real.slice();
    b[i]! ^= x;
    return b;
  });
  const cut = fc.nat(real.length).map((n) => real.slice(0, n));
  fc.assert(
    fc.property(fc.oneof(mutated, cut, fc.constant(real)), (bytes) => {
      const s = keys.theirs.bob!.alice!;
      const before = snapshot(s);
      let parsed: ParsedGroupMessage | undefined;
      const parse = outcome(() => (parsed = parseGroupMessage(bytes)));
      // Structure: the parse refuses exactly what peek and decrypt of the bytes refuse there.
      assert.equal(parse === 'ok' ? outcome(() => peekGroupMessage(bytes)) : parse, outcome(() => peekGroupMessage(bytes)));
      const fromBytes = outcome(() => decrypt(s, bytes));
      if (parse !== 'ok') {
        assert.equal(fromBytes, parse);
        return;
      }
      // The rest (group, epoch, transcript, sender, signature, counter, AEAD): the same for the parsed form.
      assert.equal(outcome(() => decryptGroupMessage(s, group, parsed!)), fromBytes);
      assert.equal(snapshot(s), before);
    }),
    { numRuns: 1000 },
  );
  // One byte of the signed part changed: both refuse it as a forgery, before any key is used.
  const b = real.slice();
  b[b.length - 70]! ^= 1;
  assert.throws(() => decryptGroupMessage(keys.theirs.bob!.alice!, group, parseGroupMessage(b)), code('bad_signature'));
});

test('only a parsed form parseGroupMessage made is taken, and a later change to the bytes does not show through it', () => {
  const keys = fresh();
  const { message } = encryptGroupMessage(keys.ours.alice!, utf8('mine'));
  const parsed = parseGroupMessage(message);
  const s = keys.theirs.bob!.alice!;
  // A look-alike (here an exact copy) is refused: its fields were not checked together by the parse.
  const copy = { ...parsed } as ParsedGroupMessage;
  for (const f of [() => decryptGroupMessage(s, group, copy), () => peekGroupMessage(copy), () => groupMessageSignatureInput(copy)]) {
    assert.throws(f, code('invalid_argument'));
  }
  assert.throws(() => ((parsed as { counter: number }).counter = 5), TypeError);
  message.fill(0);
  assert.equal(fromUtf8(decryptGroupMessage(s, group, parsed).plaintext), 'mine');
});

test('a signature checked ahead for other bytes is not taken for a parsed message, whatever parse it carries', () => {
  const keys = fresh();
  const forger: OurSenderKey = { ...keys.theirs.alice!.bob!, signPublic: keys.ours.alice!.signPublic, signPrivate: keys.ours.alice!.signPrivate };
  const forged = parseGroupMessage(encryptGroupMessage(forger, utf8('bob says: send alice money')).message);
  const genuine = parseGroupMessage(encryptGroupMessage(keys.ours.bob!, utf8('real')).message);
  assert.equal(forged.signatureMessage.length, genuine.signatureMessage.length); // same length: the compare goes through the bytes
  const carolsBob = keys.theirs.carol!.bob!;
  const bobKey = carolsBob.signPublic;
  const genuineCheck: SignatureCheck = { signPublic: bobKey, message: genuine.signatureMessage, signature: genuine.signature, valid: true, parsed: genuine };
  const near: [string, SignatureCheck][] = [
    ["the genuine message's check", genuineCheck],
    ["the genuine message's bytes with the forged signature", { ...genuineCheck, signature: forged.signature }],
    ['the forged bytes with one byte changed', { ...genuineCheck, message: forged.signatureMessage.map((x, i) => (i === 40 ? x ^ 1 : x)), signature: forged.signature, parsed: forged }],
    ['the forged bytes with another signature', { ...genuineCheck, message: forged.signatureMessage, parsed: forged }],
    ["the forger's own key", { signPublic: keys.ours.alice!.signPublic, message: forged.signatureMessage, signature: forged.signature, valid: true, parsed: forged }],
  ];
  const before = snapshot(carolsBob);
  for (const [what, check] of near) {
    assert.throws(() => decryptGroupMessage(carolsBob, group, forged, check), code('bad_signature'), what);
    assert.equal(snapshot(carolsBob), before, what);
  }
  assert.equal(fromUtf8(decryptGroupMessage(carolsBob, group, genuine, genuineCheck).plaintext), 'real');
});
