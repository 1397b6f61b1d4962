// Every protocol label, size and limit lives here, each with the reason it has the value it has.
// docs/PROTOCOL.md quotes these names; a test checks that all labels are distinct.

/** Wire and storage version byte. A parser refuses any other value before it touches crypto. */
export const PROTOCOL_VERSION = 1;

// ---- primitive sizes (libsodium) -------------------------------------------------------------
export const X25519_KEY_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SECRET_KEY_BYTES = 64; // libsodium's seed || public key form
export const ED25519_SEED_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
export const AEAD_KEY_BYTES = 32; // XChaCha20-Poly1305
export const AEAD_NONCE_BYTES = 24;
export const AEAD_TAG_BYTES = 16;
/** BLAKE2b-512 output: the "HMAC" output size of our HKDF, and its maximum key size. */
export const KDF_HASH_BYTES = 64;

// ---- KDF and signature labels ----------------------------------------------------------------
// Every label carries the protocol version so a v2 can never derive a v1 key by accident, and is
// unique so no two derivations can be made to collide (domain separation).
export const LABELS = {
  /** Ed25519 signature by the identity signing key over the identity X25519 key. */
  identitySignature: 'fastchat/v1/identity-signature',
  /** Ed25519 signature by the identity signing key over a signed prekey. */
  signedPreKeySignature: 'fastchat/v1/signed-prekey-signature',
  /** Fingerprint of one identity (displayed, and the input of the safety number). */
  fingerprint: 'fastchat/v1/fingerprint',
  /** HKDF info of the X3DH shared secret. */
  x3dh: 'fastchat/v1/x3dh',
  /** HKDF info of the ratchet's root-key step (KDF_RK). */
  ratchetRoot: 'fastchat/v1/ratchet/root',
  /** Keyed-BLAKE2b message of the chain step that yields the next chain key (KDF_CK). */
  ratchetChainKey: 'fastchat/v1/ratchet/chain-key',
  /** Keyed-BLAKE2b message of the chain step that yields a message key (KDF_CK). */
  ratchetMessageKey: 'fastchat/v1/ratchet/message-key',
  /** HKDF info expanding a message key into the AEAD key and nonce. */
  ratchetMessageKeys: 'fastchat/v1/ratchet/message-keys',
  /** First BLAKE2b input of one half of a safety number (separates it from the fingerprint). */
  safetyNumber: 'fastchat/v1/safety-number',
} as const;

export type Label = (typeof LABELS)[keyof typeof LABELS];

// ---- handshake: addresses, identity, prekeys, X3DH -------------------------------------------
/** Usernames are short ASCII so they are unambiguous on screen and have one byte encoding. */
export const USERNAME_PATTERN = /^[a-z0-9_]{3,32}$/;
/** Device ids are positive 31-bit integers: they fit every JSON/SQL integer type without care. */
export const DEVICE_ID_MAX = 0x7fffffff;
/** Prekey ids are u32 on the wire; any value is allowed (the owner chooses them). */
export const PREKEY_ID_MAX = 0xffffffff;
/** Fingerprint = BLAKE2b-256: 128-bit collision resistance, 64 hex digits on screen. */
export const FINGERPRINT_BYTES = 32;
/**
 * Hash iterations per safety-number half (Signal's value). A half is only ~100 bits (30 digits),
 * so the iterations add ~12 bits of work to a search for a second identity that displays the same.
 */
export const SAFETY_NUMBER_ITERATIONS = 5200;
/** Digits per safety-number half: 6 chunks of 5 digits; the full number is two halves. */
export const SAFETY_NUMBER_HALF_DIGITS = 30;
/** X3DH output (SK) size: one 32-byte root key for the ratchet. */
export const X3DH_SHARED_SECRET_BYTES = 32;
/**
 * Second byte of every stored/encoded handshake structure (after PROTOCOL_VERSION), so a blob of
 * one kind can never be parsed as another. 0x10.. keeps clear of the envelope types (1, 2).
 */
export const FORMAT_TAGS = {
  identityKeyPair: 0x10,
  publicIdentity: 0x11,
  signedPreKey: 0x12,
  oneTimePreKey: 0x13,
  preKeyBundle: 0x14,
} as const;
