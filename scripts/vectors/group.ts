// Groups (format GROUP_VERSION) from fixed seeds: a membership chain (create, add, promote, rename,
// remove, leave) with every record, state encoding, state hash and transcript; the group id derived
// from the creator; records that must be refused, each with the error code it must get (a squatted
// create among them); two concurrent records and which one wins; and one sender chain step by step
// (chain and message keys, AEAD key and nonce, AD, signed message), including a receiver state
// holding skipped keys.
import { LABELS, GROUP_MAX_SKIP, GROUP_MAX_SKIPPED_KEYS, GROUP_VERSION } from '../../crypto/consts.js';
import { utf8 } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import { pad } from '../../crypto/padding.js';
import {
  applyChange,
  createGroup,
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
  preferSibling,
  proposeChange,
  signGroupChange,
  acceptSenderKeyDistribution,
  createSenderKey,
  senderKeyDistribution,
  type GroupOp,
  type GroupState,
} from '../../crypto/group/index.js';
import { people, type Person } from '../../crypto/group/test-helpers.js';
import { seededRandom } from './seeded.js';

export const description =
  'Groups (format 2): change records = body || Ed25519(author, utf8(label) || body), chained by prevHash = BLAKE2b-256(utf8(state-hash label) || encoded state); groupId = BLAKE2b-256(utf8(id label) || lp(creator) || creator signPublic || salt); transcript_n = BLAKE2b-256(utf8(transcript label) || transcript_{n-1} || body_n), transcript_{-1} = 0^32; refused records with their error code; two concurrent records, the lower transcript winning; a sender chain (ck\' = PRF(ck, chain-key label)[0..32], mk = PRF(ck, message-key label)[0..32], key || nonce = HKDF(empty, mk, message-keys label, 56)) and signed group messages with AD = groupId || u32 epoch || transcript || lp(sender) || u32 counter.';

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
  const random = seededRandom('group');
  const P = people(['alice', 'bob', 'carol', 'dave', 'mallory'], random);
  const { alice, bob, carol, dave, mallory } = P;

  // ---- membership chain ----
  const created = createGroup(alice, 'fastchat devs', [bob.member, carol.member], random);
  const steps: [Person, GroupOp][] = [
    [alice, { op: 'add', members: [dave.member] }],
    [alice, { op: 'promote', users: ['bob'] }],
    [bob, { op: 'rename', name: 'fastchat core' }],
    [bob, { op: 'remove', users: ['carol'] }],
    [dave, { op: 'leave' }],
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
  }));
  const salt = (parseGroupChange(created.record).change as { salt: Uint8Array }).salt;

  // ---- refused records (each against states[1]: alice admin; bob, carol, dave members) ----
  const held = states[1]!;
  const next = { groupId: held.groupId, epoch: held.epoch + 1, prevHash: groupStateHash(held) };
  const other = createGroup(alice, 'other', [bob.member], random).state;
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

  // ---- sender keys and messages in the final epoch (alice and bob) ----
  const final = states[states.length - 1]!;
  const ours = createSenderKey(final, 'alice', random);
  const distribution = encodeSenderKeyDistribution(senderKeyDistribution(ours));
  const theirs = acceptSenderKeyDistribution(final, alice.member, distribution);
  const chainSteps = [];
  let ck = ours.chainKey;
  for (let counter = 0; counter < 3; counter++) {
    const [nextCk, mk] = groupChainStep(ck);
    const { key, nonce } = groupMessageKeys(mk);
    chainSteps.push({ counter, chainKey: ck, messageKey: mk, aeadKey: key, nonce });
    ck = nextCk;
  }
  const texts = ['hello group', '', 'x'.repeat(200)];
  const messages = [];
  let sending = ours;
  for (const [counter, text] of texts.entries()) {
    const r = encryptGroupMessage(sending, utf8(text));
    messages.push({
      counter,
      plaintext: utf8(text),
      padded: pad(utf8(text)),
      ad: groupMessageAd({ groupId: final.groupId, epoch: final.epoch, transcript: final.transcript, sender: 'alice', counter }),
      message: r.message,
    });
    sending = r.state;
  }
  // Bob receives message 2 first: messages 0 and 1 become skipped keys.
  const afterTwo = decryptGroupMessage(theirs, messages[2]!.message).state;

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
    limits: { GROUP_VERSION, GROUP_MAX_SKIP, GROUP_MAX_SKIPPED_KEYS },
    members: Object.values(P).map((p) => ({ user: p.user, signSeed: p.identity.signPrivate.subarray(0, 32), signPublic: p.identity.signPublic })),
    groupId: created.state.groupId,
    creatorSalt: salt,
    chain,
    refused: { heldState: encodeGroupState(held), vectors: refused, withoutState: [squatted] },
    concurrent,
    senderKey: {
      epoch: final.epoch,
      transcript: final.transcript,
      sender: 'alice',
      signSeed: ours.signPrivate.subarray(0, 32),
      signPublic: ours.signPublic,
      ourSenderKeyEncoded: encodeOurSenderKey(ours),
      distribution,
      chainSteps,
      messages,
      receiverAfterMessage2: encodeTheirSenderKey(afterTwo),
    },
  };
}
