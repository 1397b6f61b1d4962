// Group membership as a signed hash chain of change records. Every member holds the state and
// applies a record only if it is the next link: same group, epoch + 1, previous-state hash equal to
// the hash of the state held, signed by an identity key the held state names and allowed to make
// that change. The relay forwards records but holds no key that can sign one, so it can neither
// add anyone nor replay an old change (the epoch and the hash moved on).
//
// The state also carries the membership transcript: a hash over every record body applied since the
// create record. Sender keys and group messages bind it, so two members who applied different
// records for one epoch (a fork) cannot read each other, and two valid records for one epoch
// (concurrent changes by two admins) are ordered the same way by every member: the one giving the
// lower transcript wins (preferSibling).
import {
  ED25519_SIGNATURE_BYTES,
  GROUP_FORMAT_TAGS,
  GROUP_HASH_BYTES,
  GROUP_ID_BYTES,
  GROUP_OPS,
  GROUP_SALT_BYTES,
  GROUP_TRANSCRIPT_BYTES,
  GROUP_VERSION,
  LABELS,
  MAX_GROUP_MEMBERS,
} from '../consts.js';
import { concat, equalBytes, isAllZero, lp, Reader, u32, u8, utf8 } from '../encoding.js';
import { CryptoError } from '../errors.js';
import { sign, verify, type IdentityKeyPair } from '../identity.js';
import { sodium, type RandomBytes } from '../sodium.js';
import {
  readGroupHeader,
  readMembers,
  readName,
  readUser,
  readUsers,
  sortedMembers,
  sortedUsers,
  writeMembers,
  writeName,
  writeUser,
  writeUsers,
  type GroupMember,
} from './wire.js';

export interface GroupState {
  groupId: Uint8Array; // 32 bytes, deriveGroupId of the creator and the create record's salt
  name: string;
  epoch: number; // 0 at create, +1 per applied record
  prevHash: Uint8Array; // groupStateHash of the state before the last record; zeros at create
  transcript: Uint8Array; // 32, hash over every record body applied (transcriptLink)
  /**
   * The epoch from which sender keys must date: the epoch of the last record that took a member
   * out (remove, leave), 0 at create. A key made before it was held by someone who is out.
   */
  keyFloor: number;
  members: GroupMember[]; // strictly ascending by user
  admins: string[]; // strictly ascending, each a member
}

export type GroupOp =
  | { op: 'create'; salt: Uint8Array; name: string; members: GroupMember[] } // members include the author
  | { op: 'add'; members: GroupMember[] }
  | { op: 'remove'; users: string[] }
  | { op: 'leave' }
  | { op: 'promote'; users: string[] }
  | { op: 'rename'; name: string };

/** A parsed change record (structure only: nothing verified yet). */
export interface GroupChange {
  groupId: Uint8Array;
  epoch: number;
  prevHash: Uint8Array;
  author: string;
  change: GroupOp;
  signature: Uint8Array;
  signed: Uint8Array; // the record bytes the signature covers (everything before it)
}

/**
 * Who signs a change: the account name and the Ed25519 key pair the group lists it under (its
 * member key: the account key, or one device's identity key, G.1).
 */
export interface GroupAuthor {
  user: string;
  identity: Pick<IdentityKeyPair, 'signPublic' | 'signPrivate'>;
}

const ZERO_HASH = new Uint8Array(GROUP_HASH_BYTES);
const ZERO_TRANSCRIPT = new Uint8Array(GROUP_TRANSCRIPT_BYTES);

/**
 * groupId = BLAKE2b-256(utf8(LABELS.groupId) || lp(utf8(creator)) || creator's signPublic || salt).
 * A create record must carry an id derived this way from its own author and salt, so nobody but the
 * holder of the creator's identity key can make a create record for an id: a contact who learns a
 * group's id cannot start another group under it and have members take it for the real one.
 */
export function deriveGroupId(creator: string, signPublic: Uint8Array, salt: Uint8Array): Uint8Array {
  return sodium().crypto_generichash(
    GROUP_ID_BYTES,
    concat(utf8(LABELS.groupId), lp(utf8(creator)), fixedLength(signPublic, 32, 'creator key'), fixedLength(salt, GROUP_SALT_BYTES, 'salt')),
    null,
  );
}

/**
 * transcript_n = BLAKE2b-256(utf8(LABELS.groupTranscript) || transcript_{n-1} || body_n), where body_n
 * is record n without its signature and transcript_{-1} is 32 zero bytes. The signature is left out
 * so a re-encoded signature cannot make one change look like two; the body names its author.
 */
export function transcriptLink(previous: Uint8Array, recordBody: Uint8Array): Uint8Array {
  return sodium().crypto_generichash(GROUP_TRANSCRIPT_BYTES, concat(utf8(LABELS.groupTranscript), fixedLength(previous, GROUP_TRANSCRIPT_BYTES, 'transcript'), recordBody), null);
}

/**
 * Two valid records for the same epoch on the same state (concurrent changes by two admins, or one
 * admin showing members different changes): every member keeps the one whose resulting transcript
 * is lower in byte order, whatever order they arrived in, so honest members converge on one chain.
 * Returns true when `theirs` should replace `ours`.
 */
export function preferSibling(ours: GroupState, theirs: GroupState): boolean {
  if (ours.epoch !== theirs.epoch || !equalBytes(ours.prevHash, theirs.prevHash)) {
    throw new CryptoError('invalid_argument', 'only two states that extend the same state can be compared');
  }
  return compareBytes(theirs.transcript, ours.transcript) < 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

// ---- state ------------------------------------------------------------------------------------

/** version || tag || groupId[32] || u32 epoch || prevHash[32] || transcript[32] || u32 keyFloor || lp(name) || members || admins */
export function encodeGroupState(state: GroupState): Uint8Array {
  return concat(
    u8(GROUP_VERSION),
    u8(GROUP_FORMAT_TAGS.groupState),
    fixedLength(state.groupId, GROUP_ID_BYTES, 'group id'),
    u32(state.epoch),
    fixedLength(state.prevHash, GROUP_HASH_BYTES, 'previous hash'),
    fixedLength(state.transcript, GROUP_TRANSCRIPT_BYTES, 'transcript'),
    u32(state.keyFloor),
    writeName(state.name),
    writeMembers(state.members),
    writeUsers(state.admins),
  );
}

/** Checks version and tag first, then every length and the admins ⊆ members invariant. */
export function parseGroupState(bytes: Uint8Array): GroupState {
  const r = new Reader(bytes);
  readGroupHeader(r, GROUP_FORMAT_TAGS.groupState, 'group state');
  const groupId = r.bytes(GROUP_ID_BYTES);
  const epoch = r.u32();
  const prevHash = r.bytes(GROUP_HASH_BYTES);
  const transcript = r.bytes(GROUP_TRANSCRIPT_BYTES);
  const keyFloor = r.u32();
  const name = readName(r);
  const members = readMembers(r, 0);
  const admins = readUsers(r, 0);
  r.end();
  if (keyFloor > epoch) throw new CryptoError('malformed', 'key floor after the epoch');
  const names = new Set(members.map((m) => m.user));
  if (!admins.every((a) => names.has(a))) throw new CryptoError('malformed', 'an admin is not a member');
  return { groupId, name, epoch, prevHash, transcript, keyFloor, members, admins };
}

/** groupStateHash = BLAKE2b-256(utf8(LABELS.groupStateHash) || encodeGroupState(state)). */
export function groupStateHash(state: GroupState): Uint8Array {
  return sodium().crypto_generichash(GROUP_HASH_BYTES, concat(utf8(LABELS.groupStateHash), encodeGroupState(state)), null);
}

export function isMember(state: GroupState, user: string): boolean {
  return state.members.some((m) => m.user === user);
}

export function isAdmin(state: GroupState, user: string): boolean {
  return state.admins.includes(user);
}

export function memberKey(state: GroupState, user: string): Uint8Array | undefined {
  return state.members.find((m) => m.user === user)?.signPublic;
}

// ---- records ----------------------------------------------------------------------------------

function writeOp(change: GroupOp): Uint8Array {
  switch (change.op) {
    case 'create':
      return concat(u8(GROUP_OPS.create), fixedLength(change.salt, GROUP_SALT_BYTES, 'salt'), writeName(change.name), writeMembers(change.members));
    case 'add':
      return concat(u8(GROUP_OPS.add), nonEmpty(change.members), writeMembers(change.members));
    case 'remove':
      return concat(u8(GROUP_OPS.remove), nonEmpty(change.users), writeUsers(change.users));
    case 'leave':
      return u8(GROUP_OPS.leave);
    case 'promote':
      return concat(u8(GROUP_OPS.promote), nonEmpty(change.users), writeUsers(change.users));
    case 'rename':
      return concat(u8(GROUP_OPS.rename), writeName(change.name));
    default:
      throw new CryptoError('invalid_argument', 'unknown group op');
  }
}

function nonEmpty(list: unknown[]): Uint8Array {
  if (list.length === 0) throw new CryptoError('invalid_argument', 'a change must name at least one user');
  return new Uint8Array(0);
}

function readOp(r: Reader): GroupOp {
  const op = r.u8();
  switch (op) {
    case GROUP_OPS.create:
      return { op: 'create', salt: r.bytes(GROUP_SALT_BYTES), name: readName(r), members: readMembers(r, 1) };
    case GROUP_OPS.add:
      return { op: 'add', members: readMembers(r, 1) };
    case GROUP_OPS.remove:
      return { op: 'remove', users: readUsers(r, 1) };
    case GROUP_OPS.leave:
      return { op: 'leave' };
    case GROUP_OPS.promote:
      return { op: 'promote', users: readUsers(r, 1) };
    case GROUP_OPS.rename:
      return { op: 'rename', name: readName(r) };
    default:
      throw new CryptoError('malformed', `unknown group op ${op}`);
  }
}

/**
 * body   = version || tag || groupId[32] || u32 epoch || prevHash[32] || lp(author) || op || args
 * record = body || Ed25519(author, utf8(LABELS.groupRecordSignature) || body)
 */
function changeBody(groupId: Uint8Array, epoch: number, prevHash: Uint8Array, author: string, change: GroupOp): Uint8Array {
  return concat(
    u8(GROUP_VERSION),
    u8(GROUP_FORMAT_TAGS.groupChange),
    fixedLength(groupId, GROUP_ID_BYTES, 'group id'),
    u32(epoch),
    fixedLength(prevHash, GROUP_HASH_BYTES, 'previous hash'),
    writeUser(author),
    writeOp(change),
  );
}

function signatureMessage(body: Uint8Array): Uint8Array {
  return concat(utf8(LABELS.groupRecordSignature), body);
}

/** Builds and signs a record. Nothing is checked against a state: applyChange does that. */
export function signGroupChange(
  author: GroupAuthor,
  fields: { groupId: Uint8Array; epoch: number; prevHash: Uint8Array; change: GroupOp },
): Uint8Array {
  const body = changeBody(fields.groupId, fields.epoch, fields.prevHash, author.user, fields.change);
  return concat(body, sign(author.identity, signatureMessage(body)));
}

/** Structure only: version, tag, lengths, canonical lists. The signature is not checked here. */
export function parseGroupChange(bytes: Uint8Array): GroupChange {
  const r = new Reader(bytes);
  readGroupHeader(r, GROUP_FORMAT_TAGS.groupChange, 'group change');
  const groupId = r.bytes(GROUP_ID_BYTES);
  const epoch = r.u32();
  const prevHash = r.bytes(GROUP_HASH_BYTES);
  const author = readUser(r);
  const change = readOp(r);
  const signedLength = bytes.length - r.remaining;
  const signature = r.bytes(ED25519_SIGNATURE_BYTES);
  r.end();
  return { groupId, epoch, prevHash, author, change, signature, signed: bytes.slice(0, signedLength) };
}

// ---- applying ---------------------------------------------------------------------------------

/**
 * Verifies one record against the state held and returns the next state; `null` means "no group
 * yet" and accepts only a create record (self-signed by its author, who must be among its members:
 * trust in it comes from the pairwise session it arrived on). Throws CryptoError and never changes
 * `state`. Checks, in order: structure; group id (wrong_group); epoch = held + 1 (wrong_epoch: a
 * replay or a record from the future); prevHash = hash of the held state (broken_chain: a fork or a
 * forgery); author is a member (not_authorized); signature by the author's key as the held state
 * names it (bad_signature); the author's right to this op (not_authorized); that the op applies
 * (invalid_change).
 */
export function applyChange(state: GroupState | null, record: Uint8Array): GroupState {
  const c = parseGroupChange(record);
  if (state === null) return applyCreate(c);
  if (!equalBytes(c.groupId, state.groupId)) throw new CryptoError('wrong_group', 'record is for another group');
  if (c.epoch !== state.epoch + 1) {
    throw new CryptoError('wrong_epoch', `record epoch ${c.epoch} is not the next epoch (group is at ${state.epoch})`);
  }
  if (!equalBytes(c.prevHash, groupStateHash(state))) {
    throw new CryptoError('broken_chain', 'record does not follow the group state held');
  }
  const authorKey = memberKey(state, c.author);
  if (authorKey === undefined) throw new CryptoError('not_authorized', `${c.author} is not a member`);
  if (!verify(authorKey, signatureMessage(c.signed), c.signature)) {
    throw new CryptoError('bad_signature', `record signature of ${c.author} does not verify`);
  }
  const next = nextState(state, c.author, c.change);
  // Whoever is out holds every key made so far: from this epoch on, only newer keys are read.
  const keyFloor = c.change.op === 'remove' || c.change.op === 'leave' ? c.epoch : state.keyFloor;
  return { ...next, epoch: c.epoch, prevHash: c.prevHash.slice(), transcript: transcriptLink(state.transcript, c.signed), keyFloor };
}

function applyCreate(c: GroupChange): GroupState {
  if (c.change.op !== 'create') throw new CryptoError('invalid_change', 'a group starts with a create record');
  if (c.epoch !== 0) throw new CryptoError('wrong_epoch', `create record has epoch ${c.epoch}, not 0`);
  if (!isAllZero(c.prevHash)) throw new CryptoError('broken_chain', 'create record has a previous hash');
  const authorKey = c.change.members.find((m) => m.user === c.author)?.signPublic;
  if (authorKey === undefined) throw new CryptoError('not_authorized', 'the creator is not among the members');
  if (!verify(authorKey, signatureMessage(c.signed), c.signature)) {
    throw new CryptoError('bad_signature', `record signature of ${c.author} does not verify`);
  }
  // After the signature: the id must be the creator's own, so a validly signed create by someone
  // else for a known id (a squat) is refused here.
  if (!equalBytes(c.groupId, deriveGroupId(c.author, authorKey, c.change.salt))) {
    throw new CryptoError('not_authorized', `the group id is not derived from the key of its creator ${c.author}`);
  }
  return {
    groupId: c.groupId,
    name: c.change.name,
    epoch: 0,
    prevHash: ZERO_HASH.slice(),
    transcript: transcriptLink(ZERO_TRANSCRIPT, c.signed),
    keyFloor: 0,
    members: c.change.members,
    admins: [c.author],
  };
}

function requireAdmin(state: GroupState, author: string, what: string): void {
  if (!isAdmin(state, author)) throw new CryptoError('not_authorized', `${author} is not an admin and may not ${what}`);
}

function nextState(state: GroupState, author: string, change: GroupOp): Omit<GroupState, 'keyFloor'> {
  const members = state.members.map((m) => ({ user: m.user, signPublic: m.signPublic.slice() }));
  const base = { groupId: state.groupId.slice(), name: state.name, epoch: state.epoch, prevHash: state.prevHash, transcript: state.transcript };
  switch (change.op) {
    case 'create':
      throw new CryptoError('invalid_change', 'the group already exists');
    case 'add': {
      requireAdmin(state, author, 'add members');
      for (const m of change.members) {
        if (isMember(state, m.user)) throw new CryptoError('invalid_change', `${m.user} is already a member`);
      }
      if (members.length + change.members.length > MAX_GROUP_MEMBERS) {
        throw new CryptoError('invalid_change', `a group has at most ${MAX_GROUP_MEMBERS} members`);
      }
      return { ...base, members: sortedMembers([...members, ...change.members]), admins: [...state.admins] };
    }
    case 'remove': {
      requireAdmin(state, author, 'remove members');
      for (const u of change.users) {
        if (u === author) throw new CryptoError('invalid_change', 'an admin leaves with a leave record, not remove');
        if (!isMember(state, u)) throw new CryptoError('invalid_change', `${u} is not a member`);
      }
      const gone = new Set(change.users);
      return { ...base, members: members.filter((m) => !gone.has(m.user)), admins: state.admins.filter((a) => !gone.has(a)) };
    }
    case 'leave': {
      const admins = state.admins.filter((a) => a !== author);
      const rest = members.filter((m) => m.user !== author);
      // A group with members but no admin could never change again: promote someone first.
      if (admins.length === 0 && rest.length > 0) {
        throw new CryptoError('invalid_change', 'the last admin must promote another member before leaving');
      }
      return { ...base, members: rest, admins };
    }
    case 'promote': {
      requireAdmin(state, author, 'promote members');
      for (const u of change.users) {
        if (!isMember(state, u)) throw new CryptoError('invalid_change', `${u} is not a member`);
        if (isAdmin(state, u)) throw new CryptoError('invalid_change', `${u} is already an admin`);
      }
      return { ...base, members, admins: sortedUsers([...state.admins, ...change.users]) };
    }
    case 'rename':
      requireAdmin(state, author, 'rename the group');
      return { ...base, name: change.name, members, admins: [...state.admins] };
  }
}

// ---- making changes ---------------------------------------------------------------------------

/**
 * Starts a group: a fresh salt and the id derived from it and the author's key, the author as its
 * only admin, `others` as the other members. Returns the genesis state and the create record to
 * send to every member.
 */
export function createGroup(
  author: GroupAuthor,
  name: string,
  others: GroupMember[],
  random: RandomBytes,
): { state: GroupState; record: Uint8Array } {
  if (others.some((m) => m.user === author.user)) throw new CryptoError('invalid_argument', 'the creator is added automatically');
  const salt = random(GROUP_SALT_BYTES);
  if (salt.length !== GROUP_SALT_BYTES) throw new CryptoError('invalid_argument', 'random source returned a short salt');
  const groupId = deriveGroupId(author.user, author.identity.signPublic, salt);
  const members = sortedMembers([...others, { user: author.user, signPublic: author.identity.signPublic }]);
  const record = signGroupChange(author, { groupId, epoch: 0, prevHash: ZERO_HASH, change: { op: 'create', salt, name, members } });
  return { state: applyChange(null, record), record };
}

/**
 * Signs the next record for `state` and applies it, so a change the author may not make is refused
 * here, exactly as every member would refuse it. Returns the new state and the record to send.
 */
export function proposeChange(state: GroupState, author: GroupAuthor, change: GroupOp): { state: GroupState; record: Uint8Array } {
  const record = signGroupChange(author, {
    groupId: state.groupId,
    epoch: state.epoch + 1,
    prevHash: groupStateHash(state),
    change,
  });
  return { state: applyChange(state, record), record };
}

/** Rebuilds a state from its whole chain (create first): how a newly added member learns the group. */
export function replayChanges(records: Uint8Array[]): GroupState {
  if (records.length === 0) throw new CryptoError('invalid_argument', 'no records');
  let state: GroupState | null = null;
  for (const record of records) state = applyChange(state, record);
  return state!;
}

function fixedLength(b: Uint8Array, n: number, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new CryptoError('invalid_argument', `${what} must be ${n} bytes`);
  return b;
}
