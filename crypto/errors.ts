// One error base class with stable string codes. Codes are API: clients, the relay and the docs
// (docs/errors.md) match on them, so a code is never renamed, only added.

export const CRYPTO_ERROR_CODES = [
  'malformed', // bytes that do not parse: wrong length, version, type or trailing data
  'unsupported_version', // a well-formed structure from a protocol version we do not speak
  'bad_signature', // an Ed25519 signature that does not verify
  'bad_key', // a public key that is refused (e.g. a DH result of all zeros)
  'unknown_prekey', // a first message names a signed or one-time prekey we do not hold
  'decrypt_failed', // an AEAD tag that does not verify, or any other reason a message is refused
  'too_far_ahead', // a message counter more than MAX_SKIP past the chain position
  'duplicate_message', // a message whose key was already used (replay)
  'invalid_argument', // a caller passed a value outside the documented range
  'stale_prekey', // a bundle's signed prekey is older than SIGNED_PREKEY_MAX_AGE_MS (refused by the initiator)
  // groups (crypto/group/): why a membership record or group key is refused, so a member can say so
  'wrong_group', // a record, distribution or message names another group id
  'wrong_epoch', // not the next epoch (a replayed or out-of-order record) or not the key's epoch
  'broken_chain', // a record's previous-state hash is not the hash of the state held (fork/forgery)
  'not_authorized', // the author may not make this change (not an admin / not a member / not self)
  'invalid_change', // a well-formed change that does not apply (add a member twice, remove a stranger)
  'fork', // a key, message or record bound to another membership transcript of the same epoch; two device lists of one version
  'stale_key', // a group sender key made before the last removal (its sender had to rotate) or after the epoch it is used in
  // device lists (crypto/device-list.ts): why a list served for a contact is refused
  'wrong_account', // a device list for another username than the one asked for
  'account_key_changed', // a device list under another account key than the one pinned for the contact
  'stale_device_list', // a device list older than the last one accepted (a rollback)
  // linking (crypto/provision.ts)
  'bad_code', // a pairing code that does not parse (length or characters)
  'wrong_code', // a link request whose MAC does not verify under the code typed (wrong code, or not the new device's request)
] as const;

export type CryptoErrorCode = (typeof CRYPTO_ERROR_CODES)[number];

/** Base class for every error fastchat raises on purpose. Layers add their own codes. */
export class FastchatError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'FastchatError';
  }
}

export class CryptoError extends FastchatError<CryptoErrorCode> {
  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'CryptoError';
  }
}

export function isFastchatError(e: unknown): e is FastchatError {
  return e instanceof FastchatError;
}

export function isCryptoError(e: unknown, code?: CryptoErrorCode): e is CryptoError {
  return e instanceof CryptoError && (code === undefined || e.code === code);
}

/**
 * Decryption failures leave crypto/ coarse: the caller outside learns "this message could not be
 * decrypted" and, at most, whether it was a replay or too far ahead (which the user can act on).
 * Which internal check failed (tag, header, key) is not the attacker's business.
 */
export function coarse(e: unknown): CryptoError {
  if (isCryptoError(e, 'duplicate_message') || isCryptoError(e, 'too_far_ahead')) return e;
  return new CryptoError('decrypt_failed', 'message could not be decrypted');
}
