import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumReady } from '../sodium.js';
import { seededRandom } from '../../scripts/vectors/seeded.js';
import { concat, toHex, utf8, fromUtf8 } from '../encoding.js';
import { isCryptoError, type CryptoErrorCode } from '../errors.js';
import { AEAD_TAG_BYTES, GROUP_MAX_SKIP, GROUP_MAX_SKIPPED_KEYS, GROUP_VERSION } from '../consts.js';
import { paddedLength } from '../padding.js';
import { proposeChange } from './membership.js';
import { createSenderKey, encodeTheirSenderKey, type OurSenderKey, type TheirSenderKey } from './sender-keys.js';
import { decryptGroupMessage, encryptGroupMessage, peekGroupMessage } from './group-message.js';
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

/** Encrypts texts in order from `ours`; returns the messages and the advanced state. */
function sendAll(ours: OurSenderKey, texts: string[]): { state: OurSenderKey; messages: Uint8Array[] } {
  const messages: Uint8Array[] = [];
  let state = ours;
  for (const t of texts) {
    const r = encryptGroupMessage(state, utf8(t));
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
      const { plaintext } = decryptGroupMessage(keys.theirs[receiver]![h.sender]!, message);
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
  assert.throws(() => decryptGroupMessage(carolsBob, message), code('bad_signature'));
  assert.equal(snapshot(carolsBob), before);
  // Bob's genuine message 0 still decrypts: the forgery did not use up the key.
  const real = encryptGroupMessage(keys.ours.bob!, utf8('real')).message;
  assert.equal(fromUtf8(decryptGroupMessage(carolsBob, real).plaintext), 'real');
});

test('a replayed group message is refused as duplicate_message', () => {
  const keys = fresh();
  const { messages } = sendAll(keys.ours.alice!, ['one', 'two']);
  let bobsAlice = keys.theirs.bob!.alice!;
  for (const m of messages) bobsAlice = decryptGroupMessage(bobsAlice, m).state;
  for (const m of messages) assert.throws(() => decryptGroupMessage(bobsAlice, m), code('duplicate_message'));
});

test('out-of-order messages within GROUP_MAX_SKIP decrypt exactly once each', () => {
  const keys = fresh();
  const texts = Array.from({ length: 6 }, (_, i) => `m${i}`);
  const { messages } = sendAll(keys.ours.alice!, texts);
  let s = keys.theirs.bob!.alice!;
  for (const i of [5, 0, 3, 1, 4, 2]) {
    const r = decryptGroupMessage(s, messages[i]!);
    assert.equal(fromUtf8(r.plaintext), texts[i]);
    s = r.state;
    assert.throws(() => decryptGroupMessage(s, messages[i]!), code('duplicate_message'));
  }
  assert.equal(s.skipped.length, 0);
});

test('a message exactly GROUP_MAX_SKIP ahead decrypts, one more is refused as too_far_ahead', () => {
  const keys = fresh();
  const { messages } = sendAll(keys.ours.alice!, Array.from({ length: GROUP_MAX_SKIP + 2 }, (_, i) => String(i)));
  const s = keys.theirs.bob!.alice!;
  const before = snapshot(s);
  assert.throws(() => decryptGroupMessage(s, messages[GROUP_MAX_SKIP + 1]!), code('too_far_ahead'));
  assert.equal(snapshot(s), before);
  const r = decryptGroupMessage(s, messages[GROUP_MAX_SKIP]!);
  assert.equal(fromUtf8(r.plaintext), String(GROUP_MAX_SKIP));
  assert.equal(r.state.skipped.length, GROUP_MAX_SKIP);
});

test('skipped keys are capped at GROUP_MAX_SKIPPED_KEYS, the oldest evicted first', () => {
  const keys = fresh();
  const n = GROUP_MAX_SKIPPED_KEYS + GROUP_MAX_SKIP;
  const { messages } = sendAll(keys.ours.alice!, Array.from({ length: n + 3 }, (_, i) => String(i)));
  let s = keys.theirs.bob!.alice!;
  for (let i = GROUP_MAX_SKIP; i <= n + 2; i += GROUP_MAX_SKIP) s = decryptGroupMessage(s, messages[i]!).state;
  assert.ok(s.skipped.length <= GROUP_MAX_SKIPPED_KEYS);
  assert.throws(() => decryptGroupMessage(s, messages[0]!), code('duplicate_message'));
  const newest = s.skipped[s.skipped.length - 1]!.counter;
  assert.equal(fromUtf8(decryptGroupMessage(s, messages[newest]!).plaintext), String(newest));
});

test('a failed decryption leaves the receiving chain exactly as it was', () => {
  const keys = fresh();
  const { messages } = sendAll(keys.ours.alice!, ['a', 'b', 'c']);
  const s = keys.theirs.bob!.alice!;
  // A chain that disagrees with the sender's (same signature key): signature passes, AEAD fails.
  const wrongChain: TheirSenderKey = { ...s, chainKey: random(32) };
  const before = snapshot(wrongChain);
  assert.throws(() => decryptGroupMessage(wrongChain, messages[2]!), code('decrypt_failed'));
  assert.equal(snapshot(wrongChain), before);
  const tampered = messages[0]!.slice();
  tampered[tampered.length - 70]! ^= 1; // a ciphertext byte
  assert.throws(() => decryptGroupMessage(s, tampered), code('bad_signature'));
  assert.equal(fromUtf8(decryptGroupMessage(s, messages[0]!).plaintext), 'a');
});

test('a message is refused by the chain of another group, epoch or sender', () => {
  const keys = fresh();
  const { message } = encryptGroupMessage(keys.ours.alice!, utf8('x'));
  const bobsAlice = keys.theirs.bob!.alice!;
  assert.throws(() => decryptGroupMessage({ ...bobsAlice, groupId: random(32) }, message), code('wrong_group'));
  assert.throws(() => decryptGroupMessage({ ...bobsAlice, epoch: 7 }, message), code('wrong_epoch'));
  assert.throws(() => decryptGroupMessage(keys.theirs.bob!.carol!, message), code('invalid_argument'));
});

test('a message sent on another history of the same epoch is refused as a fork before any key is used', () => {
  const a = proposeChange(group, alice, { op: 'rename', name: 'history a' }).state;
  const b = proposeChange(group, alice, { op: 'rename', name: 'history b' }).state;
  const onA = distributeKeys(a, P, random);
  const { message } = encryptGroupMessage(onA.ours.bob!, utf8('from history a'));
  const h = peekGroupMessage(message);
  assert.equal(toHex(h.transcript), toHex(a.transcript));
  // Carol applied history b; even holding bob's chain (a hostile relay cannot give her more) the
  // transcript check refuses it, and leaves the chain unmoved.
  const carolsBob = { ...onA.theirs.carol!.bob!, transcript: b.transcript };
  const before = snapshot(carolsBob);
  assert.throws(() => decryptGroupMessage(carolsBob, message), code('fork'));
  assert.equal(snapshot(carolsBob), before);
  // The transcript is in the AD as well: rewriting the header's transcript breaks the signature.
  const relabelled = message.slice();
  relabelled.set(b.transcript, 2 + 32 + 4);
  assert.throws(() => decryptGroupMessage(carolsBob, relabelled), code('bad_signature'));
});

test('after carol is removed her old-epoch keys cannot decrypt the new epoch\'s messages', () => {
  const old = fresh();
  const next = proposeChange(group, alice, { op: 'remove', users: ['carol'] }).state;
  const keys = distributeKeys(next, P, random);
  assert.equal(keys.ours.carol, undefined);
  assert.throws(() => createSenderKey(next, 'carol', random), code('invalid_argument'));
  const { message } = encryptGroupMessage(keys.ours.alice!, utf8('after carol left'));
  assert.equal(fromUtf8(decryptGroupMessage(keys.theirs.bob!.alice!, message).plaintext), 'after carol left');
  const carolsAlice = old.theirs.carol!.alice!;
  assert.throws(() => decryptGroupMessage(carolsAlice, message), code('wrong_epoch'));
  // Relabelling her old chain with the new epoch does not help: the keys themselves are new.
  assert.throws(() => decryptGroupMessage({ ...carolsAlice, epoch: next.epoch }, message), code('fork'));
  assert.throws(() => decryptGroupMessage({ ...carolsAlice, epoch: next.epoch, transcript: next.transcript }, message), code('bad_signature'));
  const withNewSigner = { ...carolsAlice, epoch: next.epoch, transcript: next.transcript, signPublic: keys.ours.alice!.signPublic };
  assert.throws(() => decryptGroupMessage(withNewSigner, message), code('decrypt_failed'));
});

test('an exhausted sender chain refuses to wrap its counter', () => {
  const keys = fresh();
  assert.throws(() => encryptGroupMessage({ ...keys.ours.alice!, counter: 0xffffffff }, utf8('x')), code('invalid_argument'));
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
          assert.throws(() => decryptGroupMessage(s, messages[i]!), code('duplicate_message'));
          continue;
        }
        const r = decryptGroupMessage(s, messages[i]!);
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
      for (const f of [() => peekGroupMessage(bytes), () => decryptGroupMessage(s, bytes)]) {
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
