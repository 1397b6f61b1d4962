// Groups (format GROUP_VERSION), reproducible from docs/PROTOCOL.md §14 alone: members from their
// own seeds, a membership chain (create, add, promote, rename, remove, leave, add) with every
// record, state encoding, state hash, transcript and key floor; the group id derived from the
// creator; records that must be refused, each with the error code it must get (a squatted create
// among them); two concurrent records and which one wins; and one sender key made before an add
// and used after it: its chain step by step (chain and message keys, salts, AEAD key and nonce),
// its distributions to an old member and to the newcomer, three signed messages across the add,
// and two receivers' stored chains.
import { LABELS, GROUP_MAX_SKIP, GROUP_MAX_SKIPPED_KEYS, GROUP_MESSAGE_SALT_BYTES, GROUP_VERSION } from '../../crypto/consts.js';
import { utf8 } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import { pad } from '../../crypto/padding.js';
import {
  acceptSenderKeyDistribution,
  applyChange,
  createGroup,
  createSenderKey,
  decryptGroupMessage,
  encodeGroupState,
  encodeOurSenderKey,
  encodeSenderKeyDistribution,
  encodeTheirSenderKey,
  encryptGroupMessage,
  groupChainStep,
  groupMessageAd,
  groupMessageKeys,
  groupStateHash,
  parseGroupChange,
  peekGroupMessage,
  preferSibling,
  proposeChange,
  senderKeyDistribution,
  signGroupChange,
  type GroupOp,
  type GroupState,
  type OurSenderKey,
} from '../../crypto/group/index.js';
import { person, type Person } from '../../crypto/group/test-helpers.js';
import { seededRandom } from './seeded.js';

export const description =
  'Groups (format 3): change records = body || Ed25519(author, utf8(label) || body), chained by prevHash = BLAKE2b-256(utf8(state-hash label) || encoded state); groupId = BLAKE2b-256(utf8(id label) || lp(creator) || creator signPublic || salt); transcript_n = BLAKE2b-256(utf8(transcript label) || transcript_{n-1} || body_n), transcript_{-1} = 0^32; keyFloor = epoch of the last remove or leave; refused records with their error code; two concurrent records, the lower transcript winning; a sender key made at epoch 5 and used across the add of epoch 6 (ck\' = PRF(ck, chain-key label)[0..32], mk = PRF(ck, message-key label)[0..32], key || nonce = HKDF(salt, mk, message-keys label, 56)) with signed group messages whose AD = groupId || u32 epoch || transcript || lp(sender) || u32 keyEpoch || u32 counter || salt.';

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'mallory'] as const;

function refusal(held: GroupState | null, record: Uint8Array): string {
  try {
    applyChange(held, record);
  } catch (e) {
    if (isCryptoError(e)) return e.code;
    throw e;
  }
  throw new Error('vector record was accepted');
}

export function generate(): unknown {
  const P = Object.fromEntries(USERS.map((u) => [u, person(u, seededRandom(`group/${u}`))])) as Record<(typeof USERS)[number], Person>;
  const { alice, bob, carol, dave, erin, mallory } = P;

  // ---- membership chain ----
  const created = createGroup(alice, 'fastchat devs', [bob.member, carol.member], seededRandom('group/salt'));
  const steps: [Person, GroupOp][] = [
    [alice, { op: 'add', members: [dave.member] }],
    [alice, { op: 'promote', users: ['bob'] }],
    [bob, { op: 'rename', name: 'fastchat core' }],
    [bob, { op: 'remove', users: ['carol'] }],
    [dave, { op: 'leave' }],
    [bob, { op: 'add', members: [erin.member] }],
  ];
  const states: GroupState[] = [created.state];
  const records: Uint8Array[] = [created.record];
  for (const [author, change] of steps) {
    const r = proposeChange(states[states.length - 1]!, author, change);
    states.push(r.state);
    records.push(r.record);
  }
  const chain = records.map((record, i) => ({
    epoch: states[i]!.epoch,
    author: i === 0 ? 'alice' : steps[i - 1]![0].user,
    op: i === 0 ? 'create' : steps[i - 1]![1].op,
    record,
    stateAfter: encodeGroupState(states[i]!),
    stateHashAfter: groupStateHash(states[i]!),
    transcriptAfter: states[i]!.transcript,
    keyFloorAfter: states[i]!.keyFloor,
  }));
  const salt = (parseGroupChange(created.record).change as { salt: Uint8Array }).salt;

  // ---- refused records (each against states[1]: alice admin; bob, carol, dave members) ----
  const held = states[1]!;
  const next = { groupId: held.groupId, epoch: held.epoch + 1, prevHash: groupStateHash(held) };
  const other = createGroup(alice, 'other', [bob.member], seededRandom('group/other-salt')).state;
  const flipped = records[2]!.slice();
  flipped[flipped.length - 1]! ^= 0x01;
  const refused = [
    { name: 'replayed_old_record', record: records[1]!, expect: '' },
    { name: 'non_admin_add', record: signGroupChange(bob, { ...next, change: { op: 'add', members: [mallory.member] } }), expect: '' },
    { name: 'relay_signs_as_admin', record: signGroupChange({ user: 'alice', identity: mallory.identity }, { ...next, change: { op: 'add', members: [mallory.member] } }), expect: '' },
    { name: 'flipped_signature_bit', record: flipped, expect: '' },
    { name: 'other_group', record: signGroupChange(alice, { groupId: other.groupId, epoch: held.epoch + 1, prevHash: groupStateHash(other), change: { op: 'rename', name: 'x' } }), expect: '' },
    { name: 'forked_prev_hash', record: signGroupChange(alice, { ...next, prevHash: groupStateHash(states[0]!), change: { op: 'rename', name: 'fork' } }), expect: '' },
    { name: 'skips_an_epoch', record: records[3]!, expect: '' },
    { name: 'remove_self', record: signGroupChange(alice, { ...next, change: { op: 'remove', users: ['alice'] } }), expect: '' },
  ].map((v) => ({ ...v, expect: refusal(held, v.record) }));
  // Mallory, who learned the id, signs her own create record for it (refused with no state held).
  const squat = signGroupChange(mallory, { groupId: held.groupId, epoch: 0, prevHash: new Uint8Array(32), change: { op: 'create', salt, name: 'fastchat devs', members: [bob.member, mallory.member] } });
  const squatted = { name: 'squatted_group_id', record: squat, expect: refusal(null, squat) };

  // ---- two admins change the same state (states[2]: alice and bob are admins) ----
  const a = proposeChange(states[2]!, alice, { op: 'remove', users: ['dave'] });
  const b = proposeChange(states[2]!, bob, { op: 'rename', name: 'concurrent' });
  const concurrent = {
    base: encodeGroupState(states[2]!),
    records: [a.record, b.record],
    transcripts: [a.state.transcript, b.state.transcript],
    winner: preferSibling(a.state, b.state) ? 1 : 0,
  };

  // ---- alice's sender key: made at epoch 5 (after dave left), used at 5 and, across erin's add, at 6 ----
  const [, , , , , atFive, atSix] = states as [GroupState, GroupState, GroupState, GroupState, GroupState, GroupState, GroupState];
  const ours = createSenderKey(atFive, 'alice', seededRandom('group/sender-key'));
  const saltStream = seededRandom('group/message-salts');
  const chainSteps = [];
  let ck = ours.chainKey;
  const texts = ['hello group', '', 'x'.repeat(200)];
  const sentAt = [atFive, atSix, atSix];
  const messages = [];
  const toBob = encodeSenderKeyDistribution(senderKeyDistribution(ours, atFive));
  let toErin: Uint8Array = new Uint8Array(0);
  let sending: OurSenderKey = ours;
  for (const [counter, text] of texts.entries()) {
    if (counter === 1) toErin = encodeSenderKeyDistribution(senderKeyDistribution(sending, atSix)); // first send after the add
    const at = sentAt[counter]!;
    const r = encryptGroupMessage(sending, at, utf8(text), saltStream);
    const h = peekGroupMessage(r.message);
    const [nextCk, mk] = groupChainStep(ck);
    const { key, nonce } = groupMessageKeys(mk, h.salt);
    chainSteps.push({ counter, chainKey: ck, messageKey: mk, salt: h.salt, aeadKey: key, nonce });
    ck = nextCk;
    messages.push({ counter, epoch: at.epoch, plaintext: utf8(text), padded: pad(utf8(text)), ad: groupMessageAd(h), message: r.message });
    sending = r.state;
  }
  // Bob took the key at epoch 5 and receives message 2 first: messages 0 and 1 become skipped keys.
  const bobs = acceptSenderKeyDistribution(atFive, alice.member, toBob);
  const bobAfterTwo = decryptGroupMessage(bobs, atSix, messages[2]!.message).state;
  // Erin, added at epoch 6, got the key at its position 1: message 0 (sent before she joined) is
  // not hers to read; she reads message 1.
  const erins = acceptSenderKeyDistribution(atSix, alice.member, toErin);
  const erinAfterOne = decryptGroupMessage(erins, atSix, messages[1]!.message).state;

  return {
    labels: {
      groupRecordSignature: utf8(LABELS.groupRecordSignature),
      groupStateHash: utf8(LABELS.groupStateHash),
      groupChainKey: utf8(LABELS.groupChainKey),
      groupMessageKey: utf8(LABELS.groupMessageKey),
      groupMessageKeys: utf8(LABELS.groupMessageKeys),
      groupMessageSignature: utf8(LABELS.groupMessageSignature),
      groupId: utf8(LABELS.groupId),
      groupTranscript: utf8(LABELS.groupTranscript),
    },
    limits: { GROUP_VERSION, GROUP_MAX_SKIP, GROUP_MAX_SKIPPED_KEYS, GROUP_MESSAGE_SALT_BYTES },
    members: USERS.map((u) => ({ user: u, seed: `group/${u}`, signSeed: P[u].identity.signPrivate.subarray(0, 32), signPublic: P[u].identity.signPublic })),
    groupId: created.state.groupId,
    creatorSalt: salt,
    chain,
    refused: { heldState: encodeGroupState(held), vectors: refused, withoutState: [squatted] },
    concurrent,
    senderKey: {
      keyEpoch: ours.epoch,
      sender: 'alice',
      chainKey: ours.chainKey,
      signSeed: ours.signPrivate.subarray(0, 32),
      signPublic: ours.signPublic,
      ourSenderKeyEncoded: encodeOurSenderKey(ours),
      distributionToBob: toBob,
      distributionToErin: toErin,
      chainSteps,
      messages,
      bobAfterMessage2: encodeTheirSenderKey(bobAfterTwo),
      erinAfterMessage1: encodeTheirSenderKey(erinAfterOne),
    },
  };
}
