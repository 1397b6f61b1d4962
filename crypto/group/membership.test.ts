import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumReady } from '../sodium.js';
import { seededRandom } from '../../scripts/vectors/seeded.js';
import { concat, equalBytes, toHex, u8 } from '../encoding.js';
import { isCryptoError, type CryptoErrorCode } from '../errors.js';
import { GROUP_NAME_MAX_BYTES, GROUP_VERSION } from '../consts.js';
import {
  applyChange,
  createGroup,
  deriveGroupId,
  encodeGroupState,
  groupStateHash,
  isAdmin,
  isMember,
  parseGroupChange,
  parseGroupState,
  preferSibling,
  proposeChange,
  replayChanges,
  signGroupChange,
  transcriptLink,
  type GroupState,
} from './membership.js';
import { isValidGroupName } from './wire.js';
import { newGroup, people } from './test-helpers.js';

await sodiumReady();
const random = seededRandom('group membership tests');
const P = people(['alice', 'bob', 'carol', 'dave', 'mallory'], random);
const { alice, bob, carol, dave, mallory } = P;

function code(c: CryptoErrorCode) {
  return (e: unknown) => isCryptoError(e, c);
}

/** alice creates {alice, bob}, adds carol and dave, promotes bob; bob renames, removes dave; carol leaves. */
function history(): { states: GroupState[]; records: Uint8Array[] } {
  const g = newGroup(alice, [bob], random);
  const states = [g.state];
  const records = [g.record];
  const steps: [typeof alice, Parameters<typeof proposeChange>[2]][] = [
    [alice, { op: 'add', members: [carol.member, dave.member] }],
    [alice, { op: 'promote', users: ['bob'] }],
    [bob, { op: 'rename', name: 'best friends' }],
    [bob, { op: 'remove', users: ['dave'] }],
    [carol, { op: 'leave' }],
  ];
  for (const [author, change] of steps) {
    const next = proposeChange(states[states.length - 1]!, author, change);
    states.push(next.state);
    records.push(next.record);
  }
  return { states, records };
}

const H = history();
const last = (): GroupState => H.states[H.states.length - 1]!;

test('a create, add, promote, rename, remove and leave chain verifies for every member replaying it', () => {
  let held: GroupState | null = null;
  for (let i = 0; i < H.records.length; i++) {
    held = applyChange(held, H.records[i]!);
    assert.equal(held.epoch, i);
    assert.equal(toHex(encodeGroupState(held)), toHex(encodeGroupState(H.states[i]!)));
  }
  const s = last();
  assert.deepEqual(s.members.map((m) => m.user), ['alice', 'bob']);
  assert.deepEqual(s.admins, ['alice', 'bob']);
  assert.equal(s.name, 'best friends');
  assert.equal(toHex(encodeGroupState(replayChanges(H.records))), toHex(encodeGroupState(s)));
});

test('each state links to the hash of the one before it, and the genesis link is all zeros', () => {
  assert.ok(H.states[0]!.prevHash.every((b) => b === 0));
  for (let i = 1; i < H.states.length; i++) {
    assert.equal(toHex(H.states[i]!.prevHash), toHex(groupStateHash(H.states[i - 1]!)));
    assert.equal(toHex(parseGroupChange(H.records[i]!).prevHash), toHex(groupStateHash(H.states[i - 1]!)));
  }
});

test('the creator is the only admin and the members are the ones named', () => {
  const s = H.states[0]!;
  assert.deepEqual(s.admins, ['alice']);
  assert.ok(isMember(s, 'bob') && !isAdmin(s, 'bob') && !isMember(s, 'carol'));
});

test('a non-admin adding someone is rejected and the state does not change', () => {
  const held = H.states[1]!; // bob is a member, not yet an admin
  const before = toHex(encodeGroupState(held));
  const record = signGroupChange(bob, { groupId: held.groupId, epoch: held.epoch + 1, prevHash: groupStateHash(held), change: { op: 'add', members: [mallory.member] } });
  assert.throws(() => applyChange(held, record), code('not_authorized'));
  assert.throws(() => proposeChange(held, bob, { op: 'add', members: [mallory.member] }), code('not_authorized'));
  assert.equal(toHex(encodeGroupState(held)), before);
});

test('non-admins may not remove, promote or rename either', () => {
  const held = H.states[1]!;
  assert.throws(() => proposeChange(held, carol, { op: 'remove', users: ['dave'] }), code('not_authorized'));
  assert.throws(() => proposeChange(held, carol, { op: 'promote', users: ['carol'] }), code('not_authorized'));
  assert.throws(() => proposeChange(held, carol, { op: 'rename', name: 'mine' }), code('not_authorized'));
});

test('a record from someone who is not a member is rejected, even when correctly signed', () => {
  const held = H.states[1]!;
  assert.throws(() => proposeChange(held, mallory, { op: 'add', members: [mallory.member] }), code('not_authorized'));
  // A removed member's signature stops counting with the record that removed them.
  const afterRemove = H.states[4]!;
  assert.throws(() => proposeChange(afterRemove, dave, { op: 'leave' }), code('not_authorized'));
});

test('a forged signature is rejected: a flipped bit, or a relay signing in an admin\'s name', () => {
  const held = H.states[0]!;
  const good = H.records[1]!;
  const flipped = good.slice();
  flipped[flipped.length - 1]! ^= 1;
  assert.throws(() => applyChange(held, flipped), code('bad_signature'));
  const forged = signGroupChange({ user: 'alice', identity: mallory.identity }, { groupId: held.groupId, epoch: 1, prevHash: groupStateHash(held), change: { op: 'add', members: [mallory.member] } });
  assert.throws(() => applyChange(held, forged), code('bad_signature'));
  assert.equal(isMember(held, 'mallory'), false);
});

test('a forged create record is rejected', () => {
  const g = newGroup(alice, [bob], random);
  const forged = g.record.slice();
  forged[forged.length - 10]! ^= 0x40;
  assert.throws(() => applyChange(null, forged), code('bad_signature'));
  const fake = signGroupChange({ user: 'alice', identity: mallory.identity }, { groupId: g.state.groupId, epoch: 0, prevHash: new Uint8Array(32), change: { op: 'create', salt: random(32), name: 'x', members: [alice.member, bob.member] } });
  assert.throws(() => applyChange(null, fake), code('bad_signature'));
});

test('a replayed old record is rejected and the state does not change', () => {
  const held = last();
  const before = toHex(encodeGroupState(held));
  for (let i = 0; i < H.records.length; i++) {
    assert.throws(() => applyChange(held, H.records[i]!), code('wrong_epoch'), `record ${i}`);
  }
  assert.equal(toHex(encodeGroupState(held)), before);
});

test('a record that skips an epoch is rejected', () => {
  assert.throws(() => applyChange(H.states[0]!, H.records[2]!), code('wrong_epoch'));
});

test('a record for another group is rejected', () => {
  const other = newGroup(alice, [bob], random).state;
  const forOther = proposeChange(other, alice, { op: 'add', members: [carol.member] }).record;
  assert.throws(() => applyChange(H.states[0]!, forOther), code('wrong_group'));
});

test('a record on a forked history (wrong previous hash) is rejected', () => {
  const held = H.states[1]!;
  const fork = signGroupChange(alice, { groupId: held.groupId, epoch: held.epoch + 1, prevHash: random(32), change: { op: 'rename', name: 'fork' } });
  assert.throws(() => applyChange(held, fork), code('broken_chain'));
  // Two admins racing on one epoch: the second record no longer follows the state.
  const s = H.states[2]!; // alice and bob are admins
  const a = proposeChange(s, alice, { op: 'rename', name: 'a' });
  const b = proposeChange(s, bob, { op: 'rename', name: 'b' });
  const next = applyChange(s, a.record);
  assert.throws(() => applyChange(next, b.record), code('wrong_epoch'));
});

test('a create record for a known group id by anyone but its creator is refused (no squatting)', () => {
  const real = newGroup(alice, [bob, carol], random);
  // Mallory learned the id (every member and the relay see it) and signs her own create for it,
  // naming bob so that bob would accept it from her session.
  const squat = signGroupChange(mallory, {
    groupId: real.state.groupId,
    epoch: 0,
    prevHash: new Uint8Array(32),
    change: { op: 'create', salt: random(32), name: 'friends', members: [bob.member, mallory.member] },
  });
  assert.throws(() => applyChange(null, squat), code('not_authorized'));
  // Nor can she reuse alice's salt: the id is derived from the creator's key as well.
  const salt = (parseGroupChange(real.record).change as { salt: Uint8Array }).salt;
  const withSalt = signGroupChange(mallory, { groupId: real.state.groupId, epoch: 0, prevHash: new Uint8Array(32), change: { op: 'create', salt, name: 'friends', members: [bob.member, mallory.member] } });
  assert.throws(() => applyChange(null, withSalt), code('not_authorized'));
  assert.ok(equalBytes(real.state.groupId, deriveGroupId('alice', alice.identity.signPublic, salt)));
  assert.ok(equalBytes(applyChange(null, real.record).groupId, real.state.groupId));
});

test('the transcript commits to every record body, so two changes to one state never share it', () => {
  const s = H.states[2]!;
  const a = proposeChange(s, alice, { op: 'rename', name: 'same' });
  const b = proposeChange(s, bob, { op: 'rename', name: 'same' });
  // Same name, members and admins: only the author differs, and the transcripts tell them apart.
  assert.deepEqual(a.state.members, b.state.members);
  assert.notEqual(toHex(a.state.transcript), toHex(b.state.transcript));
  assert.notEqual(toHex(groupStateHash(a.state)), toHex(groupStateHash(b.state)));
  assert.equal(toHex(a.state.transcript), toHex(transcriptLink(s.transcript, parseGroupChange(a.record).signed)));
  // A re-signed body (the signature is not part of the transcript) gives the same transcript.
  for (let i = 1; i < H.states.length; i++) assert.equal(toHex(H.states[i]!.transcript), toHex(transcriptLink(H.states[i - 1]!.transcript, parseGroupChange(H.records[i]!).signed)));
});

test('of two concurrent changes every member keeps the same one, whichever it applied first', () => {
  const s = H.states[2]!;
  const a = proposeChange(s, alice, { op: 'remove', users: ['dave'] });
  const b = proposeChange(s, bob, { op: 'rename', name: 'b' });
  const winner = preferSibling(a.state, b.state) ? b : a;
  assert.equal(preferSibling(b.state, a.state), winner === a);
  assert.equal(preferSibling(winner.state, winner === a ? b.state : a.state), false);
  assert.throws(() => preferSibling(s, a.state), code('invalid_argument'));
});

test('changes that do not apply are refused as invalid_change', () => {
  const s = H.states[2]!; // alice, bob (admin), carol, dave
  const cases: [typeof alice, Parameters<typeof proposeChange>[2]][] = [
    [alice, { op: 'add', members: [bob.member] }],
    [alice, { op: 'remove', users: ['mallory'] }],
    [alice, { op: 'remove', users: ['alice'] }],
    [alice, { op: 'promote', users: ['bob'] }],
    [alice, { op: 'promote', users: ['mallory'] }],
    [alice, { op: 'create', salt: random(32), name: 'again', members: [alice.member] }],
  ];
  for (const [author, change] of cases) assert.throws(() => proposeChange(s, author, change), code('invalid_change'), change.op);
  const solo = H.states[1]!; // alice is the only admin of four members
  assert.throws(() => proposeChange(solo, alice, { op: 'leave' }), code('invalid_change'));
  assert.throws(() => applyChange(null, H.records[1]!), code('invalid_change'));
});

test('a member may leave, and the last member leaving empties the group', () => {
  const g = newGroup(alice, [], random);
  const empty = proposeChange(g.state, alice, { op: 'leave' }).state;
  assert.equal(empty.members.length, 0);
  assert.equal(empty.admins.length, 0);
  assert.throws(() => proposeChange(empty, alice, { op: 'rename', name: 'back' }), code('not_authorized'));
});

test('a leave signed by someone else than the leaver is rejected', () => {
  const held = H.states[4]!;
  const forged = signGroupChange({ user: 'carol', identity: bob.identity }, { groupId: held.groupId, epoch: held.epoch + 1, prevHash: groupStateHash(held), change: { op: 'leave' } });
  assert.throws(() => applyChange(held, forged), code('bad_signature'));
});

test('group names refuse control and bidi characters, empty and oversized names', () => {
  assert.ok(isValidGroupName('rust fans 🦀'));
  for (const bad of ['', 'a\u001b[2J', 'tab\there', 'x\u202edcba', 'a'.repeat(GROUP_NAME_MAX_BYTES + 1), '\ud800']) {
    assert.equal(isValidGroupName(bad), false, JSON.stringify(bad));
  }
  assert.throws(() => createGroup(alice, 'evil\u001b]0;x\u0007', [], random), code('invalid_argument'));
});

test('every single-byte change to a valid record is refused with a typed error', () => {
  const held = H.states[0]!;
  const record = H.records[1]!;
  for (let i = 0; i < record.length; i++) {
    const bad = record.slice();
    bad[i]! ^= 0x01;
    assert.throws(() => applyChange(held, bad), (e) => isCryptoError(e), `byte ${i}`);
  }
  assert.throws(() => applyChange(held, concat(record, u8(0))), code('malformed'));
  assert.throws(() => applyChange(held, record.slice(0, -1)), code('malformed'));
});

test('the state encoding round-trips and refuses other versions and tags first', () => {
  for (const s of H.states) assert.equal(toHex(encodeGroupState(parseGroupState(encodeGroupState(s)))), toHex(encodeGroupState(s)));
  const bytes = encodeGroupState(last());
  const v2 = bytes.slice();
  v2[0] = 1; // group format 1 (before transcripts)
  assert.throws(() => parseGroupState(v2), code('unsupported_version'));
  const tag = bytes.slice();
  tag[1] = 0x30;
  assert.throws(() => parseGroupState(tag), code('malformed'));
});

test('property: random group states round-trip through encode and parse', () => {
  const user = fc.stringMatching(/^[a-z0-9_]{3,12}$/);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.record({ user, key: fc.uint8Array({ minLength: 32, maxLength: 32 }), admin: fc.boolean() }), { selector: (m) => m.user, maxLength: 12 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.string({ minLength: 1, maxLength: 40 }).filter(isValidGroupName),
      (ms, id, epoch, name) => {
        const s: GroupState = {
          groupId: id,
          name,
          epoch,
          prevHash: id.slice().reverse(),
          transcript: id.map((b) => b ^ 0x5a),
          members: ms.map((m) => ({ user: m.user, signPublic: m.key })).sort((a, b) => (a.user < b.user ? -1 : 1)),
          admins: ms.filter((m) => m.admin).map((m) => m.user).sort(),
        };
        const back = parseGroupState(encodeGroupState(s));
        assert.equal(toHex(encodeGroupState(back)), toHex(encodeGroupState(s)));
        assert.equal(back.name, name);
        assert.ok(equalBytes(groupStateHash(back), groupStateHash(s)));
      },
    ),
    { numRuns: 200 },
  );
});

test('property: parsers and applyChange on random bytes throw only CryptoError', () => {
  const held = H.states[1]!;
  const prefixed = fc.uint8Array({ maxLength: 300 }).map((b) => concat(Uint8Array.of(GROUP_VERSION, 0x30 + (b[0] ?? 0) % 2), b));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), prefixed), (bytes) => {
      for (const f of [() => parseGroupState(bytes), () => parseGroupChange(bytes), () => applyChange(null, bytes), () => applyChange(held, bytes)]) {
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
