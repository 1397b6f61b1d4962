// The face the client uses for pairwise messaging: X3DH to start, the Double Ratchet after, padding
// inside, one binary envelope on the wire (docs/PROTOCOL.md "Envelope" and "Session state").
//
//   PreKeyMessage = u8(MESSAGE_VERSION) || u8(ENVELOPE_TYPE_PREKEY) || X3DH header || ratchet header || ciphertext
//   Message       = u8(MESSAGE_VERSION) || u8(ENVELOPE_TYPE_MESSAGE) || ratchet header || ciphertext
//
// The initiator sends PreKeyMessages until a reply decrypts, so whichever of its first messages
// arrives first can set up the responder's session. Every failure of acceptPreKeyMessage and
// decryptMessage leaves crypto/ coarse (decrypt_failed, duplicate_message or too_far_ahead) — but
// for an envelope of another version, which is unsupported_version: that is read from the first
// byte before any crypto, tells the sender nothing secret and tells the user what to do. A failure
// never changes the state the caller holds: the new state is returned only on success.
import {
  AEAD_TAG_BYTES,
  ENVELOPE_TYPE_MESSAGE,
  ENVELOPE_TYPE_PREKEY,
  MESSAGE_VERSION,
  PROTOCOL_VERSION,
  RATCHET_HEADER_BYTES,
  SESSION_STATE_TAG,
} from './consts.js';
import { concat, lp, Reader, u8, wipe } from './encoding.js';
import { coarse, CryptoError } from './errors.js';
import { readPublicIdentity, writePublicIdentity, type IdentityKeyPair, type PublicIdentity } from './identity.js';
import { isMessageBucketSize, messagePaddedLength, padMessageInto, unpaddedMessageLength } from './padding.js';
import type { PreKeyBundle } from './prekeys.js';
import {
  encodeRatchetState,
  ratchetDecrypt,
  ratchetEncrypt,
  ratchetInitAlice,
  ratchetInitBob,
  readHeader,
  readRatchetState,
  type RatchetHeader,
  type RatchetState,
  writeHeader,
} from './ratchet.js';
import type { RandomBytes } from './sodium.js';
import { encodeAddress, readAddress, type Address } from './types.js';
import {
  encodeX3DHHeader,
  readX3DHHeader,
  x3dhInitiate,
  x3dhRespond,
  type PreKeyStore,
  type X3DHInitHeader,
} from './x3dh.js';

/** One pairwise session with one device of a peer. Immutable by contract: operations return a new one. */
export interface SessionState {
  readonly theirAddress: Address;
  readonly theirIdentity: PublicIdentity;
  /** The X3DH associated data; every ratchet message is authenticated under AD || header. */
  readonly associatedData: Uint8Array;
  /** Initiator only: the X3DH header repeated in each PreKeyMessage until a reply decrypts. */
  readonly pendingPreKey: X3DHInitHeader | null;
  readonly ratchet: RatchetState;
}

export type EnvelopeType = 'prekey' | 'message';

export interface Envelope {
  type: EnvelopeType;
  /** Present exactly when type is 'prekey'. */
  preKey: X3DHInitHeader | null;
  header: RatchetHeader;
  /** AEAD output: padded plaintext (a padding bucket) || 16-byte tag. */
  ciphertext: Uint8Array;
}

// ---- envelope --------------------------------------------------------------------------------

export function encodeEnvelope(e: Envelope): Uint8Array {
  if ((e.type === 'prekey') !== (e.preKey !== null)) throw new CryptoError('invalid_argument', 'prekey header iff prekey envelope');
  if (!(e.ciphertext instanceof Uint8Array)) throw new CryptoError('invalid_argument', 'ciphertext must be bytes');
  // Written in place into one buffer: the envelope is about 1.2 KiB for a 1 KiB message.
  const preKey = e.preKey === null ? null : encodeX3DHHeader(e.preKey);
  const front = envelopeFrontLength(preKey);
  const out = new Uint8Array(front + e.ciphertext.length);
  writeEnvelopeFront(out, preKey, e.header);
  out.set(e.ciphertext, front);
  return out;
}

/** The bytes before the ciphertext: version, type, the X3DH header if any, the ratchet header. */
function envelopeFrontLength(preKey: Uint8Array | null): number {
  return 2 + (preKey?.length ?? 0) + RATCHET_HEADER_BYTES;
}

/** Writes the envelope's front (envelopeFrontLength bytes) at the start of `out`. */
function writeEnvelopeFront(out: Uint8Array, preKey: Uint8Array | null, header: RatchetHeader): void {
  out[0] = MESSAGE_VERSION;
  out[1] = preKey === null ? ENVELOPE_TYPE_MESSAGE : ENVELOPE_TYPE_PREKEY;
  if (preKey !== null) out.set(preKey, 2);
  writeHeader(out, 2 + (preKey?.length ?? 0), header);
}

/**
 * Structure only, before any crypto: version first (a later version may be laid out differently),
 * then the type, the headers at their exact sizes, and a ciphertext whose length is a padding
 * bucket plus the tag, so a truncated or padded-out message never reaches libsodium.
 */
export function parseEnvelope(bytes: Uint8Array): Envelope {
  return readEnvelope(bytes, false);
}

/**
 * parseEnvelope; with `ciphertextView` the ciphertext and the ratchet header's key and nonce are
 * views into `bytes`, not copies, for the decrypt paths, which hand them to the AEAD (which copies
 * them) or copy what they keep (ratchet.ts), and return nothing that points into the envelope.
 */
function readEnvelope(bytes: Uint8Array, ciphertextView: boolean): Envelope {
  if (isOtherVersion(bytes)) throw new CryptoError('unsupported_version', `envelope version ${bytes[0]}`);
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== MESSAGE_VERSION) throw new CryptoError('malformed', `not an envelope (first bytes ${version}, ${bytes[1]})`);
  const typeByte = r.u8();
  if (typeByte !== ENVELOPE_TYPE_PREKEY && typeByte !== ENVELOPE_TYPE_MESSAGE) {
    throw new CryptoError('malformed', `unknown envelope type ${typeByte}`);
  }
  const preKey = typeByte === ENVELOPE_TYPE_PREKEY ? readX3DHHeader(r) : null;
  const header = readHeader(r, ciphertextView);
  const ciphertext = ciphertextView ? r.view(r.remaining) : r.bytes(r.remaining);
  if (!isMessageBucketSize(ciphertext.length - AEAD_TAG_BYTES)) {
    throw new CryptoError('malformed', `ciphertext length ${ciphertext.length} is not a padding bucket plus tag`);
  }
  return { type: typeByte === ENVELOPE_TYPE_PREKEY ? 'prekey' : 'message', preKey, header, ciphertext };
}

/** Peeks at a whole envelope's type after validating its structure (throws malformed/unsupported_version). */
export function messageType(envelope: Uint8Array): EnvelopeType {
  return parseEnvelope(envelope).type;
}

// ---- the session operations --------------------------------------------------------------------

/** Starts a session from a peer's bundle (verified by X3DH). The first encrypt emits a PreKeyMessage. */
export function initiateSession(
  our: IdentityKeyPair,
  ourAddress: Address,
  theirBundle: PreKeyBundle,
  random: RandomBytes,
  now: number,
): SessionState {
  const x = x3dhInitiate(our, ourAddress, theirBundle, random, now);
  const ratchet = ratchetInitAlice(x.sharedSecret, x.theirRatchetKey);
  wipe(x.sharedSecret);
  return {
    theirAddress: { ...theirBundle.address },
    theirIdentity: copyIdentity(theirBundle.identity),
    associatedData: x.associatedData,
    pendingPreKey: x.header,
    ratchet,
  };
}

export function encryptMessage(
  state: SessionState,
  plaintext: Uint8Array,
  random: RandomBytes,
): { state: SessionState; envelope: Uint8Array } {
  const size = messagePaddedLength(plaintext.length); // throws invalid_argument past MAX_PLAINTEXT_BYTES
  if (padScratch.length < size) padScratch = new Uint8Array(size);
  const preKey = state.pendingPreKey === null ? null : encodeX3DHHeader(state.pendingPreKey);
  const front = envelopeFrontLength(preKey);
  let r: ReturnType<typeof ratchetEncrypt>;
  // The padded plaintext is built in one buffer kept for every message and wiped after each, and
  // the ciphertext is sealed straight into the envelope behind its front: one allocation per
  // message where there were three of its size (issue 20).
  const padded = padMessageInto(plaintext, padScratch);
  try {
    r = ratchetEncrypt(state.ratchet, state.associatedData, padded, random, front);
  } finally {
    wipe(padded);
  }
  writeEnvelopeFront(r.sealed, preKey, r.header);
  // Immutable by contract, so the new session shares every field but the ratchet with the old one.
  return { state: withRatchet(state, state.pendingPreKey, r.state), envelope: r.sealed };
}

/** Where encryptMessage pads: grown to the largest bucket used (at most MAX_PADDED_BYTES), zero between uses. */
let padScratch = new Uint8Array(2048);

/**
 * The responder's side of a first message: X3DH from the envelope's header, then the ratchet.
 * Nothing is deleted here: the caller removes `usedOneTimePreKeyId` from its store after this
 * returns, so a forged first message can never burn a one-time prekey, and a replayed one finds
 * its prekey gone and fails.
 */
export function acceptPreKeyMessage(
  our: IdentityKeyPair,
  ourAddress: Address,
  store: PreKeyStore,
  theirAddress: Address,
  envelope: Uint8Array,
): { state: SessionState; plaintext: Uint8Array; usedOneTimePreKeyId: number | null; theirIdentity: PublicIdentity } {
  checkEnvelopeVersion(envelope);
  try {
    const e = readEnvelope(envelope, true);
    if (e.preKey === null) throw new CryptoError('malformed', 'not a prekey message');
    const x = x3dhRespond(our, ourAddress, store, theirAddress, e.preKey);
    const initial = ratchetInitBob(x.sharedSecret, x.ourRatchetKeyPair);
    wipe(x.sharedSecret, x.ourRatchetKeyPair.privateKey);
    const r = ratchetDecrypt(initial, x.associatedData, e.header, e.ciphertext);
    const plaintext = unpadView(r.plaintext);
    const state: SessionState = {
      theirAddress: { ...theirAddress },
      theirIdentity: copyIdentity(e.preKey.identity),
      associatedData: x.associatedData,
      pendingPreKey: null,
      ratchet: r.state,
    };
    return { state, plaintext, usedOneTimePreKeyId: x.usedOneTimePreKeyId, theirIdentity: copyIdentity(e.preKey.identity) };
  } catch (err) {
    throw coarse(err);
  }
}

/**
 * Decrypts a Message, or a PreKeyMessage for a session that already exists (the initiator repeats
 * the X3DH header until it hears back; the ratchet message inside is decrypted with this session).
 * A PreKeyMessage that starts another session fails here; the caller may then try acceptPreKeyMessage.
 */
export function decryptMessage(state: SessionState, envelope: Uint8Array): { state: SessionState; plaintext: Uint8Array } {
  checkEnvelopeVersion(envelope);
  try {
    const e = readEnvelope(envelope, true);
    const r = ratchetDecrypt(state.ratchet, state.associatedData, e.header, e.ciphertext);
    const plaintext = unpadView(r.plaintext);
    // Any message that decrypts proves the peer holds the session: stop repeating the X3DH header.
    return { state: withRatchet(state, null, r.state), plaintext };
  } catch (err) {
    throw coarse(err);
  }
}

/** The session with a new ratchet (and pending header); spelled out, as object spread cost 2-4 % of a round trip. */
function withRatchet(state: SessionState, pendingPreKey: X3DHInitHeader | null, ratchet: RatchetState): SessionState {
  return {
    theirAddress: state.theirAddress,
    theirIdentity: state.theirIdentity,
    associatedData: state.associatedData,
    pendingPreKey,
    ratchet,
  };
}

export function sessionIdentity(state: SessionState): PublicIdentity {
  return copyIdentity(state.theirIdentity);
}

export function sessionPeer(state: SessionState): Address {
  return { ...state.theirAddress };
}

/**
 * The one refusal that is not coarse: an envelope whose first byte is another version (a peer on
 * an older or newer protocol). Read before any crypto, it tells the sender nothing it did not
 * send, and tells the user what to do. Anything after the first byte stays coarse.
 */
function checkEnvelopeVersion(envelope: Uint8Array): void {
  if (isOtherVersion(envelope)) throw new CryptoError('unsupported_version', `envelope version ${envelope[0]}`);
}

/**
 * An envelope of another version: a version byte other than ours before one of the envelope type
 * bytes. Bytes that do not even look like an envelope (a group record sent as a message body, say)
 * are malformed, not "another version".
 */
function isOtherVersion(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] !== MESSAGE_VERSION && (bytes[1] === ENVELOPE_TYPE_PREKEY || bytes[1] === ENVELOPE_TYPE_MESSAGE);
}

/**
 * Unpadding (padMessage's inverse) without a copy: the AEAD's output is a fresh buffer that nothing else holds, so the
 * plaintext is a view of it (its .buffer also holds the padding, which is no secret).
 */
function unpadView(padded: Uint8Array): Uint8Array {
  return padded.subarray(0, unpaddedMessageLength(padded));
}

function copyIdentity(p: PublicIdentity): PublicIdentity {
  return { dhPublic: p.dhPublic.slice(), signPublic: p.signPublic.slice(), signature: p.signature.slice() };
}

// ---- session serialisation -----------------------------------------------------------------------

/** The AD is 1 + 2 × (64 + address) bytes; an address is at most 2 + 32 + 4 bytes. */
const MAX_ASSOCIATED_DATA_BYTES = 1 + 2 * (64 + 38);

/**
 * u8(PROTOCOL_VERSION) || u8(SESSION_STATE_TAG) || encodeAddress(theirAddress) ||
 * theirIdentity (dhPublic 32 || signPublic 32 || signature 64) || lp(associatedData) ||
 * u8(0) | u8(1) || encodeX3DHHeader(pendingPreKey) || encodeRatchetState(ratchet) (to the end).
 */
export function encodeSession(s: SessionState): Uint8Array {
  return concat(
    u8(PROTOCOL_VERSION),
    u8(SESSION_STATE_TAG),
    encodeAddress(s.theirAddress),
    writePublicIdentity(s.theirIdentity),
    lp(s.associatedData),
    s.pendingPreKey === null ? u8(0) : concat(u8(1), encodeX3DHHeader(s.pendingPreKey)),
    encodeRatchetState(s.ratchet),
  );
}

/** Checks version, tag and every length and count before returning; no crypto runs here. */
export function parseSession(bytes: Uint8Array): SessionState {
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) throw new CryptoError('unsupported_version', `session state version ${version}`);
  const tag = r.u8();
  if (tag !== SESSION_STATE_TAG) throw new CryptoError('malformed', `session state: wrong format tag ${tag}`);
  const theirAddress = readAddress(r);
  const theirIdentity = readPublicIdentity(r);
  const associatedData = r.lp();
  if (associatedData.length === 0 || associatedData.length > MAX_ASSOCIATED_DATA_BYTES) {
    throw new CryptoError('malformed', `session state: associated data of ${associatedData.length} bytes`);
  }
  const flag = r.u8();
  if (flag !== 0 && flag !== 1) throw new CryptoError('malformed', `session state: bad pending flag ${flag}`);
  const pendingPreKey = flag === 1 ? readX3DHHeader(r) : null;
  const ratchet = readRatchetState(r);
  r.end();
  return { theirAddress, theirIdentity, associatedData, pendingPreKey, ratchet };
}
