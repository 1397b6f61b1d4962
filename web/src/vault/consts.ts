// Every size, label and limit of the browser vault, with the reason beside it.

/** The vault's format version, carried in its header and in every AEAD label. */
export const VAULT_VERSION = 1;

/** The IndexedDB database and its two object stores: the header, and the encrypted blobs by name. */
export const DB_NAME = 'fastchat-vault';
export const STORE_META = 'meta';
export const STORE_BLOBS = 'blobs';
export const HEADER_KEY = 'header';

/**
 * argon2id cost of a new vault: 64 MiB and 3 passes, the CLI keystore's default
 * (client/core/keystore.ts), above OWASP's minimum. In the browser's WebAssembly it takes about
 * a second on a slow laptop; it runs in a worker so the page stays responsive.
 */
export const KDF_DEFAULT = { memoryKiB: 64 * 1024, iterations: 3 } as const;

/**
 * The most (and least) a stored header may ask for, checked before the worker runs argon2: a
 * header written by someone else (another tab's script, a profile copied from elsewhere) must not
 * make the page allocate gigabytes or loop for hours, nor pass with a trivially cheap cost.
 */
export const KDF_MAX = { memoryKiB: 1024 * 1024, iterations: 10 } as const;
export const KDF_MIN = { memoryKiB: 8 * 1024, iterations: 1 } as const;

/** libsodium's crypto_pwhash salt size (crypto_pwhash_SALTBYTES). */
export const SALT_BYTES = 16;

/** Blob names are short printable identifiers: they are keys in IndexedDB and part of each blob's AD. */
export const BLOB_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * AD labels. The vault key is wrapped under the passphrase key with LABEL_KEY; each blob is sealed
 * with LABEL_BLOB || name, so a blob moved to another name in IndexedDB fails to open.
 */
export const LABEL_KEY = `fastchat/web-vault/v${VAULT_VERSION}/key`;
export const LABEL_BLOB = `fastchat/web-vault/v${VAULT_VERSION}/blob/`;
