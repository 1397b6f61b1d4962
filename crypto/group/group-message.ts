// Group messages: encrypted once with the sender's chain, signed with the sender's group signature
// key, fanned out by the relay. Receiving is transactional like the ratchet: every check runs on
// copies and the new state is returned only when the message decrypted. The cleartext header names
// the epoch and membership transcript the sender was on and the epoch its key was made in; they are
// in the AD, the transcript must equal the receiver's for that epoch (else `fork`, before any key is
// used) and the key must be one the epoch admits (else `stale_key`). Every message carries a random
// salt that the message key is expanded with, so a sender chain restored from an old copy (which
// derives the same message keys again) still never encrypts twice under one (key, nonce).
import {
  AEAD_TAG_BYTES,
  ED25519_SIGNATURE_BYTES,
  GROUP_FORMAT_TAGS,
  GROUP_ID_BYTES,
  GROUP_MAX_SKIP,
  GROUP_MAX_SKIPPED_KEYS,
  GROUP_MESSAGE_SALT_BYTES,
  GROUP_TRANSCRIPT_BYTES,
  GROUP_VERSION,
  LABELS,
} from '../consts.js';
import { aeadOpen, aeadSeal } from '../aead.js';
import { concat, equalBytes, Reader, u32, u8, utf8, wipe } from '../encoding.js';
import { CryptoError } from '../errors.js';
import { verify } from '../identity.js';
import { isBucketSize, pad, unpad } from '../padding.js';
import { sodium, type RandomBytes } from '../sodium.js';
import { checkKeyEpoch, groupChainStep, groupMessageKeys, type EpochView, type OurSenderKey, type SkippedGroupKey, type TheirSenderKey } from './sender-keys.js';
import { readGroupHeader, readUser, writeUser } from './wire.js';

/** The cleartext fields of a group message: what a receiver uses to pick the sender's chain. */
export interface GroupMessageHeader {
  groupId: Uint8Array;
  epoch: number; // the epoch of the state the sender sent on
  transcript: Uint8Array; // 32, the membership transcript the sender was on
  sender: string;
  keyEpoch: number; // the epoch the sender's key was made in (picks the chain)
  counter: number;
  salt: Uint8Array; // 16, random per message
}

/**
 * A group message parsed once (parseGroupMessage), so that a receiver carries one parse from the
 * message's arrival (its signature checked ahead) through peek to decrypt. Every structural check
 * of the format was made when it was made; peek, groupMessageSignatureInput and decrypt take it in
 * the bytes' place and check the rest exactly as for the bytes. Only an object parseGroupMessage
 * returned is taken (frozen; anything else is refused as invalid_argument). Its fields are its own
 * copy of the input: a later change to the input does not show through.
 */
export interface ParsedGroupMessage extends GroupMessageHeader {
  /** The input it was parsed from (only so a caller can tell which bytes it stands for). */
  readonly bytes: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly signature: Uint8Array;
  /** utf8(LABELS.groupMessageSignature) || signed part: what `verify` is given. */
  readonly signatureMessage: Uint8Array;
}

/** The parsed forms parseGroupMessage made: the only ones decrypt, peek and signature input take. */
const madeHere = new WeakSet<ParsedGroupMessage>();

const SIGNATURE_LABEL = utf8(LABELS.groupMessageSignature);

const COUNTER_MAX = 0xffffffff;

/** AD = groupId[32] || u32 epoch || transcript[32] || lp(utf8(sender)) || u32 keyEpoch || u32 counter || salt[16]. */
export function groupMessageAd(h: GroupMessageHeader): Uint8Array {
  return concat(h.groupId, u32(h.epoch), h.transcript, writeUser(h.sender), u32(h.keyEpoch), u32(h.counter), h.salt);
}

function signatureMessage(signed: Uint8Array): Uint8Array {
  return concat(SIGNATURE_LABEL, signed);
}

/**
 * GroupMessage = version || tag || groupId[32] || u32 epoch || transcript[32] || lp(sender) ||
 * u32 keyEpoch || u32 counter || salt[16] || ciphertext || signature[64], with ciphertext =
 * XChaCha20-Poly1305(key, nonce, pad(plaintext), AD), (key, nonce) = groupMessageKeys(mk, salt), and
 * signature = Ed25519(group signature key, utf8(LABELS.groupMessageSignature) || all before it).
 * `at` is the state we send on (its epoch and transcript go in the header; our key must be one it
 * admits). Returns our advanced chain; the input state is not modified.
 */
export function encryptGroupMessage(ours: OurSenderKey, at: EpochView, plaintext: Uint8Array, random: RandomBytes): { state: OurSenderKey; message: Uint8Array } {
  // The counter is a u32 on the wire: an exhausted chain must not wrap and reuse a key.
  if (ours.counter >= COUNTER_MAX) throw new CryptoError('invalid_argument', 'sender chain exhausted; create a new sender key');
  if (!equalBytes(ours.groupId, at.groupId)) throw new CryptoError('invalid_argument', 'sender key of another group');
  checkKeyEpoch(at, ours.epoch, ours.sender);
  const salt = random(GROUP_MESSAGE_SALT_BYTES);
  if (salt.length !== GROUP_MESSAGE_SALT_BYTES) throw new CryptoError('invalid_argument', 'random source returned a short salt');
  const padded = pad(plaintext);
  const [chainKey, messageKey] = groupChainStep(ours.chainKey);
  const { key, nonce } = groupMessageKeys(messageKey, salt);
  const header: GroupMessageHeader = { groupId: ours.groupId, epoch: at.epoch, transcript: at.transcript, sender: ours.sender, keyEpoch: ours.epoch, counter: ours.counter, salt };
  const ad = groupMessageAd(header);
  const ciphertext = aeadSeal(key, nonce, padded, ad);
  wipe(messageKey, key, padded);
  const signed = concat(u8(GROUP_VERSION), u8(GROUP_FORMAT_TAGS.groupMessage), ad, ciphertext);
  const signature = sodium().crypto_sign_detached(signatureMessage(signed), ours.signPrivate);
  return { state: { ...ours, counter: ours.counter + 1, chainKey }, message: concat(signed, signature) };
}

/**
 * A group message's signature checked ahead of time, away from `decryptGroupMessage` (a client
 * verifies on another thread while it stores what came before): the exact inputs `verify` was given
 * and its outcome. It stands for the check only when all three inputs are byte-equal to what
 * decryptGroupMessage would verify; anything else is verified again, in line.
 */
export interface SignatureCheck {
  signPublic: Uint8Array;
  message: Uint8Array; // utf8(LABELS.groupMessageSignature) || signed
  signature: Uint8Array;
  valid: boolean;
  /**
   * The message the check was made for, as parsed on its arrival: a caller may decrypt it in the
   * bytes' place (one parse from arrival to decrypt). No part of the check: decrypt compares the
   * three inputs above with the message it decrypts, whichever form it was given.
   */
  parsed?: ParsedGroupMessage;
}

/**
 * What `verify` is given for `bytes`' signature, for a check made ahead (SignatureCheck): the
 * labelled signed part and the signature, with the cleartext header (peekGroupMessage's) the
 * caller picks the key by: the receiving chain's `signPublic`, as decryptGroupMessage's caller
 * would. Verifies nothing; throws as parsing does.
 */
export function groupMessageSignatureInput(message: Uint8Array | ParsedGroupMessage): { header: GroupMessageHeader; message: Uint8Array; signature: Uint8Array } {
  const m = parsedOf(message);
  return { header: headerOf(m), message: m.signatureMessage, signature: m.signature };
}

/**
 * A check made ahead counts only for the very same key, bytes and signature, and only when it
 * passed. All three are public (the signed message as sent, its signature, the sender's public
 * key), so they are compared with a plain compare, not in constant time.
 */
function checkedAhead(c: SignatureCheck | undefined, signPublic: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return c !== undefined && c.valid && samePublicBytes(c.signPublic, signPublic) && samePublicBytes(c.message, message) && samePublicBytes(c.signature, signature);
}

/** Byte equality for public data only (stops at the first difference): never for a key, MAC or tag. */
function samePublicBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `message` parsed: bytes are parsed here, a parsed form is taken only if parseGroupMessage made it. */
function parsedOf(message: Uint8Array | ParsedGroupMessage): ParsedGroupMessage {
  if (message instanceof Uint8Array) return parseGroupMessage(message);
  if (!madeHere.has(message)) throw new CryptoError('invalid_argument', 'not a group message parsed by parseGroupMessage');
  return message;
}

/**
 * Parses and validates a group message's structure (version, tag, lengths, username, counter
 * range, a ciphertext length an honest sender produces) once; verifies nothing. Throws as
 * peekGroupMessage does. The result stands for the bytes in peek, groupMessageSignatureInput and
 * decrypt (ParsedGroupMessage).
 */
export function parseGroupMessage(bytes: Uint8Array): ParsedGroupMessage {
  // One copy of the input, behind the signature's label: the labelled signed part is a view of it
  // (no second copy to sign), and so is the ciphertext (it only goes to the AEAD).
  const own = new Uint8Array(SIGNATURE_LABEL.length + bytes.length);
  own.set(SIGNATURE_LABEL, 0);
  own.set(bytes, SIGNATURE_LABEL.length);
  const r = new Reader(own.subarray(SIGNATURE_LABEL.length));
  readGroupHeader(r, GROUP_FORMAT_TAGS.groupMessage, 'group message');
  const groupId = r.bytes(GROUP_ID_BYTES);
  const epoch = r.u32();
  const transcript = r.bytes(GROUP_TRANSCRIPT_BYTES);
  const sender = readUser(r);
  const keyEpoch = r.u32();
  const counter = r.u32();
  // Senders stop before 2^32 - 1 (see encrypt), so the receiver's next counter always fits a u32.
  if (counter >= COUNTER_MAX) throw new CryptoError('malformed', 'group message counter out of range');
  const salt = r.bytes(GROUP_MESSAGE_SALT_BYTES);
  const ciphertextLength = r.remaining - ED25519_SIGNATURE_BYTES;
  // Only a padding bucket plus the tag is a length an honest sender produces: anything else is
  // refused before the signature check and the AEAD, and never reaches libsodium.
  if (!isBucketSize(ciphertextLength - AEAD_TAG_BYTES)) throw new CryptoError('malformed', 'group message has an impossible length');
  const ciphertext = r.view(ciphertextLength);
  const signatureMessage = own.subarray(0, own.length - r.remaining);
  // A copy, not a view: a view would take the whole message along where the signature is sent.
  const signature = r.bytes(ED25519_SIGNATURE_BYTES);
  r.end();
  const m: ParsedGroupMessage = Object.freeze({ groupId, epoch, transcript, sender, keyEpoch, counter, salt, bytes, ciphertext, signature, signatureMessage });
  madeHere.add(m);
  return m;
}

/** Parses and validates the structure; returns the cleartext header. Verifies nothing. */
export function peekGroupMessage(message: Uint8Array | ParsedGroupMessage): GroupMessageHeader {
  return headerOf(parsedOf(message));
}

/** The cleartext header of a parsed message, without its ciphertext and signature. */
function headerOf({ groupId, epoch, transcript, sender, keyEpoch, counter, salt }: ParsedGroupMessage): GroupMessageHeader {
  return { groupId, epoch, transcript, sender, keyEpoch, counter, salt };
}

/**
 * Decrypts a message with the sender's chain. `at` is our state at the message's epoch (its
 * transcript and keyFloor). Order: structure; the header names this chain's group (wrong_group),
 * the epoch of `at` (wrong_epoch: the caller passed another epoch), its transcript (fork: the
 * sender is on another history of this epoch), this chain's key epoch (wrong_epoch) and sender
 * (invalid_argument: the caller picked the wrong chain), and a key epoch the epoch admits
 * (stale_key: the sender did not make a new key after a removal); the signature (bad_signature)
 * before any key derivation, so a forged message costs no chain steps and cannot move the chain;
 * the counter (duplicate_message for a key already used or evicted, too_far_ahead beyond
 * GROUP_MAX_SKIP); then AEAD and padding, which fail as a coarse decrypt_failed. On any error the
 * input state is unchanged. `checked`: the signature's check made ahead (SignatureCheck), used in
 * the signature's place in that order when it matches exactly and passed; else verified here.
 */
export function decryptGroupMessage(theirs: TheirSenderKey, at: EpochView, message: Uint8Array | ParsedGroupMessage, checked?: SignatureCheck): { state: TheirSenderKey; plaintext: Uint8Array } {
  const m = parsedOf(message);
  if (!equalBytes(m.groupId, theirs.groupId) || !equalBytes(m.groupId, at.groupId)) throw new CryptoError('wrong_group', 'group message is for another group');
  if (m.epoch !== at.epoch) throw new CryptoError('wrong_epoch', `group message is for epoch ${m.epoch}, not epoch ${at.epoch}`);
  if (!equalBytes(m.transcript, at.transcript)) throw new CryptoError('fork', `group message of ${m.sender} was sent on another history of epoch ${m.epoch}`);
  if (m.keyEpoch !== theirs.epoch) {
    throw new CryptoError('wrong_epoch', `group message is under a key of epoch ${m.keyEpoch}, this key is of epoch ${theirs.epoch}`);
  }
  if (m.sender !== theirs.sender) throw new CryptoError('invalid_argument', 'sender key of another member');
  checkKeyEpoch(at, m.keyEpoch, m.sender);
  const signedMessage = m.signatureMessage;
  if (!checkedAhead(checked, theirs.signPublic, signedMessage, m.signature) && !verify(theirs.signPublic, signedMessage, m.signature)) {
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

  const { key, nonce } = groupMessageKeys(messageKey, m.salt);
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
