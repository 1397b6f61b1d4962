// The vault's cryptography, apart from IndexedDB: a random vault key wrapped under the key derived
// from the passphrase, and blobs sealed under the vault key with their name in the AD. Wrapping
// (rather than using the derived key directly) lets a later passphrase change rewrite one record.
import { aeadOpen, aeadSeal, AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, isCryptoError, utf8, type RandomBytes } from '../../../crypto/index.js';
import { BLOB_NAME, KDF_MAX, KDF_MIN, LABEL_BLOB, LABEL_KEY, SALT_BYTES, VAULT_VERSION } from './consts.js';
import { VaultError } from './errors.js';

export interface KdfParams {
  alg: 'argon2id13';
  memoryKiB: number;
  iterations: number;
  salt: Uint8Array;
}

/** What IndexedDB holds under HEADER_KEY. Nothing in it is secret. */
export interface VaultHeader {
  version: number;
  kdf: KdfParams;
  /** nonce || AEAD(passphraseKey, vaultKey, LABEL_KEY) */
  wrappedKey: Uint8Array;
}

/** Checks a header read from IndexedDB field by field before any of it reaches argon2 or libsodium. */
export function checkHeader(h: unknown): VaultHeader {
  const o = h as Partial<VaultHeader> | null;
  if (o === null || typeof o !== 'object' || o.version !== VAULT_VERSION) throw new VaultError('bad_vault', `unsupported vault version ${JSON.stringify((o as { version?: unknown } | null)?.version)}`);
  checkKdf(o.kdf);
  // A wrapped key of any other length is not ours; checked before it reaches the AEAD.
  if (!(o.wrappedKey instanceof Uint8Array) || o.wrappedKey.length !== AEAD_NONCE_BYTES + AEAD_KEY_BYTES + AEAD_TAG_BYTES) throw new VaultError('bad_vault', 'the wrapped vault key has the wrong length');
  return o as VaultHeader;
}

/** The argon2id parameters, bounded before argon2 runs (KDF_MIN, KDF_MAX: why in consts.ts). */
export function checkKdf(kdf: unknown): asserts kdf is KdfParams {
  const k = kdf as Partial<KdfParams> | undefined;
  if (!k || k.alg !== 'argon2id13') throw new VaultError('bad_vault', 'the vault names an unknown key derivation');
  const { memoryKiB, iterations, salt } = k;
  if (!Number.isInteger(memoryKiB) || memoryKiB! < KDF_MIN.memoryKiB || memoryKiB! > KDF_MAX.memoryKiB) throw new VaultError('bad_vault', `argon2id memory ${String(memoryKiB)} KiB is outside ${KDF_MIN.memoryKiB}..${KDF_MAX.memoryKiB}`);
  if (!Number.isInteger(iterations) || iterations! < KDF_MIN.iterations || iterations! > KDF_MAX.iterations) throw new VaultError('bad_vault', `argon2id iterations ${String(iterations)} is outside ${KDF_MIN.iterations}..${KDF_MAX.iterations}`);
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_BYTES) throw new VaultError('bad_vault', 'the vault salt is not 16 bytes');
}

export function checkBlobName(name: string): void {
  if (typeof name !== 'string' || !BLOB_NAME.test(name)) throw new VaultError('bad_name', `invalid blob name ${JSON.stringify(name)}`);
}

export function wrapKey(passphraseKey: Uint8Array, vaultKey: Uint8Array, random: RandomBytes): Uint8Array {
  const nonce = random(AEAD_NONCE_BYTES);
  const ct = aeadSeal(passphraseKey, nonce, vaultKey, utf8(LABEL_KEY));
  const out = new Uint8Array(nonce.length + ct.length);
  out.set(nonce);
  out.set(ct, nonce.length);
  return out;
}

/** The vault key, or wrong_passphrase: the only way this AEAD fails on a well-formed header. */
export function unwrapKey(passphraseKey: Uint8Array, wrapped: Uint8Array): Uint8Array {
  try {
    return aeadOpen(passphraseKey, wrapped.subarray(0, AEAD_NONCE_BYTES), wrapped.subarray(AEAD_NONCE_BYTES), utf8(LABEL_KEY));
  } catch (e) {
    if (isCryptoError(e)) throw new VaultError('wrong_passphrase', 'wrong passphrase');
    throw e;
  }
}

export function sealBlob(vaultKey: Uint8Array, name: string, plaintext: Uint8Array, random: RandomBytes): Uint8Array {
  const nonce = random(AEAD_NONCE_BYTES);
  const ct = aeadSeal(vaultKey, nonce, plaintext, utf8(LABEL_BLOB + name));
  const out = new Uint8Array(nonce.length + ct.length);
  out.set(nonce);
  out.set(ct, nonce.length);
  return out;
}

export function openBlob(vaultKey: Uint8Array, name: string, sealed: unknown): Uint8Array {
  if (!(sealed instanceof Uint8Array) || sealed.length < AEAD_NONCE_BYTES + AEAD_TAG_BYTES) throw new VaultError('bad_blob', `blob ${JSON.stringify(name)} is malformed`);
  try {
    return aeadOpen(vaultKey, sealed.subarray(0, AEAD_NONCE_BYTES), sealed.subarray(AEAD_NONCE_BYTES), utf8(LABEL_BLOB + name));
  } catch (e) {
    // Coarse on purpose: a tampered, truncated or moved blob all read the same.
    if (isCryptoError(e)) throw new VaultError('bad_blob', `blob ${JSON.stringify(name)} does not open under this vault's key`);
    throw e;
  }
}
