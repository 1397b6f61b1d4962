import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumReady } from '../sodium.js';
import { seededRandom } from '../../scripts/vectors/seeded.js';
import { concat, toHex } from '../encoding.js';
import { isCryptoError, type CryptoErrorCode } from '../errors.js';
import { GROUP_MAX_SKIPPED_KEYS, GROUP_VERSION } from '../consts.js';
import { kdfCk } from '../ratchet.js';
import { proposeChange } from './membership.js';
import {
  acceptSenderKeyDistribution,
  createSenderKey,
  encodeOurSenderKey,
  encodeSenderKeyDistribution,
  encodeTheirSenderKey,
  groupChainStep,
  parseOurSenderKey,
  parseSenderKeyDistribution,
  parseTheirSenderKey,
  senderKeyDistribution,
  type TheirSenderKey,
} from './sender-keys.js';
import { newGroup, people } from './test-helpers.js';

await sodiumReady();
const random = seededRandom('group sender key tests');
const { alice, bob, carol, mallory } = people(['alice', 'bob', 'carol', 'mallory'], random);
const group = newGroup(alice, [bob, carol], random).state;

function code(c: CryptoErrorCode) {
  return (e: unknown) => isCryptoError(e, c);
}

test('a distribution round-trips and becomes a receiving chain at the sender\'s position', () => {
  const ours = createSenderKey(group, 'alice', random);
  const bytes = encodeSenderKeyDistribution(senderKeyDistribution(ours, group));
  assert.equal(toHex(encodeSenderKeyDistribution(parseSenderKeyDistribution(bytes))), toHex(bytes));
  const theirs = acceptSenderKeyDistribution(group, alice.member, bytes);
  assert.equal(theirs.sender, 'alice');
  assert.equal(theirs.counter, 0);
  assert.equal(toHex(theirs.chainKey), toHex(ours.chainKey));
  assert.equal(toHex(theirs.signPublic), toHex(ours.signPublic));
  assert.equal(theirs.skipped.length, 0);
});

test('a member cannot hand out a sender key in another member\'s name', () => {
  const bobs = createSenderKey(group, 'bob', random);
  const bytes = encodeSenderKeyDistribution(senderKeyDistribution(bobs, group));
  // Arrives over carol's pairwise session but says it is bob's.
  assert.throws(() => acceptSenderKeyDistribution(group, carol.member, bytes), code('not_authorized'));
  // Says bob, comes from a session whose identity is not the one the group lists for bob.
  assert.throws(() => acceptSenderKeyDistribution(group, { user: 'bob', signPublic: mallory.identity.signPublic }, bytes), code('not_authorized'));
});

test('a stranger\'s sender key is refused', () => {
  const withMallory = proposeChange(group, alice, { op: 'add', members: [mallory.member] }).state;
  const theirKey = createSenderKey(withMallory, 'mallory', random);
  const bytes = encodeSenderKeyDistribution({ ...senderKeyDistribution(theirKey, withMallory), epoch: group.epoch, transcript: group.transcript, keyEpoch: group.epoch });
  assert.throws(() => acceptSenderKeyDistribution(group, mallory.member, bytes), code('not_authorized'));
  assert.throws(() => createSenderKey(group, 'mallory', random), code('invalid_argument'));
});

test('a sender key for another group or another epoch is refused', () => {
  const other = newGroup(alice, [bob], random).state;
  const foreign = encodeSenderKeyDistribution(senderKeyDistribution(createSenderKey(other, 'alice', random), other));
  assert.throws(() => acceptSenderKeyDistribution(group, alice.member, foreign), code('wrong_group'));
  const next = proposeChange(group, alice, { op: 'rename', name: 'next' }).state;
  const newer = encodeSenderKeyDistribution(senderKeyDistribution(createSenderKey(next, 'alice', random), next));
  assert.throws(() => acceptSenderKeyDistribution(group, alice.member, newer), code('wrong_epoch'));
});

test('a key outlives an add, a promotion and a rename, and is shared on the later state with its own epoch', () => {
  const ours = createSenderKey(group, 'alice', random);
  let s = proposeChange(group, alice, { op: 'add', members: [mallory.member] }).state;
  s = proposeChange(s, alice, { op: 'promote', users: ['bob'] }).state;
  s = proposeChange(s, bob, { op: 'rename', name: 'later' }).state;
  assert.equal(s.keyFloor, 0);
  const d = senderKeyDistribution({ ...ours, counter: 0 }, s);
  assert.deepEqual([d.epoch, d.keyEpoch], [3, 0]);
  // The newcomer takes it on the state it joined into.
  const theirs = acceptSenderKeyDistribution(s, alice.member, encodeSenderKeyDistribution(d));
  assert.deepEqual([theirs.epoch, theirs.sender], [0, 'alice']);
});

test('after a removal or a departure a key made before it is refused as stale_key, shared or used', () => {
  const ours = createSenderKey(group, 'alice', random);
  const removed = proposeChange(group, alice, { op: 'remove', users: ['carol'] }).state;
  assert.equal(removed.keyFloor, 1);
  // A sender that never made a new key cannot even share the old one on the new state.
  assert.throws(() => senderKeyDistribution(ours, removed), code('stale_key'));
  const forged = encodeSenderKeyDistribution({ ...senderKeyDistribution(ours, group), epoch: removed.epoch, transcript: removed.transcript });
  assert.throws(() => acceptSenderKeyDistribution(removed, alice.member, forged), code('stale_key'));
  const bobs = createSenderKey(group, 'bob', random);
  const left = proposeChange(proposeChange(removed, alice, { op: 'add', members: [mallory.member] }).state, mallory, { op: 'leave' }).state;
  assert.equal(left.keyFloor, 3);
  const beforeLeave = encodeSenderKeyDistribution({ ...senderKeyDistribution(bobs, group), epoch: left.epoch, transcript: left.transcript, keyEpoch: 2 });
  assert.throws(() => acceptSenderKeyDistribution(left, bob.member, beforeLeave), code('stale_key'));
  // A key claiming an epoch after the one it is shared on is refused too.
  const future = encodeSenderKeyDistribution({ ...senderKeyDistribution(bobs, group), keyEpoch: 5 });
  assert.throws(() => acceptSenderKeyDistribution(group, bob.member, future), code('stale_key'));
  // A new key made after the removal is fine.
  const fresh = createSenderKey(removed, 'alice', random);
  assert.equal(acceptSenderKeyDistribution(removed, alice.member, encodeSenderKeyDistribution(senderKeyDistribution(fresh, removed))).epoch, 1);
});

test('a sender key made on another history of the same epoch is refused as a fork', () => {
  const s = proposeChange(group, alice, { op: 'promote', users: ['bob'] }).state; // alice and bob admins
  // Alice shows bob one change and carol another: both are epoch 2, signed and valid.
  const toBob = proposeChange(s, alice, { op: 'rename', name: 'for bob' }).state;
  const toCarol = proposeChange(s, alice, { op: 'rename', name: 'for carol' }).state;
  const bobs = encodeSenderKeyDistribution(senderKeyDistribution(createSenderKey(toBob, 'bob', random), toBob));
  assert.throws(() => acceptSenderKeyDistribution(toCarol, bob.member, bobs), code('fork'));
  assert.equal(acceptSenderKeyDistribution(toBob, bob.member, bobs).sender, 'bob');
});

test('the sender chain uses its own labels: it never yields the pairwise ratchet\'s keys', () => {
  const ck = random(32);
  const [nextGroup, mkGroup] = groupChainStep(ck);
  const [nextPair, mkPair] = kdfCk(ck);
  assert.notEqual(toHex(nextGroup), toHex(nextPair));
  assert.notEqual(toHex(mkGroup), toHex(mkPair));
  assert.notEqual(toHex(nextGroup), toHex(mkGroup));
});

test('fresh sender keys differ per member and per epoch', () => {
  const a = createSenderKey(group, 'alice', random);
  const b = createSenderKey(group, 'alice', random);
  assert.notEqual(toHex(a.chainKey), toHex(b.chainKey));
  assert.notEqual(toHex(a.signPublic), toHex(b.signPublic));
});

test('our sender key round-trips and a spliced signing key is refused', () => {
  const ours = createSenderKey(group, 'bob', random);
  const bytes = encodeOurSenderKey(ours);
  assert.equal(toHex(encodeOurSenderKey(parseOurSenderKey(bytes))), toHex(bytes));
  const spliced = encodeOurSenderKey({ ...ours, signPublic: mallory.identity.signPublic });
  assert.throws(() => parseOurSenderKey(spliced), code('malformed'));
  for (const version of [1, 2]) {
    const old = bytes.slice();
    old[0] = version; // group formats 1 and 2
    assert.throws(() => parseOurSenderKey(old), code('unsupported_version'));
  }
});

test('their sender key refuses skipped keys out of order, at or past the chain position, or too many', () => {
  const k = createSenderKey(group, 'carol', random);
  const base: TheirSenderKey = { groupId: k.groupId, epoch: k.epoch, sender: k.sender, chainKey: k.chainKey, signPublic: k.signPublic, counter: 10, skipped: [] };
  const mk = random(32);
  const ok = encodeTheirSenderKey({ ...base, skipped: [{ counter: 2, messageKey: mk }, { counter: 5, messageKey: mk }] });
  assert.equal(parseTheirSenderKey(ok).skipped.length, 2);
  for (const skipped of [
    [{ counter: 5, messageKey: mk }, { counter: 2, messageKey: mk }],
    [{ counter: 5, messageKey: mk }, { counter: 5, messageKey: mk }],
    [{ counter: 10, messageKey: mk }],
  ]) {
    assert.throws(() => parseTheirSenderKey(encodeTheirSenderKey({ ...base, skipped })), code('malformed'));
  }
  const tooMany = concat(encodeTheirSenderKey(base).slice(0, -2), Uint8Array.of((GROUP_MAX_SKIPPED_KEYS + 1) >> 8, (GROUP_MAX_SKIPPED_KEYS + 1) & 0xff));
  assert.throws(() => parseTheirSenderKey(tooMany), code('malformed'));
});

test('property: sender key states and distributions round-trip through encode and parse', () => {
  const user = fc.stringMatching(/^[a-z0-9_]{3,32}$/);
  const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
  fc.assert(
    fc.property(key32, fc.integer({ min: 0, max: 0xffffffff }), user, fc.integer({ min: 1, max: 0xffffffff }), key32, key32, fc.uniqueArray(fc.nat(), { maxLength: 20 }), (groupId, epoch, sender, counter, chainKey, signPublic, skippedCounters) => {
      const d = { groupId, epoch, transcript: signPublic.slice().reverse(), sender, keyEpoch: epoch >>> 1, counter, chainKey, signPublic };
      const db = encodeSenderKeyDistribution(d);
      assert.equal(toHex(encodeSenderKeyDistribution(parseSenderKeyDistribution(db))), toHex(db));
      const skipped = skippedCounters.map((c) => c % counter).filter((c, i, a) => a.indexOf(c) === i).sort((a, b) => a - b).map((c) => ({ counter: c, messageKey: chainKey }));
      const tb = encodeTheirSenderKey({ groupId, epoch, sender, counter, chainKey, signPublic, skipped });
      assert.equal(toHex(encodeTheirSenderKey(parseTheirSenderKey(tb))), toHex(tb));
    }),
    { numRuns: 300 },
  );
});

test('property: sender key parsers on random bytes throw only CryptoError', () => {
  const prefixed = fc.uint8Array({ maxLength: 200 }).map((b) => concat(Uint8Array.of(GROUP_VERSION, 0x32 + ((b[0] ?? 0) % 4)), b));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), prefixed), (bytes) => {
      for (const f of [
        () => parseSenderKeyDistribution(bytes),
        () => parseOurSenderKey(bytes),
        () => parseTheirSenderKey(bytes),
        () => acceptSenderKeyDistribution(group, alice.member, bytes),
      ]) {
        try {
          f();
        } catch (e) {
          assert.ok(isCryptoError(e), String(e));
        }
      }
    }),
    { numRuns: 1000 },
  );
});
