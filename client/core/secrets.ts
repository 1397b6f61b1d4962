// A home's secrets once unlocked, whatever keeps them: the keystore file in the CLI (keystore.ts,
// argon2 through its native addon), the vault in the page.
import { encodeAccountKeyPair, type AccountKeyPair } from '../../crypto/account.js';
import type { IdentityKeyPair } from '../../crypto/identity.js';
import { CliError } from '../errors.js';

/** The storage key's length: it encrypts sessions, prekeys and history in store.db. */
export const STORAGE_KEY_BYTES = 32;

/** What the keystore holds once unlocked. */
export interface Secrets {
  identity: IdentityKeyPair;
  storageKey: Uint8Array; // 32 bytes, encrypts sessions, prekeys and history in store.db
  /**
   * Signs the account's device list. Every keystore written since device lists has one; one written
   * before gets one at its next unlock with the passphrase (Unlocked.upgrade). Absent only when an
   * unlock agent started by an older fastchat serves the secrets: use accountKeyOf.
   */
  account?: AccountKeyPair;
}

/** This home's account key pair, or `no_account_key` (an older unlock agent holds the keys). */
export function accountKeyOf(secrets: Secrets): AccountKeyPair {
  if (!secrets.account) {
    throw new CliError('no_account_key', 'the unlock agent holds keys from before account keys existed', { hint: 'run `fastchat unlock` again (it asks for the passphrase once and adds the account key)' });
  }
  return secrets.account;
}

/**
 * The account key pair in its stored form (crypto/account.ts, 66 bytes): what linking sends to a
 * new device of the account. Secret: never print or log it; wipe it after use.
 */
export function exportAccountKey(secrets: Secrets): Uint8Array {
  return encodeAccountKeyPair(accountKeyOf(secrets));
}
