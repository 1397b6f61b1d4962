// Group cases: what one member (bob, never an admin) does with what arrives for a group, in order —
// change records (G.4), sender-key distributions over the pairwise session with a named member
// (G.5) and group messages (G.6) — each with the outcome it must have; a refusal leaves the state
// and every chain as they were. Members come from fixed seeds; their public keys are shared.
import { concat, utf8 } from '../../crypto/encoding.js';
import {
  createGroup,
  createSenderKey,
  encodeGroupState,
  encodeSenderKeyDistribution,
  encryptGroupMessage,
  proposeChange,
  senderKeyDistribution,
  signGroupChange,
  groupStateHash,
  peekGroupMessage,
  type GroupOp,
  type GroupState,
  type OurSenderKey,
} from '../../crypto/group/index.js';
import { person, type Person } from '../../crypto/group/test-helpers.js';
import type { RandomBytes } from '../../crypto/sodium.js';
import { seededRandom } from '../vectors/seeded.js';
import type { Case } from './index.js';

type Step =
  | { record: Uint8Array; expect: 'accept' | 'refuse'; error?: string }
  | { distribution: Uint8Array; from: string; expect: 'accept' | 'refuse'; error?: string }
  | { message: Uint8Array; expect: 'accept' | 'refuse'; plaintext?: Uint8Array; error?: string };

const USERS = ['alice', 'bob', 'carol', 'dave', 'mallory'] as const;
type User = (typeof USERS)[number];

/** A sender's key and the randomness its messages draw their salts from. */
class Sender {
  constructor(
    public key: OurSenderKey,
    private readonly random: RandomBytes,
  ) {}

  share(at: GroupState): Uint8Array {
    return encodeSenderKeyDistribution(senderKeyDistribution(this.key, at));
  }

  send(at: GroupState, text: string): Uint8Array {
    const r = encryptGroupMessage(this.key, at, utf8(text), this.random);
    this.key = r.state;
    return r.message;
  }
}

const ok = (text: string, message: Uint8Array): Step => ({ message, expect: 'accept', plaintext: utf8(text) });
const refused = (error: string, message: Uint8Array): Step => ({ message, expect: 'refuse', error });
const record = (r: Uint8Array, error?: string): Step => (error ? { record: r, expect: 'refuse', error } : { record: r, expect: 'accept' });
const key = (from: string, distribution: Uint8Array, error?: string): Step => (error ? { distribution, from, expect: 'refuse', error } : { distribution, from, expect: 'accept' });

/**
 * One case: a group alice made with bob and carol (its create record is the first step of every
 * case), then `build`'s steps. `final` is the state bob must end on.
 */
function run(name: string, about: string, build: (g: { P: Record<User, Person>; created: GroupState; createRecord: Uint8Array; random: RandomBytes }) => { steps: Step[]; final: GroupState }): Case {
  const random = seededRandom(`conformance/groups/${name}`);
  const P = Object.fromEntries(USERS.map((u) => [u, person(u, seededRandom(`conformance/groups/${u}`))])) as Record<User, Person>;
  const { state: created, record: createRecord } = createGroup(P.alice, 'conformance', [P.bob.member, P.carol.member], random);
  const { steps, final } = build({ P, created, createRecord, random });
  return { name, about, input: { steps: [record(createRecord), ...steps] }, expect: 'sequence', output: { state: encodeGroupState(final), stateHash: groupStateHash(final) } };
}

const change = (state: GroupState, author: Person, op: GroupOp): { state: GroupState; record: Uint8Array } => proposeChange(state, author, op);

export function groupCases(): { shared: Record<string, unknown>; cases: Case[] } {
  const members = Object.fromEntries(USERS.map((u) => [u, person(u, seededRandom(`conformance/groups/${u}`)).member.signPublic]));
  return {
    shared: { receiver: 'bob', members },
    cases: [
      run('messages_in_order_and_replay', 'a key shared, two messages in order, then the first again: duplicate_message (G.6 step 4)', ({ created, random }) => {
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        const d = alice.share(created);
        const m = [alice.send(created, 'one'), alice.send(created, 'two')];
        return { steps: [key('alice', d), ok('one', m[0]!), ok('two', m[1]!), refused('duplicate_message', m[0]!)], final: created };
      }),
      run('reordered_messages', 'a later message first: the skipped key opens the earlier one once (G.6 step 4)', ({ created, random }) => {
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        const d = alice.share(created);
        const m = [alice.send(created, 'a'), alice.send(created, 'b'), alice.send(created, 'c')];
        return { steps: [key('alice', d), ok('c', m[2]!), ok('a', m[0]!), ok('b', m[1]!), refused('duplicate_message', m[0]!)], final: created };
      }),
      run('forged_author', 'an add signed by a member who is not an admin: not_authorized (G.4)', ({ P, created }) => {
        const forged = signGroupChange(P.carol, { groupId: created.groupId, epoch: 1, prevHash: groupStateHash(created), change: { op: 'add', members: [P.mallory.member] } });
        return { steps: [record(forged, 'not_authorized')], final: created };
      }),
      run('relay_signs_as_admin', 'an add in the admin\'s name under another key: bad_signature (G.3)', ({ P, created }) => {
        const forged = signGroupChange({ user: 'alice', identity: P.mallory.identity }, { groupId: created.groupId, epoch: 1, prevHash: groupStateHash(created), change: { op: 'add', members: [P.mallory.member] } });
        return { steps: [record(forged, 'bad_signature')], final: created };
      }),
      run('replayed_and_skipped_records', 'a record applied again, and one that skips an epoch: both wrong_epoch; in order they apply (G.4)', ({ P, created }) => {
        const one = change(created, P.alice, { op: 'rename', name: 'one' });
        const two = change(one.state, P.alice, { op: 'rename', name: 'two' });
        return { steps: [record(two.record, 'wrong_epoch'), record(one.record), record(one.record, 'wrong_epoch'), record(two.record)], final: two.state };
      }),
      run('forked_message', 'a message sent on another history of the same epoch: fork, before any key is used (G.6 step 2)', ({ P, created, random }) => {
        const ours = change(created, P.alice, { op: 'rename', name: 'for bob' });
        const theirs = change(created, P.alice, { op: 'rename', name: 'for carol' });
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        const d = alice.share(created);
        return { steps: [key('alice', d), record(ours.record), refused('fork', alice.send(theirs.state, 'from the other side')), ok('on our side', alice.send(ours.state, 'on our side'))], final: ours.state };
      }),
      run('key_outlives_an_add', 'a key made before an add serves after it: no new key is needed (G.5)', ({ P, created, random }) => {
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        const d = alice.share(created);
        const added = change(created, P.alice, { op: 'add', members: [P.dave.member] });
        return { steps: [key('alice', d), ok('before', alice.send(created, 'before')), record(added.record), ok('after the add', alice.send(added.state, 'after the add'))], final: added.state };
      }),
      run('stale_key_after_removal', 'after carol is removed, a member still sending under a key made before it: stale_key; under a new key it reads (G.5, G.6 step 2)', ({ P, created, random }) => {
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        const d = alice.share(created);
        const removed = change(created, P.alice, { op: 'remove', users: ['carol'] });
        // A modified client keeps its key past the removal: it sends on the new state with the
        // key floor ignored (encryptGroupMessage refuses a key the state does not admit).
        const stale = encryptGroupMessage(alice.key, { ...removed.state, keyFloor: 0 }, utf8('carol holds this key'), random).message;
        const fresh = new Sender(createSenderKey(removed.state, 'alice', random), random);
        return {
          steps: [key('alice', d), record(removed.record), refused('stale_key', stale), key('alice', fresh.share(removed.state)), ok('after the removal', fresh.send(removed.state, 'after the removal'))],
          final: removed.state,
        };
      }),
      run('removed_member_new_key', 'a removed member\'s new key: not_authorized; her old key cannot serve the new epoch either (G.5)', ({ P, created, random }) => {
        const carol = new Sender(createSenderKey(created, 'carol', random), random);
        const d = carol.share(created);
        const removed = change(created, P.alice, { op: 'remove', users: ['carol'] });
        const after = createSenderKey({ ...removed.state, members: [...removed.state.members, P.carol.member] }, 'carol', random);
        const forged = encodeSenderKeyDistribution(senderKeyDistribution(after, { ...removed.state, members: [...removed.state.members, P.carol.member] }));
        const kept = encryptGroupMessage(carol.key, { ...removed.state, keyFloor: 0 }, utf8('still here'), random).message;
        return { steps: [key('carol', d), record(removed.record), key('carol', forged, 'not_authorized'), refused('stale_key', kept)], final: removed.state };
      }),
      run('key_in_another_name', 'a distribution naming alice that arrived over the session with carol: not_authorized (G.5)', ({ created, random }) => {
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        return { steps: [key('carol', alice.share(created), 'not_authorized')], final: created };
      }),
      run('tampered_message', 'a flipped salt bit, a flipped last ciphertext bit: bad_signature (signed before any key is used); the intact message reads (G.6 step 3)', ({ created, random }) => {
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        const d = alice.share(created);
        const m = alice.send(created, 'intact');
        const salt = peekGroupMessage(m).salt;
        const at = m.findIndex((_, i) => salt.every((b, j) => m[i + j] === b));
        const saltBit = m.slice();
        saltBit[at]! ^= 1;
        const lastCipherByte = m.slice();
        lastCipherByte[m.length - 65]! ^= 1;
        return { steps: [key('alice', d), refused('bad_signature', saltBit), refused('bad_signature', lastCipherByte), ok('intact', m)], final: created };
      }),
      run('old_group_format', 'a group message of format 2: unsupported_version, not a wrong parse (G.1)', ({ created, random }) => {
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        const d = alice.share(created);
        const m = alice.send(created, 'format 3');
        const old = m.slice();
        old[0] = 2;
        return { steps: [key('alice', d), refused('unsupported_version', old), ok('format 3', m)], final: created };
      }),
      run('truncated_message', 'a message cut short or extended: malformed, before any key is used (G.6 step 1)', ({ created, random }) => {
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        const d = alice.share(created);
        const m = alice.send(created, 'whole');
        return { steps: [key('alice', d), refused('malformed', m.subarray(0, m.length - 16)), refused('malformed', concat(m, new Uint8Array(16))), ok('whole', m)], final: created };
      }),
      run('rollback_same_slot', 'two messages for one chain position (a sender restored from an old copy): the first reads, the other is a duplicate (G.6 "A sender\'s state rolled back")', ({ created, random }) => {
        const alice = new Sender(createSenderKey(created, 'alice', random), random);
        const d = alice.share(created);
        const saved = alice.key;
        const first = alice.send(created, 'before the restore');
        alice.key = saved;
        const second = alice.send(created, 'after the restore');
        return { steps: [key('alice', d), ok('before the restore', first), refused('duplicate_message', second)], final: created };
      }),
    ],
  };
}
