// Group messages: encrypted once with the sender's chain, signed with the sender's group signature
// key, fanned out by the relay. Receiving is transactional like the ratchet: every check runs on
// copies and the new state is returned only when the message decrypted. The cleartext header names
// the membership transcript the sender was on; it is in the AD and must equal the chain's, so a
// message from the other side of a fork is refused as `fork` before any key is used.
import {
  AEAD_TAG_BYTES,
  ED25519_SIGNATURE_BYTES,
  GROUP_FORMAT_TAGS,
  GROUP_ID_BYTES,
  GROUP_MAX_SKIP,
  GROUP_MAX_SKIPPED_KEYS,
  GROUP_TRANSCRIPT_BYTES,
  GROUP_VERSION,
  LABELS,
} from '../consts.js';
import { aeadOpen, aeadSeal } from '../aead.js';
import { concat, equalBytes, Reader, u32, u8, utf8, wipe } from '../encoding.js';
import { CryptoError } from '../errors.js';
import { verify } from '../identity.js';
import { isBucketSize, pad, unpad } from '../padding.js';
import { sodium } from '../sodium.js';
import { groupChainStep, groupMessageKeys, type OurSenderKey, type SkippedGroupKey, type TheirSenderKey } from './sender-keys.js';
import { readGroupHeader, readUser, writeUser } from './wire.js';

/** The cleartext fields of a group message: what a receiver uses to pick the sender's chain. */
export interface GroupMessageHeader {
  groupId: Uint8Array;
  epoch: number;
  transcript: Uint8Array; // 32, the membership transcript the sender was on
  sender: string;
  counter: number;
}

interface ParsedGroupMessage extends GroupMessageHeader {
  ciphertext: Uint8Array;
  signature: Uint8Array;
  signed: Uint8Array;
}

const COUNTER_MAX = 0xffffffff;

/** AD = groupId[32] || u32 epoch || transcript[32] || lp(utf8(sender)) || u32 counter. */
export function groupMessageAd(h: GroupMessageHeader): Uint8Array {
  return concat(h.groupId, u32(h.epoch), h.transcript, writeUser(h.sender), u32(h.counter));
}

function signatureMessage(signed: Uint8Array): Uint8Array {
  return concat(utf8(LABELS.groupMessageSignature), signed);
}

/**
 * GroupMessage = version || tag || groupId[32] || u32 epoch || transcript[32] || lp(sender) || u32 counter ||
 * ciphertext || signature[64], with ciphertext = XChaCha20-Poly1305(key, nonce, pad(plaintext), AD)
 * and signature = Ed25519(group signature key, utf8(LABELS.groupMessageSignature) || all before it).
 * Returns our advanced chain; the input state is not modified.
 */
export function encryptGroupMessage(ours: OurSenderKey, plaintext: Uint8Array): { state: OurSenderKey; message: Uint8Array } {
  // The counter is a u32 on the wire: an exhausted chain must not wrap and reuse a key.
  if (ours.counter >= COUNTER_MAX) throw new CryptoError('invalid_argument', 'sender chain exhausted; create a new sender key');
  const padded = pad(plaintext);
  const [chainKey, messageKey] = groupChainStep(ours.chainKey);
  const { key, nonce } = groupMessageKeys(messageKey);
  const header: GroupMessageHeader = { groupId: ours.groupId, epoch: ours.epoch, transcript: ours.transcript, sender: ours.sender, counter: ours.counter };
  const ciphertext = aeadSeal(key, nonce, padded, groupMessageAd(header));
  wipe(messageKey, key, padded);
  const signed = concat(
    u8(GROUP_VERSION),
    u8(GROUP_FORMAT_TAGS.groupMessage),
    header.groupId,
    u32(header.epoch),
    header.transcript,
    writeUser(header.sender),
    u32(header.counter),
    ciphertext,
  );
  const signature = sodium().crypto_sign_detached(signatureMessage(signed), ours.signPrivate);
  return { state: { ...ours, counter: ours.counter + 1, chainKey }, message: concat(signed, signature) };
}

function parseGroupMessage(bytes: Uint8Array): ParsedGroupMessage {
  const r = new Reader(bytes);
  readGroupHeader(r, GROUP_FORMAT_TAGS.groupMessage, 'group message');
  const groupId = r.bytes(GROUP_ID_BYTES);
  const epoch = r.u32();
  const transcript = r.bytes(GROUP_TRANSCRIPT_BYTES);
  const sender = readUser(r);
  const counter = r.u32();
  // Senders stop before 2^32 - 1 (see encrypt), so the receiver's next counter always fits a u32.
  if (counter >= COUNTER_MAX) throw new CryptoError('malformed', 'group message counter out of range');
  const ciphertextLength = r.remaining - ED25519_SIGNATURE_BYTES;
  // Only a padding bucket plus the tag is a length an honest sender produces: anything else is
  // refused before the signature check and the AEAD, and never reaches libsodium.
  if (!isBucketSize(ciphertextLength - AEAD_TAG_BYTES)) throw new CryptoError('malformed', 'group message has an impossible length');
  const ciphertext = r.bytes(ciphertextLength);
  const signed = bytes.slice(0, bytes.length - r.remaining);
  const signature = r.bytes(ED25519_SIGNATURE_BYTES);
  r.end();
  return { groupId, epoch, transcript, sender, counter, ciphertext, signature, signed };
}

/** Parses and validates the structure; returns the cleartext header. Verifies nothing. */
export function peekGroupMessage(bytes: Uint8Array): GroupMessageHeader {
  const { groupId, epoch, transcript, sender, counter } = parseGroupMessage(bytes);
  return { groupId, epoch, transcript, sender, counter };
}

/**
 * Decrypts a message with the sender's chain for its group and epoch. Order: structure; the header
 * names this chain's group (wrong_group), epoch (wrong_epoch), transcript (fork: the sender is on
 * another history of this epoch) and sender (invalid_argument: the caller picked the wrong chain);
 * the signature (bad_signature) before any key derivation, so a
 * forged message costs no chain steps and cannot move the chain; the counter (duplicate_message
 * for a key already used or evicted, too_far_ahead beyond GROUP_MAX_SKIP); then AEAD and padding,
 * which fail as a coarse decrypt_failed. On any error the input state is unchanged.
 */
export function decryptGroupMessage(theirs: TheirSenderKey, bytes: Uint8Array): { state: TheirSenderKey; plaintext: Uint8Array } {
  const m = parseGroupMessage(bytes);
  if (!equalBytes(m.groupId, theirs.groupId)) throw new CryptoError('wrong_group', 'group message is for another group');
  if (m.epoch !== theirs.epoch) {
    throw new CryptoError('wrong_epoch', `group message is for epoch ${m.epoch}, this key is for epoch ${theirs.epoch}`);
  }
  if (!equalBytes(m.transcript, theirs.transcript)) throw new CryptoError('fork', `group message of ${m.sender} was sent on another history of epoch ${m.epoch}`);
  if (m.sender !== theirs.sender) throw new CryptoError('invalid_argument', 'sender key of another member');
  if (!verify(theirs.signPublic, signatureMessage(m.signed), m.signature)) {
    throw new CryptoError('bad_signature', `group message signature of ${m.sender} does not verify`);
  }

  let messageKey: Uint8Array;
  let chainKey = theirs.chainKey;
  let counter = theirs.counter;
  let skipped: SkippedGroupKey[] = theirs.skipped;
  if (m.counter < theirs.counter) {
    const found = theirs.skipped.find((s) => s.counter === m.counter);
    if (found === undefined) throw new CryptoError('duplicate_message', `group message ${m.counter} was already received`);
    messageKey = found.messageKey;
    skipped = theirs.skipped.filter((s) => s !== found);
  } else {
    if (m.counter - theirs.counter > GROUP_MAX_SKIP) {
      throw new CryptoError('too_far_ahead', `group message ${m.counter} is more than ${GROUP_MAX_SKIP} ahead`);
    }
    const added: SkippedGroupKey[] = [];
    let mk: Uint8Array;
    for (;;) {
      [chainKey, mk] = groupChainStep(chainKey);
      if (counter === m.counter) break;
      added.push({ counter, messageKey: mk });
      counter++;
    }
    messageKey = mk;
    counter++;
    skipped = [...theirs.skipped, ...added];
    // Oldest first out: a message held back longer than GROUP_MAX_SKIPPED_KEYS others is lost.
    if (skipped.length > GROUP_MAX_SKIPPED_KEYS) skipped = skipped.slice(skipped.length - GROUP_MAX_SKIPPED_KEYS);
  }

  const { key, nonce } = groupMessageKeys(messageKey);
  let plaintext: Uint8Array;
  try {
    plaintext = unpad(aeadOpen(key, nonce, m.ciphertext, groupMessageAd(m)));
  } catch {
    throw new CryptoError('decrypt_failed', 'message could not be decrypted');
  } finally {
    wipe(key);
  }
  return { state: { ...theirs, counter, chainKey, skipped }, plaintext };
}
