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
  const bytes = encodeSenderKeyDistribution(senderKeyDistribution(ours));
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
  const bytes = encodeSenderKeyDistribution(senderKeyDistribution(bobs));
  // Arrives over carol's pairwise session but says it is bob's.
  assert.throws(() => acceptSenderKeyDistribution(group, carol.member, bytes), code('not_authorized'));
  // Says bob, comes from a session whose identity is not the one the group lists for bob.
  assert.throws(() => acceptSenderKeyDistribution(group, { user: 'bob', signPublic: mallory.identity.signPublic }, bytes), code('not_authorized'));
});

test('a stranger\'s sender key is refused', () => {
  const withMallory = proposeChange(group, alice, { op: 'add', members: [mallory.member] }).state;
  const theirKey = createSenderKey(withMallory, 'mallory', random);
  const bytes = encodeSenderKeyDistribution(senderKeyDistribution({ ...theirKey, epoch: group.epoch, transcript: group.transcript }));
  assert.throws(() => acceptSenderKeyDistribution(group, mallory.member, bytes), code('not_authorized'));
  assert.throws(() => createSenderKey(group, 'mallory', random), code('invalid_argument'));
});

test('a sender key for another group or another epoch is refused', () => {
  const other = newGroup(alice, [bob], random).state;
  const foreign = encodeSenderKeyDistribution(senderKeyDistribution(createSenderKey(other, 'alice', random)));
  assert.throws(() => acceptSenderKeyDistribution(group, alice.member, foreign), code('wrong_group'));
  const next = proposeChange(group, alice, { op: 'rename', name: 'next' }).state;
  const newer = encodeSenderKeyDistribution(senderKeyDistribution(createSenderKey(next, 'alice', random)));
  assert.throws(() => acceptSenderKeyDistribution(group, alice.member, newer), code('wrong_epoch'));
});

test('a sender key made on another history of the same epoch is refused as a fork', () => {
  const s = proposeChange(group, alice, { op: 'promote', users: ['bob'] }).state; // alice and bob admins
  // Alice shows bob one change and carol another: both are epoch 2, signed and valid.
  const toBob = proposeChange(s, alice, { op: 'rename', name: 'for bob' }).state;
  const toCarol = proposeChange(s, alice, { op: 'rename', name: 'for carol' }).state;
  const bobs = encodeSenderKeyDistribution(senderKeyDistribution(createSenderKey(toBob, 'bob', random)));
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
  const v2 = bytes.slice();
  v2[0] = 1; // group format 1
  assert.throws(() => parseOurSenderKey(v2), code('unsupported_version'));
});

test('their sender key refuses skipped keys out of order, at or past the chain position, or too many', () => {
  const base: TheirSenderKey = { ...senderKeyDistribution(createSenderKey(group, 'carol', random)), counter: 10, skipped: [] };
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
      const d = { groupId, epoch, transcript: signPublic.slice().reverse(), sender, counter, chainKey, signPublic };
      const db = encodeSenderKeyDistribution(d);
      assert.equal(toHex(encodeSenderKeyDistribution(parseSenderKeyDistribution(db))), toHex(db));
      const skipped = skippedCounters.map((c) => c % counter).filter((c, i, a) => a.indexOf(c) === i).sort((a, b) => a - b).map((c) => ({ counter: c, messageKey: chainKey }));
      const tb = encodeTheirSenderKey({ ...d, skipped });
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
