// Every protocol label, size and limit lives here, each with the reason it has the value it has.
// docs/PROTOCOL.md quotes these names; a test checks that all labels are distinct.

/**
 * Version byte of the structures that have not changed since the first protocol version (keys,
 * bundles, stored states, groups). A parser refuses any other value before it touches crypto.
 */
export const PROTOCOL_VERSION = 1;
/**
 * Version byte of pairwise messages (the envelope and its ratchet header). 2 since the header
 * carries random bytes that keep (key, nonce) fresh (docs/PROTOCOL.md §8.8): in version 1 key and
 * nonce came from the chain alone, so a store rolled back to an older state (a backup restore, a
 * VM snapshot) encrypted the next messages under (key, nonce) pairs already used. 3 since one PRF
 * call per chain step yields both the next chain key and the message key, the header's 24 random
 * bytes are the AEAD nonce itself (no expansion of mk), and messages pad to Padmé sizes above
 * 960 bytes (§9): a 1 KiB message was sealed as 2 KiB and cost 3.4× the raw AEAD (issue 20).
 * A peer's envelope of another version is refused with unsupported_version before any crypto.
 */
export const MESSAGE_VERSION = 3;
/**
 * Version byte of attachment blobs. 2 since a blob carries a commitment to its key (docs/PROTOCOL.md
 * "Attachments"): a version-1 blob could be built to open under two keys to two different files.
 */
export const ATTACHMENT_VERSION = 2;
/**
 * Version byte of device lists (docs/PROTOCOL.md D.3). 2 since every entry carries its device's
 * signature binding it to the account key (LABELS.deviceAccount): in version 1 an entry held
 * public keys only, so a list under anyone's account key could name anyone's real identity, and a
 * contact verified on that identity could not carry "verified" over to the account key. Version 1
 * lists are refused (unsupported_version); a client reads them as no list (D.7).
 */
export const DEVICE_LIST_VERSION = 2;

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
  /**
   * Keyed-BLAKE2b message of the chain step (KDF_CK): one 64-byte output is the next chain key
   * and the message key. v3 (MESSAGE_VERSION 3); v1 and v2 made them with two calls and two labels.
   */
  ratchetChain: 'fastchat/v3/ratchet/chain',
  /** First BLAKE2b input of one half of a safety number (separates it from the fingerprint). */
  safetyNumber: 'fastchat/v1/safety-number',
  /** Ed25519 signature by an admin's (or leaver's) identity key over a group change record. */
  groupRecordSignature: 'fastchat/v1/group/record-signature',
  /** BLAKE2b-256 input prefix of a group state's hash (the chain link of the next record). */
  groupStateHash: 'fastchat/v1/group/state-hash',
  /** Keyed-BLAKE2b message of the sender-chain step that yields the next chain key. */
  groupChainKey: 'fastchat/v1/group/chain-key',
  /** Keyed-BLAKE2b message of the sender-chain step that yields a message key. */
  groupMessageKey: 'fastchat/v1/group/message-key',
  /**
   * HKDF info expanding a group message key and the message's random salt into the AEAD key and
   * nonce. v2: the salt (group format 3) makes this a different derivation from v1's.
   */
  groupMessageKeys: 'fastchat/v2/group/message-keys',
  /** Ed25519 signature by a member's group signature key over a group message. */
  groupMessageSignature: 'fastchat/v1/group/message-signature',
  /** BLAKE2b-256 prefix of a group id: binds the id to its creator's key and salt (no squatting). */
  groupId: 'fastchat/v1/group/id',
  /** BLAKE2b-256 prefix of a membership transcript link: commits to every record applied so far. */
  groupTranscript: 'fastchat/v1/group/transcript',
  /** Keyed-BLAKE2b message turning an attachment key into its stream key and key commitment. */
  attachmentKeys: 'fastchat/v2/attachment/keys',
  /** Ed25519 signature by an account key over a device list body (crypto/device-list.ts). */
  deviceListSignature: 'fastchat/v1/device-list/signature',
  /**
   * Ed25519 signature by a device's identity signing key binding it to an account: account key,
   * username, device id and the device's X25519 key (crypto/device-list.ts, one per list entry).
   */
  deviceAccount: 'fastchat/v1/device-account',
  /** BLAKE2b-256 prefix of a device list's hash (the chain link of the next version). */
  deviceListHash: 'fastchat/v1/device-list/hash',
  /** BLAKE2b-256 prefix of an account key's fingerprint (crypto/account.ts). */
  accountFingerprint: 'fastchat/v1/account/fingerprint',
  /**
   * First BLAKE2b input of an account safety-number half: not LABELS.safetyNumber, so a half made
   * from an account key can never equal one made from a device identity of the same bytes.
   */
  accountSafetyNumber: 'fastchat/v1/account/safety-number',
  /** HKDF info turning a pairing code into the code key (crypto/provision.ts). */
  provisionCode: 'fastchat/v1/provision/code',
  /** Ed25519 signature by a new device's identity over its link request body. */
  provisionRequestSignature: 'fastchat/v1/provision/request-signature',
  /** BLAKE2b-256 prefix of a link request's hash (bound into the provisioning envelope's AD). */
  provisionRequestHash: 'fastchat/v1/provision/request-hash',
  /** HKDF info of the key that seals the provisioning message. */
  provisionMessage: 'fastchat/v1/provision/message',
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
/**
 * Oldest signed prekey an initiator accepts: the owner replaces its signed prekey every 7 days
 * (SIGNED_PREKEY_ROTATE_MS) and keeps a replaced one 30 days for first messages in flight
 * (SIGNED_PREKEY_KEEP_MS), so an honest relay never serves one older than 37 days unless its owner
 * has not connected for a month. An older one is refused (`stale_prekey`): a relay replaying an old,
 * validly signed prekey whose private half may have leaked gains nothing, at the price of not
 * starting a session with someone who has been away longer than that.
 */
export const SIGNED_PREKEY_ROTATE_MS = 7 * 24 * 3600 * 1000;
export const SIGNED_PREKEY_KEEP_MS = 30 * 24 * 3600 * 1000;
export const SIGNED_PREKEY_MAX_AGE_MS = SIGNED_PREKEY_ROTATE_MS + SIGNED_PREKEY_KEEP_MS;
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

// ---- Double Ratchet limits (crypto/ratchet.ts) -------------------------------------------------
/**
 * Most message keys one chain may skip for one incoming message (Signal's MAX_SKIP). Bounds the
 * work a single message can demand (each skipped key is two PRF calls) and how far a sender may
 * run ahead of what the receiver saw; 1000 covers any real burst of lost messages.
 */
export const MAX_SKIP = 1000;
/**
 * Most skipped message keys a session stores in total; when more arrive the oldest are evicted.
 * Bounds the session's size (2000 × 68 bytes ≈ 136 KiB) and the number of old keys an attacker who
 * later steals the state could use. Equals 2 × MAX_SKIP so one message that skips the rest of an
 * old chain and the start of a new one never evicts its own keys.
 */
export const MAX_SKIPPED_KEYS = 2 * MAX_SKIP;
/**
 * Receiving chains whose skipped keys are kept: the current one and the previous four. Skipped
 * keys expire after this many receiving DH ratchet steps (crypto/ has no clock, so expiry counts
 * ratchet steps): a message held back for five round trips is treated as lost, not kept forever.
 */
export const MAX_RECEIVING_CHAINS = 5;
/**
 * Random bytes the sender draws for every message and sends in its header: the XChaCha20-Poly1305
 * nonce of the message, under the message key. A rolled-back sending state derives the same message
 * key again, but with a fresh random 192-bit nonce, which is the use XChaCha20 was made for: reuse
 * of the key is harmless (the Double Ratchet spec, §5.2, asks for misuse resistance "in case a key
 * is mistakenly used multiple times"). Two encryptions under one message key share a nonce with
 * probability 2^-192.
 */
export const RATCHET_NONCE_BYTES = AEAD_NONCE_BYTES;
/** Ratchet header: version u8 || ratchet public key (32) || pn u32 || n u32 || nonce (24). */
export const RATCHET_HEADER_BYTES = 1 + X25519_KEY_BYTES + 4 + 4 + RATCHET_NONCE_BYTES;
/** Ratchet key material sizes: root, chain and message keys are all 32 bytes. */
export const RATCHET_KEY_BYTES = 32;

// ---- padding (crypto/padding.ts) ---------------------------------------------------------------
/** Small messages pad to a multiple of this: one bucket holds a typical chat line and its marker. */
export const PADDING_BLOCK_BYTES = 160;
/**
 * Largest multiple-of-PADDING_BLOCK_BYTES bucket; above it group messages pad to powers of two from
 * 1024 and pairwise messages (MESSAGE_VERSION 3) to Padmé sizes (docs/PROTOCOL.md §9).
 */
export const PADDING_SMALL_MAX_BYTES = 960;
/**
 * Largest plaintext one message carries (the padded form is then at most 64 KiB). Chat text is far
 * smaller; files travel as attachments, so a bigger message is a caller bug, refused up front.
 */
export const MAX_PLAINTEXT_BYTES = 65535;
/** Largest padded plaintext: the top bucket. */
export const MAX_PADDED_BYTES = 65536;

// ---- envelope (crypto/session.ts) --------------------------------------------------------------
/** Envelope type byte: a ratchet message that also carries the X3DH header (before any reply). */
export const ENVELOPE_TYPE_PREKEY = 1;
/** Envelope type byte: a plain ratchet message. */
export const ENVELOPE_TYPE_MESSAGE = 2;
/**
 * Second byte of the stored ratchet and session states (after PROTOCOL_VERSION), continuing
 * FORMAT_TAGS: a stored session can never be parsed as a key or a bundle, nor the reverse.
 */
export const RATCHET_STATE_TAG = 0x20;
export const SESSION_STATE_TAG = 0x21;

// ---- groups (crypto/group/) --------------------------------------------------------------------
/**
 * First byte of every group structure (records, states, distributions, messages, stored keys),
 * in place of PROTOCOL_VERSION. Format 2 bound the membership transcript into every epoch-scoped
 * object and the group id to its creator; format 3 lets a sender key outlive changes that take
 * nobody out (the key's own epoch travels beside the message's), records in the state the epoch
 * from which keys must date (`keyFloor`), and salts every group message so a rolled-back sender
 * chain never repeats a (key, nonce). An older structure is refused as unsupported_version before
 * anything else is read, so an old peer gets a clear error, not a wrong parse.
 */
export const GROUP_VERSION = 3;
/**
 * Group ids are BLAKE2b-256(LABELS.groupId || creator || creator's key || 32 random salt bytes):
 * collision-free without coordination, unguessable, and only the creator can make a create record
 * for one (a contact who learns an id cannot squat it).
 */
export const GROUP_ID_BYTES = 32;
/** Random salt in a create record, from which (with the creator's key) the group id is derived. */
export const GROUP_SALT_BYTES = 32;
/** Membership transcript hash = BLAKE2b-256: 128-bit collision resistance, as the state hash. */
export const GROUP_TRANSCRIPT_BYTES = 32;
/** State hash = BLAKE2b-256: 128-bit collision resistance for the record hash chain. */
export const GROUP_HASH_BYTES = 32;
/** Display names are 1..128 UTF-8 bytes without control characters (no terminal escapes). */
export const GROUP_NAME_MAX_BYTES = 128;
/** Most members (and most users one record names): bounds state size and fan-out per change. */
export const MAX_GROUP_MEMBERS = 1000;
/** Sender chain key size: same as the ratchet's chain keys. */
export const GROUP_CHAIN_KEY_BYTES = 32;
/**
 * Random salt in every group message, expanded with the message key into the AEAD key and nonce:
 * a sender chain restored from an old copy derives the same message keys again, and two
 * encryptions under one message key then collide only with probability 2^-128.
 */
export const GROUP_MESSAGE_SALT_BYTES = 16;
/** Most message keys one group message may skip: the ratchet's MAX_SKIP, for the same reasons. */
export const GROUP_MAX_SKIP = MAX_SKIP;
/** Most skipped keys one sender's chain keeps (oldest evicted): two full bursts, 2000 × 36 B. */
export const GROUP_MAX_SKIPPED_KEYS = 2 * GROUP_MAX_SKIP;
/** Second byte of every group structure (after PROTOCOL_VERSION); 0x30.. keeps clear of the rest. */
export const GROUP_FORMAT_TAGS = {
  groupChange: 0x30,
  groupState: 0x31,
  senderKeyDistribution: 0x32,
  groupMessage: 0x33,
  ourSenderKey: 0x34,
  theirSenderKey: 0x35,
} as const;
/** Op byte of a group change record; a new op is a new number, never a reused one. */
export const GROUP_OPS = { create: 1, add: 2, remove: 3, leave: 4, promote: 5, rename: 6 } as const;

// ---- groups: receiver policy (client/core/group-*.ts; docs/PROTOCOL.md G.9) -----------------------
// crypto/ has no clock: these bound what a receiving client does with time and storage, and live
// here so the spec and the code quote one number.
/**
 * Old-epoch grace, in messages per sender and epoch. After a change, a current member's message at
 * the epoch before it can only be one that raced the change (sent before its sender synced). With
 * sync-before-send that is a handful at most; 20 covers a burst typed in a chat meanwhile, and a
 * sender that keeps using an old key (a modified client) is cut off after 20.
 */
export const GROUP_LATE_GRACE_MESSAGES = 20;
/**
 * Old-epoch grace in time, from when the receiver applied the change that ended the epoch. A racing
 * message reaches the relay seconds after the change; ten minutes allows a slow link or a retry
 * after a relay restart. After it the old receiving chains are deleted, not kept forever.
 */
export const GROUP_LATE_GRACE_MS = 10 * 60 * 1000;
/**
 * Held group items (group_pending: messages, keys and changes that arrived before what they
 * need), per relay sender. One member needs one key per epoch and a burst of messages behind it;
 * anyone may send us items for a group we do not hold, so one account's share is small.
 */
export const GROUP_HELD_PER_SENDER = 200;
/** Held items per group: every other member's key after a change whose record is late, twice. */
export const GROUP_HELD_PER_GROUP = 2 * MAX_GROUP_MEMBERS;
/** Held items in total, across groups and senders. */
export const GROUP_HELD_TOTAL = 4000;
/** Bytes of held items in total (relay bodies up to 64 KiB each): what a flood can take of the disk. */
export const GROUP_HELD_MAX_BYTES = 16 * 1024 * 1024;
/** Bytes of held items per relay sender: one account cannot take more than an eighth of the total. */
export const GROUP_HELD_MAX_BYTES_PER_SENDER = 2 * 1024 * 1024;
/**
 * A held item older than this is deleted and reported: what it waited for is not coming (a
 * withheld change, a key never sent, or we were removed). The relay keeps undelivered messages
 * 30 days; a week covers a member who was offline while the rest of the group moved on.
 */
export const GROUP_HELD_TTL_MS = 7 * 24 * 3600 * 1000;

/**
 * Most recipient devices in one relay submission of a group message: the relay's default
 * `--max-recipients` (docs/RELAY.md). A group of up to MAX_GROUP_MEMBERS accounts with several
 * devices each goes as several submissions of the same body; the k-th after the first has the
 * client id `<id>-<k>`, so a resend after a partial failure is a no-op for the parts stored already.
 */
export const GROUP_FANOUT_MAX_RECIPIENTS = 1000;

// ---- attachments (crypto/attachment.ts) --------------------------------------------------------
/** Second byte of an attachment blob (after PROTOCOL_VERSION); 0x40.. keeps clear of the rest. */
export const ATTACHMENT_FORMAT_TAG = 0x40;
/**
 * Plaintext bytes per secretstream chunk. 64 KiB makes the 17-byte per-chunk overhead 0.03% and
 * the JS→libsodium call cost negligible, while a reader holds at most one chunk in memory (flat
 * memory for any file size) and a tampered chunk is caught after at most 64 KiB. It is also
 * Node's default read size for files, so a disk read maps onto one chunk.
 */
export const ATTACHMENT_CHUNK_BYTES = 64 * 1024;
/** secretstream: 24-byte header; 17 bytes per chunk (1 encrypted tag byte + 16-byte MAC). */
export const SECRETSTREAM_HEADER_BYTES = 24;
export const SECRETSTREAM_ABYTES = 17;
export const ATTACHMENT_KEY_BYTES = 32;
/**
 * Key commitment in the blob header: 32 bytes of PRF(key, LABELS.attachmentKeys). Binds the blob
 * (and so its hash) to one key: 128-bit collision resistance, as the hash itself.
 */
export const ATTACHMENT_COMMITMENT_BYTES = 32;
/** Blob header: version || tag || key commitment || secretstream header. */
export const ATTACHMENT_HEADER_BYTES = 2 + ATTACHMENT_COMMITMENT_BYTES + SECRETSTREAM_HEADER_BYTES;
/** BLAKE2b-256 of the whole blob: 128-bit collision resistance, as the fingerprints. */
export const ATTACHMENT_HASH_BYTES = 32;
/**
 * Smallest padded plaintext (length prefix + file + zeros). Every file under ~4 KiB (notes, keys,
 * icons) has the same blob size, so the relay learns nothing from it; the cost is a few KiB.
 */
export const ATTACHMENT_MIN_PADDED_BYTES = 4096;
/**
 * Largest file the format describes: 2^48 bytes (256 TiB) keeps every length computation (padding,
 * chunk count, blob size) far inside the safe-integer range. Relays cap blobs much lower.
 */
export const ATTACHMENT_MAX_BYTES = 2 ** 48;

// ---- accounts and device lists (crypto/account.ts, crypto/device-list.ts) ---------------------------
/**
 * Most devices one account lists. Every message to the account is encrypted once per device and
 * every device holds the account's contacts and groups, so the list bounds the fan-out of one send
 * and what one stolen account key can spread to. 8 covers a laptop, a desktop, a phone and
 * browsers; it is also the relay's `--max-devices` default (relay/config.ts), so an honest relay
 * never holds more devices than a list can name.
 */
export const MAX_DEVICES = 8;
/** Device list hash = BLAKE2b-256: 128-bit collision resistance, as the group state hash. */
export const DEVICE_LIST_HASH_BYTES = 32;
/** Account fingerprint = BLAKE2b-256, displayed like an identity fingerprint. */
export const ACCOUNT_FINGERPRINT_BYTES = FINGERPRINT_BYTES;
/**
 * Second byte of the account structures (after PROTOCOL_VERSION); 0x50.. keeps clear of the
 * handshake (0x10..), session (0x20..), group (0x30..) and attachment (0x40) tags.
 */
export const ACCOUNT_FORMAT_TAGS = {
  accountKeyPair: 0x50,
  deviceList: 0x51,
  linkRequest: 0x52,
  provisionEnvelope: 0x53,
  provisionMessage: 0x54,
} as const;

// ---- linking a device (crypto/provision.ts; docs/PROTOCOL.md D.8) -------------------------------
/**
 * The pairing code's alphabet: Crockford's base32, lower case (no i, l, o, u, so a code read
 * aloud or copied by hand has no look-alikes; the parser maps i, l → 1 and o → 0).
 */
export const PAIRING_CODE_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
/** Characters of a pairing code: 16 × 5 bits = 80 bits, typed as four groups of four. */
export const PAIRING_CODE_CHARS = 16;
/**
 * The first 6 characters (30 bits) name the relay's provisioning channel; the relay sees them.
 * Collisions among the channels open at once are refused by the relay and the new device draws
 * again. The other 10 (50 bits) never reach the relay: they key the request MAC and the message
 * key, so a relay that does not know them can neither pass off its own request nor forge or alter
 * the provisioning message; guessing them takes ~2^50 BLAKE2b operations per guess set, to be done
 * before the channel expires (minutes).
 */
export const PAIRING_CHANNEL_CHARS = 6;
/** Code key (HKDF output keyed by the code): the request MAC key and the message-key salt. */
export const PROVISION_CODE_KEY_BYTES = 32;
/** Link request MAC = keyed BLAKE2b-256: a forgery succeeds with probability 2^-256 per try. */
export const PROVISION_MAC_BYTES = 32;
/** Link request hash = BLAKE2b-256, bound into the envelope's associated data. */
export const PROVISION_REQUEST_HASH_BYTES = 32;
/**
 * Largest provisioning message plaintext: bounds what a new device decrypts and what the relay
 * keeps per channel. 160 KiB in base64url inside JSON stays under the relay's default 256 KiB body
 * cap (docs/RELAY.md), so one PUT carries it.
 */
export const PROVISION_MESSAGE_MAX_BYTES = 160 * 1024;
/**
 * Most contacts one provisioning message carries: a contact is at most ~300 bytes (name, trust,
 * two identities), so 500 of them fit PROVISION_MESSAGE_MAX_BYTES with the account key and a full
 * device list. An approver with more sends the 500 most recently updated (CLI.md says so).
 */
export const PROVISION_MAX_CONTACTS = 500;
