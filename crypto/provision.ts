// Linking a new device (docs/PROTOCOL.md D.8–D.11): the pairing code, the link request the new
// device leaves on the relay, and the provisioning message an existing device seals to it.
//
// Shaped after Signal's provisioning (a new device's ephemeral X25519 key, a message sealed to it
// through an anonymous relay channel), with two departures: the code is typed, not scanned, so the
// ephemeral key cannot ride in it; instead the code carries a 50-bit secret the relay never sees,
// which MACs the request and salts the message key. And the request is signed by the new device's
// identity, so the fingerprint the approver confirms covers the key the message is sealed to.
import {
  ACCOUNT_FORMAT_TAGS,
  AEAD_NONCE_BYTES,
  ED25519_SIGNATURE_BYTES,
  LABELS,
  MAX_DEVICES,
  PAIRING_CHANNEL_CHARS,
  PAIRING_CODE_ALPHABET,
  PAIRING_CODE_CHARS,
  PROTOCOL_VERSION,
  PROVISION_CODE_KEY_BYTES,
  PROVISION_MAC_BYTES,
  PROVISION_MAX_CONTACTS,
  PROVISION_MESSAGE_MAX_BYTES,
  PROVISION_REQUEST_HASH_BYTES,
  X25519_KEY_BYTES,
} from './consts.js';
import { ACCOUNT_KEY_PAIR_BYTES, encodeAccountKeyPair, parseAccountKeyPair, type AccountKeyPair } from './account.js';
import { aeadOpen, aeadSeal } from './aead.js';
import { dh, generateKeyPair } from './dh.js';
import { parseDeviceList } from './device-list.js';
import { concat, equalBytes, fromUtf8, lp, Reader, u16, u32, u64, u8, utf8, wipe } from './encoding.js';
import { CryptoError, isCryptoError } from './errors.js';
import { publicIdentity, readPublicIdentity, sign, verify, verifyIdentity, writePublicIdentity, type IdentityKeyPair, type PublicIdentity } from './identity.js';
import { hkdf } from './kdf.js';
import { sodium, type RandomBytes } from './sodium.js';
import { isValidDeviceId, isValidUsername, readFormatHeader, type KeyPair } from './types.js';

// ---- the pairing code -------------------------------------------------------------------------

export interface PairingCode {
  /** All 16 characters, normalised (lower case, no separators): what the code key is made from. */
  code: string;
  /** The first PAIRING_CHANNEL_CHARS: the relay's channel name. The rest never leaves the devices. */
  channel: string;
}

/** 10 random bytes as 16 base32 characters (5 bits each, most significant first). */
export function generatePairingCode(random: RandomBytes): PairingCode {
  const bytes = random((PAIRING_CODE_CHARS * 5) / 8);
  if (bytes.length !== 10) throw new CryptoError('invalid_argument', 'random source returned a short code');
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let code = '';
  for (let i = PAIRING_CODE_CHARS - 1; i >= 0; i--) code += PAIRING_CODE_ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)];
  return { code, channel: code.slice(0, PAIRING_CHANNEL_CHARS) };
}

/** "abcd-efgh-jkmn-pqrs": how a code is shown. */
export function formatPairingCode(c: PairingCode): string {
  return c.code.replace(/(.{4})(?!$)/g, '$1-');
}

/**
 * What the user typed: case, spaces and dashes are ignored, and i/l read as 1, o as 0 (Crockford).
 * Anything else that is not 16 characters of the alphabet is bad_code, before any look-up.
 */
export function parsePairingCode(typed: string): PairingCode {
  if (typeof typed !== 'string' || typed.length > 64) throw new CryptoError('bad_code', 'a pairing code is 16 characters');
  const code = typed
    .toLowerCase()
    .replace(/[\s-]/g, '')
    .replace(/[il]/g, '1')
    .replace(/o/g, '0');
  if (code.length !== PAIRING_CODE_CHARS || ![...code].every((ch) => PAIRING_CODE_ALPHABET.includes(ch))) {
    throw new CryptoError('bad_code', 'a pairing code is 16 characters of 0-9 and a-z without u, like abcd-efgh-jkmn-pqrs');
  }
  return { code, channel: code.slice(0, PAIRING_CHANNEL_CHARS) };
}

/** codeKey = HKDF(salt = empty, IKM = utf8(code), info = LABELS.provisionCode, 32). */
export function pairingCodeKey(c: PairingCode): Uint8Array {
  return hkdf(new Uint8Array(0), utf8(c.code), LABELS.provisionCode, PROVISION_CODE_KEY_BYTES);
}

// ---- the link request (new device → relay → approver) -----------------------------------------

export interface LinkRequest {
  user: string;
  identity: PublicIdentity; // the new device's identity (what the approver's user confirms)
  ephemeralPublic: Uint8Array; // 32, X25519: the provisioning message is sealed to it
  createdAt: number; // ms, the new device's clock; shown, never enforced
  bytes: Uint8Array; // the whole request as sent
}

/**
 * body = version || tag || lp(utf8(user)) || publicIdentity[128] || ephemeralPublic[32] || u64(createdAt)
 * request = body || Ed25519(identity.sign, utf8(LABELS.provisionRequestSignature) || body)
 *           || BLAKE2b-256(key = codeKey, body || signature)
 */
export function makeLinkRequest(
  identity: IdentityKeyPair,
  ephemeral: KeyPair,
  fields: { user: string; createdAt: number; code: PairingCode },
): Uint8Array {
  if (!isValidUsername(fields.user)) throw new CryptoError('invalid_argument', `invalid username: ${JSON.stringify(fields.user)}`);
  if (ephemeral.publicKey.length !== X25519_KEY_BYTES) throw new CryptoError('invalid_argument', 'ephemeral key must be 32 bytes');
  const body = concat(
    u8(PROTOCOL_VERSION),
    u8(ACCOUNT_FORMAT_TAGS.linkRequest),
    lp(utf8(fields.user)),
    writePublicIdentity(publicIdentity(identity)),
    ephemeral.publicKey,
    u64(fields.createdAt),
  );
  const signature = sign(identity, concat(utf8(LABELS.provisionRequestSignature), body));
  const signed = concat(body, signature);
  return concat(signed, requestMac(pairingCodeKey(fields.code), signed));
}

function requestMac(codeKey: Uint8Array, signed: Uint8Array): Uint8Array {
  return sodium().crypto_generichash(PROVISION_MAC_BYTES, signed, codeKey);
}

/**
 * The approver's side: structure first (every length, no trailing bytes); then the MAC under the
 * code typed (wrong_code: the code is wrong, or the request is not the one the new device left —
 * a relay's substitute); then the identity's self-signature and the request signature
 * (bad_signature). Only then is the identity shown for confirmation.
 */
export function openLinkRequest(code: PairingCode, bytes: Uint8Array): LinkRequest {
  const r = new Reader(bytes);
  readFormatHeader(r, ACCOUNT_FORMAT_TAGS.linkRequest, 'link request');
  const user = fromUtf8(r.lp());
  if (!isValidUsername(user)) throw new CryptoError('malformed', 'link request: invalid username');
  const identity = readPublicIdentity(r);
  const ephemeralPublic = r.bytes(X25519_KEY_BYTES);
  const createdAt = r.u64();
  const bodyEnd = bytes.length - r.remaining;
  const signature = r.bytes(ED25519_SIGNATURE_BYTES);
  const mac = r.bytes(PROVISION_MAC_BYTES);
  r.end();
  const signed = bytes.subarray(0, bodyEnd + ED25519_SIGNATURE_BYTES);
  const codeKey = pairingCodeKey(code);
  const ok = sodium().memcmp(requestMac(codeKey, signed), mac);
  wipe(codeKey);
  if (!ok) throw new CryptoError('wrong_code', 'the link request does not match this pairing code');
  verifyIdentity(identity);
  if (!verify(identity.signPublic, concat(utf8(LABELS.provisionRequestSignature), bytes.subarray(0, bodyEnd)), signature)) {
    throw new CryptoError('bad_signature', 'link request is not signed by the identity it names');
  }
  return { user, identity, ephemeralPublic, createdAt, bytes: bytes.slice() };
}

/** requestHash = BLAKE2b-256(utf8(LABELS.provisionRequestHash) || request). */
export function linkRequestHash(request: Uint8Array): Uint8Array {
  return sodium().crypto_generichash(PROVISION_REQUEST_HASH_BYTES, concat(utf8(LABELS.provisionRequestHash), request), null);
}

// ---- the provisioning message (approver → relay → new device) ---------------------------------

export type ProvisionTrust = 'unverified' | 'verified' | 'changed';
const TRUST_CODES: Record<ProvisionTrust, number> = { unverified: 0, verified: 1, changed: 2 };
const TRUST_NAMES: ProvisionTrust[] = ['unverified', 'verified', 'changed'];

/** A contact as the approver holds it: the trusted identity, and the new one seen while `changed`. */
export interface ProvisionContact {
  user: string;
  trust: ProvisionTrust;
  identity: PublicIdentity;
  pendingIdentity: PublicIdentity | null;
}

export interface ProvisionMessage {
  user: string;
  accountKey: AccountKeyPair;
  /** The account's newest signed device list the approver holds (its bytes), or null for none yet. */
  deviceList: Uint8Array | null;
  /** The device id the ticket is bound to: the id the new device will have. */
  device: number;
  /** The relay's one-time device ticket (opaque text): redeemed for a login of `device`. */
  ticket: string;
  contacts: ProvisionContact[];
}

/**
 * plaintext = version || tag || lp(utf8(user)) || accountKeyPair[66] || lp(deviceList or empty)
 *             || u32(device) || lp(utf8(ticket)) || u16(n) || contact × n
 * contact   = lp(utf8(user)) || u8(trust) || publicIdentity[128] || u8(hasPending) || [publicIdentity[128]]
 */
export function encodeProvisionMessage(m: ProvisionMessage): Uint8Array {
  if (!isValidUsername(m.user)) throw new CryptoError('invalid_argument', `invalid username: ${JSON.stringify(m.user)}`);
  if (!isValidDeviceId(m.device)) throw new CryptoError('invalid_argument', `invalid device id ${m.device}`);
  if (!isTicket(m.ticket)) throw new CryptoError('invalid_argument', 'invalid device ticket');
  if (m.contacts.length > PROVISION_MAX_CONTACTS) throw new CryptoError('invalid_argument', `at most ${PROVISION_MAX_CONTACTS} contacts`);
  const contacts = m.contacts.map((c) => {
    if (!isValidUsername(c.user)) throw new CryptoError('invalid_argument', `invalid contact name: ${JSON.stringify(c.user)}`);
    return concat(
      lp(utf8(c.user)),
      u8(TRUST_CODES[c.trust]),
      writePublicIdentity(c.identity),
      c.pendingIdentity === null ? u8(0) : concat(u8(1), writePublicIdentity(c.pendingIdentity)),
    );
  });
  const out = concat(
    u8(PROTOCOL_VERSION),
    u8(ACCOUNT_FORMAT_TAGS.provisionMessage),
    lp(utf8(m.user)),
    encodeAccountKeyPair(m.accountKey),
    lp(m.deviceList ?? new Uint8Array(0)),
    u32(m.device),
    lp(utf8(m.ticket)),
    u16(contacts.length),
    ...contacts,
  );
  if (out.length > PROVISION_MESSAGE_MAX_BYTES) throw new CryptoError('invalid_argument', `provisioning message over ${PROVISION_MESSAGE_MAX_BYTES} bytes`);
  return out;
}

/** A relay device ticket: 43 base64url characters (32 random bytes), as a bearer token. */
function isTicket(t: unknown): t is string {
  return typeof t === 'string' && /^[A-Za-z0-9_-]{43}$/.test(t);
}

/** Structure of the plaintext; every field checked, the account key against its seed. */
export function parseProvisionMessage(bytes: Uint8Array): ProvisionMessage {
  if (bytes.length > PROVISION_MESSAGE_MAX_BYTES) throw new CryptoError('malformed', 'provisioning message too long');
  const r = new Reader(bytes);
  readFormatHeader(r, ACCOUNT_FORMAT_TAGS.provisionMessage, 'provisioning message');
  const user = fromUtf8(r.lp());
  if (!isValidUsername(user)) throw new CryptoError('malformed', 'provisioning message: invalid username');
  const accountKey = parseAccountKeyPair(r.bytes(ACCOUNT_KEY_PAIR_BYTES));
  const listBytes = r.lp();
  const deviceList = listBytes.length === 0 ? null : listBytes;
  if (deviceList !== null) {
    const list = parseDeviceList(deviceList);
    if (list.user !== user || !equalBytes(list.accountKey, accountKey.publicKey)) {
      throw new CryptoError('malformed', 'provisioning message: the device list is not of this account');
    }
    if (list.devices.length >= MAX_DEVICES) throw new CryptoError('malformed', 'provisioning message: the device list is full');
  }
  const device = r.u32();
  if (!isValidDeviceId(device)) throw new CryptoError('malformed', `provisioning message: invalid device id ${device}`);
  const ticket = fromUtf8(r.lp());
  if (!isTicket(ticket)) throw new CryptoError('malformed', 'provisioning message: invalid device ticket');
  const n = r.u16();
  if (n > PROVISION_MAX_CONTACTS) throw new CryptoError('malformed', `provisioning message: ${n} contacts`);
  const contacts: ProvisionContact[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const cu = fromUtf8(r.lp());
    if (!isValidUsername(cu) || seen.has(cu)) throw new CryptoError('malformed', 'provisioning message: invalid or repeated contact');
    seen.add(cu);
    const trust = TRUST_NAMES[r.u8()];
    if (trust === undefined) throw new CryptoError('malformed', 'provisioning message: unknown trust state');
    const identity = readPublicIdentity(r);
    const has = r.u8();
    if (has > 1) throw new CryptoError('malformed', 'provisioning message: bad pending flag');
    const pendingIdentity = has === 1 ? readPublicIdentity(r) : null;
    if ((trust === 'changed') !== (pendingIdentity !== null)) throw new CryptoError('malformed', 'provisioning message: a pending identity goes with trust changed only');
    contacts.push({ user: cu, trust, identity, pendingIdentity });
  }
  r.end();
  return { user, accountKey, deviceList, device, ticket, contacts };
}

/**
 * header   = version || tag || approverEphemeral[32] || nonce[24]
 * key      = HKDF(salt = codeKey, IKM = DH(approverEphemeral, request.ephemeralPublic), info = LABELS.provisionMessage, 32)
 * envelope = header || XChaCha20-Poly1305(key, nonce, plaintext, AD = header || linkRequestHash(request))
 * The approver's ephemeral key is used once and wiped; `random` gives it and the nonce.
 */
export function sealProvisionMessage(code: PairingCode, request: LinkRequest, message: ProvisionMessage, random: RandomBytes): Uint8Array {
  const plaintext = encodeProvisionMessage(message);
  const eph = generateKeyPair(random);
  const nonce = random(AEAD_NONCE_BYTES);
  if (nonce.length !== AEAD_NONCE_BYTES) throw new CryptoError('invalid_argument', 'random source returned a short nonce');
  const header = concat(u8(PROTOCOL_VERSION), u8(ACCOUNT_FORMAT_TAGS.provisionEnvelope), eph.publicKey, nonce);
  const key = messageKey(code, eph.privateKey, request.ephemeralPublic);
  try {
    return concat(header, aeadSeal(key, nonce, plaintext, concat(header, linkRequestHash(request.bytes))));
  } finally {
    wipe(key, eph.privateKey, plaintext);
  }
}

function messageKey(code: PairingCode, ourPrivate: Uint8Array, theirPublic: Uint8Array): Uint8Array {
  const codeKey = pairingCodeKey(code);
  const shared = dh(ourPrivate, theirPublic);
  try {
    return hkdf(codeKey, shared, LABELS.provisionMessage, 32);
  } finally {
    wipe(codeKey, shared);
  }
}

const HEADER_BYTES = 2 + X25519_KEY_BYTES + AEAD_NONCE_BYTES;

/**
 * The new device's side, with its own request and ephemeral private key. Version and tag first,
 * then the length bound; every failure to authenticate (a relay's own envelope, a changed byte, a
 * wrong code) is one coarse decrypt_failed. Then the plaintext is parsed and must be for the user
 * the new device asked to join (wrong_account: approved from another account's home).
 */
export function openProvisionMessage(code: PairingCode, request: Uint8Array, ephemeralPrivate: Uint8Array, envelope: Uint8Array, user: string): ProvisionMessage {
  const r = new Reader(envelope);
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) throw new CryptoError('unsupported_version', `provisioning envelope: unsupported version ${version}`);
  if (r.u8() !== ACCOUNT_FORMAT_TAGS.provisionEnvelope) throw new CryptoError('malformed', 'provisioning envelope: wrong format tag');
  const theirPublic = r.bytes(X25519_KEY_BYTES);
  const nonce = r.bytes(AEAD_NONCE_BYTES);
  if (r.remaining > PROVISION_MESSAGE_MAX_BYTES + 16) throw new CryptoError('malformed', 'provisioning envelope too long');
  const header = envelope.subarray(0, HEADER_BYTES);
  let plaintext: Uint8Array;
  try {
    const key = messageKey(code, ephemeralPrivate, theirPublic);
    try {
      plaintext = aeadOpen(key, nonce, r.view(r.remaining), concat(header, linkRequestHash(request)));
    } finally {
      wipe(key);
    }
  } catch (e) {
    if (isCryptoError(e, 'invalid_argument')) throw e;
    throw new CryptoError('decrypt_failed', 'the provisioning message could not be decrypted');
  }
  try {
    const m = parseProvisionMessage(plaintext);
    if (m.user !== user) throw new CryptoError('wrong_account', `the provisioning message is for @${m.user}, not @${user}`);
    return m;
  } finally {
    wipe(plaintext);
  }
}
