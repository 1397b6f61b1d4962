// Sender keys: each member has, per group and epoch, one symmetric chain and one Ed25519 signature
// key pair. The chain (like one Double Ratchet sending chain) gives a fresh message key per message;
// the signature key proves which member sent it, because every member holds every chain key. The
// first chain key and the public signature key reach the other members in a SenderKeyDistribution
// sent over the pairwise Double Ratchet sessions (modelled on libsignal's sender_keys.rs). Every key
// is bound to the membership transcript of its epoch, so a key made on one side of a fork is
// refused on the other (code `fork`).
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SEED_BYTES,
  GROUP_CHAIN_KEY_BYTES,
  GROUP_FORMAT_TAGS,
  GROUP_ID_BYTES,
  GROUP_MAX_SKIPPED_KEYS,
  GROUP_TRANSCRIPT_BYTES,
  GROUP_VERSION,
  LABELS,
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
} from '../consts.js';
import { concat, equalBytes, Reader, u16, u32, u8, utf8, wipe } from '../encoding.js';
import { CryptoError } from '../errors.js';
import { hkdf, prf } from '../kdf.js';
import { sodium, type RandomBytes } from '../sodium.js';
import { isMember, memberKey, type GroupState } from './membership.js';
import { readGroupHeader, readUser, writeUser, type GroupMember } from './wire.js';

/** Our own sending chain in one group and epoch. `counter` is the number the next message gets. */
export interface OurSenderKey {
  groupId: Uint8Array;
  epoch: number;
  transcript: Uint8Array; // 32, the membership transcript of the epoch
  sender: string; // our username
  counter: number;
  chainKey: Uint8Array; // 32, the chain key for message `counter`
  signPublic: Uint8Array; // 32
  signPrivate: Uint8Array; // 64, libsodium's seed || public form
}

/** A message key kept for a message that has not arrived yet (out of order). */
export interface SkippedGroupKey {
  counter: number;
  messageKey: Uint8Array; // 32
}

/** Another member's chain as we receive it. `counter` is the next message we have no key for yet. */
export interface TheirSenderKey {
  groupId: Uint8Array;
  epoch: number;
  transcript: Uint8Array;
  sender: string;
  counter: number;
  chainKey: Uint8Array; // 32
  signPublic: Uint8Array; // 32
  skipped: SkippedGroupKey[]; // strictly ascending by counter, at most GROUP_MAX_SKIPPED_KEYS
}

/** What a member sends every other member (over the pairwise sessions) to let them read it. */
export interface SenderKeyDistribution {
  groupId: Uint8Array;
  epoch: number;
  transcript: Uint8Array;
  sender: string;
  counter: number;
  chainKey: Uint8Array;
  signPublic: Uint8Array;
}

// ---- chain ------------------------------------------------------------------------------------

const CHAIN_KEY_INPUT = utf8(LABELS.groupChainKey);
const MESSAGE_KEY_INPUT = utf8(LABELS.groupMessageKey);

/**
 * Sender chain step: ck' = PRF(ck, LABELS.groupChainKey)[0..32], mk = PRF(ck, LABELS.groupMessageKey)[0..32].
 * The same shape as the ratchet's KDF_CK under group-only labels, so a group chain key can never
 * yield a pairwise message key or the reverse.
 */
export function groupChainStep(chainKey: Uint8Array): [chainKey: Uint8Array, messageKey: Uint8Array] {
  if (chainKey.length !== GROUP_CHAIN_KEY_BYTES) throw new CryptoError('invalid_argument', 'chain key must be 32 bytes');
  return [prf(chainKey, CHAIN_KEY_INPUT).slice(0, 32), prf(chainKey, MESSAGE_KEY_INPUT).slice(0, 32)];
}

/** HKDF(salt = empty, IKM = mk, info = LABELS.groupMessageKeys, 56) = key[32] || nonce[24]. */
export function groupMessageKeys(messageKey: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const out = hkdf(new Uint8Array(0), messageKey, LABELS.groupMessageKeys, AEAD_KEY_BYTES + AEAD_NONCE_BYTES);
  return { key: out.slice(0, AEAD_KEY_BYTES), nonce: out.slice(AEAD_KEY_BYTES) };
}

// ---- creating and distributing -----------------------------------------------------------------

/**
 * Fresh sending keys for `us` in the group's current epoch: 32 random bytes of chain key and 32 of
 * Ed25519 seed. Called after creating or joining a group and after every applied change (every
 * epoch has its own keys, so a removed member's keys end with the epoch they were removed in).
 */
export function createSenderKey(group: GroupState, us: string, random: RandomBytes): OurSenderKey {
  if (!isMember(group, us)) throw new CryptoError('invalid_argument', `${us} is not a member of the group`);
  const chainKey = random(GROUP_CHAIN_KEY_BYTES);
  const seed = random(ED25519_SEED_BYTES);
  if (chainKey.length !== GROUP_CHAIN_KEY_BYTES || seed.length !== ED25519_SEED_BYTES) {
    throw new CryptoError('invalid_argument', 'random source returned short output');
  }
  const kp = sodium().crypto_sign_seed_keypair(seed);
  wipe(seed);
  return {
    groupId: group.groupId.slice(),
    epoch: group.epoch,
    transcript: group.transcript.slice(),
    sender: us,
    counter: 0,
    chainKey,
    signPublic: kp.publicKey,
    signPrivate: kp.privateKey,
  };
}

/** The distribution for our chain at its current position (earlier messages stay unreadable). */
export function senderKeyDistribution(ours: OurSenderKey): SenderKeyDistribution {
  return {
    groupId: ours.groupId.slice(),
    epoch: ours.epoch,
    transcript: ours.transcript.slice(),
    sender: ours.sender,
    counter: ours.counter,
    chainKey: ours.chainKey.slice(),
    signPublic: ours.signPublic.slice(),
  };
}

/** version || tag || groupId[32] || u32 epoch || transcript[32] || lp(sender) || u32 counter || chainKey[32] || signPublic[32] */
export function encodeSenderKeyDistribution(d: SenderKeyDistribution): Uint8Array {
  return concat(
    u8(GROUP_VERSION),
    u8(GROUP_FORMAT_TAGS.senderKeyDistribution),
    exact(d.groupId, GROUP_ID_BYTES),
    u32(d.epoch),
    exact(d.transcript, GROUP_TRANSCRIPT_BYTES),
    writeUser(d.sender),
    u32(d.counter),
    exact(d.chainKey, GROUP_CHAIN_KEY_BYTES),
    exact(d.signPublic, ED25519_PUBLIC_KEY_BYTES),
  );
}

export function parseSenderKeyDistribution(bytes: Uint8Array): SenderKeyDistribution {
  const r = new Reader(bytes);
  readGroupHeader(r, GROUP_FORMAT_TAGS.senderKeyDistribution, 'sender key distribution');
  const d = {
    groupId: r.bytes(GROUP_ID_BYTES),
    epoch: r.u32(),
    transcript: r.bytes(GROUP_TRANSCRIPT_BYTES),
    sender: readUser(r),
    counter: r.u32(),
    chainKey: r.bytes(GROUP_CHAIN_KEY_BYTES),
    signPublic: r.bytes(ED25519_PUBLIC_KEY_BYTES),
  };
  r.end();
  return d;
}

/**
 * Turns a distribution that arrived over the pairwise session with `from` (the peer's username and
 * identity signing key, as that session authenticated them) into a receiving chain. Refused unless
 * it is for this group (wrong_group) and its current epoch (wrong_epoch: the caller may hold it until
 * it has applied the record that starts that epoch), was made on the same membership transcript
 * (fork: the sender applied other records for this epoch than we did), names `from` as its sender,
 * and `from` is a member whose identity key is the one the group state lists (not_authorized): a
 * member cannot hand out keys in another member's name, nor can a stranger inject a chain.
 */
export function acceptSenderKeyDistribution(group: GroupState, from: GroupMember, bytes: Uint8Array): TheirSenderKey {
  const d = parseSenderKeyDistribution(bytes);
  if (!equalBytes(d.groupId, group.groupId)) throw new CryptoError('wrong_group', 'sender key is for another group');
  if (d.epoch !== group.epoch) {
    throw new CryptoError('wrong_epoch', `sender key is for epoch ${d.epoch}, the group is at ${group.epoch}`);
  }
  if (!equalBytes(d.transcript, group.transcript)) {
    throw new CryptoError('fork', `sender key of ${d.sender} was made on another history of epoch ${d.epoch}`);
  }
  if (d.sender !== from.user) throw new CryptoError('not_authorized', `${from.user} sent a sender key in the name of ${d.sender}`);
  const listed = memberKey(group, d.sender);
  if (listed === undefined || !equalBytes(listed, from.signPublic)) {
    throw new CryptoError('not_authorized', `${d.sender} is not a member with this identity`);
  }
  return { ...d, skipped: [] };
}

// ---- serialisation ----------------------------------------------------------------------------

/** version || tag || groupId[32] || u32 epoch || transcript[32] || lp(sender) || u32 counter || chainKey[32] || signPublic[32] || signPrivate[64] */
export function encodeOurSenderKey(k: OurSenderKey): Uint8Array {
  return concat(
    u8(GROUP_VERSION),
    u8(GROUP_FORMAT_TAGS.ourSenderKey),
    exact(k.groupId, GROUP_ID_BYTES),
    u32(k.epoch),
    exact(k.transcript, GROUP_TRANSCRIPT_BYTES),
    writeUser(k.sender),
    u32(k.counter),
    exact(k.chainKey, GROUP_CHAIN_KEY_BYTES),
    exact(k.signPublic, ED25519_PUBLIC_KEY_BYTES),
    exact(k.signPrivate, ED25519_SECRET_KEY_BYTES),
  );
}

export function parseOurSenderKey(bytes: Uint8Array): OurSenderKey {
  const r = new Reader(bytes);
  readGroupHeader(r, GROUP_FORMAT_TAGS.ourSenderKey, 'our sender key');
  const k = {
    groupId: r.bytes(GROUP_ID_BYTES),
    epoch: r.u32(),
    transcript: r.bytes(GROUP_TRANSCRIPT_BYTES),
    sender: readUser(r),
    counter: r.u32(),
    chainKey: r.bytes(GROUP_CHAIN_KEY_BYTES),
    signPublic: r.bytes(ED25519_PUBLIC_KEY_BYTES),
    signPrivate: r.bytes(ED25519_SECRET_KEY_BYTES),
  };
  r.end();
  // A spliced store entry would sign with a key nobody holds: refuse it here, not at send time.
  if (!equalBytes(k.signPrivate.subarray(32), k.signPublic)) throw new CryptoError('malformed', 'signature key halves disagree');
  return k;
}

/**
 * version || tag || groupId[32] || u32 epoch || transcript[32] || lp(sender) || u32 counter ||
 * chainKey[32] || signPublic[32] || u16 n || (u32 counter || messageKey[32])^n
 */
export function encodeTheirSenderKey(k: TheirSenderKey): Uint8Array {
  if (k.skipped.length > GROUP_MAX_SKIPPED_KEYS) throw new CryptoError('invalid_argument', 'too many skipped keys');
  return concat(
    u8(GROUP_VERSION),
    u8(GROUP_FORMAT_TAGS.theirSenderKey),
    exact(k.groupId, GROUP_ID_BYTES),
    u32(k.epoch),
    exact(k.transcript, GROUP_TRANSCRIPT_BYTES),
    writeUser(k.sender),
    u32(k.counter),
    exact(k.chainKey, GROUP_CHAIN_KEY_BYTES),
    exact(k.signPublic, ED25519_PUBLIC_KEY_BYTES),
    u16(k.skipped.length),
    ...k.skipped.map((s) => concat(u32(s.counter), exact(s.messageKey, GROUP_CHAIN_KEY_BYTES))),
  );
}

export function parseTheirSenderKey(bytes: Uint8Array): TheirSenderKey {
  const r = new Reader(bytes);
  readGroupHeader(r, GROUP_FORMAT_TAGS.theirSenderKey, 'their sender key');
  const groupId = r.bytes(GROUP_ID_BYTES);
  const epoch = r.u32();
  const transcript = r.bytes(GROUP_TRANSCRIPT_BYTES);
  const sender = readUser(r);
  const counter = r.u32();
  const chainKey = r.bytes(GROUP_CHAIN_KEY_BYTES);
  const signPublic = r.bytes(ED25519_PUBLIC_KEY_BYTES);
  const n = r.u16();
  // Count before the loop: a stored state can never hold more keys than a live one could.
  if (n > GROUP_MAX_SKIPPED_KEYS) throw new CryptoError('malformed', `too many skipped keys: ${n}`);
  const skipped: SkippedGroupKey[] = [];
  for (let i = 0; i < n; i++) {
    const s = { counter: r.u32(), messageKey: r.bytes(GROUP_CHAIN_KEY_BYTES) };
    // Ascending and below the chain position: each key is for one distinct message not yet seen.
    if (s.counter >= counter || (i > 0 && s.counter <= skipped[i - 1]!.counter)) {
      throw new CryptoError('malformed', 'skipped keys out of order');
    }
    skipped.push(s);
  }
  r.end();
  return { groupId, epoch, transcript, sender, counter, chainKey, signPublic, skipped };
}

function exact(b: Uint8Array, n: number): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new CryptoError('invalid_argument', `field must be ${n} bytes`);
  return b;
}
