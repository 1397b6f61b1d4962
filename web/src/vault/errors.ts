import { FastchatError } from '../../../crypto/index.js';

/** Stable codes the page shows and tests match on (docs/WEB.md lists them). */
export type VaultErrorCode =
  | 'wrong_passphrase' // the passphrase key does not open the wrapped vault key
  | 'no_vault' // open() on a browser profile without a vault
  | 'vault_exists' // create() where a vault already is: never overwritten silently
  | 'locked' // a read or write after lock()
  | 'bad_vault' // a header that is not a vault of this version, or asks for an argon2 cost out of bounds
  | 'bad_blob' // a blob that does not open under the vault key (tampered, truncated or moved)
  | 'bad_name' // a blob name outside BLOB_NAME
  | 'bad_passphrase' // empty passphrase
  | 'kdf_failed'; // the worker could not run argon2id (out of memory)

export class VaultError extends FastchatError<VaultErrorCode> {
  constructor(code: VaultErrorCode, message: string) {
    super(code, message);
    this.name = 'VaultError';
  }
}

export function isVaultError(e: unknown, code?: VaultErrorCode): e is VaultError {
  return e instanceof VaultError && (code === undefined || e.code === code);
}
