// The browser vault: named, opaque blobs kept in IndexedDB, each sealed under a random vault key
// that is itself wrapped under a key derived from the user's passphrase with argon2id (in a
// worker). Nothing secret is written anywhere else (no localStorage, no cookies); after lock() the
// keys are wiped from memory and every read or write is refused.
//
// What is in a blob is the caller's business: the identity today, and the client core's SQLite
// image (sql.js) later, stored whole under one name.
import { AEAD_KEY_BYTES, systemRandom, type RandomBytes } from '../../../crypto/index.js';
import { HEADER_KEY, KDF_DEFAULT, SALT_BYTES, VAULT_VERSION } from './consts.js';
import { VaultError } from './errors.js';
import * as idb from './idb.js';
import { deriveKeyInWorker, type DeriveKey } from './kdf.js';
import { checkBlobName, checkHeader, checkKdf, openBlob, sealBlob, unwrapKey, wrapKey, type VaultHeader } from './seal.js';

export interface VaultOptions {
  /** IndexedDB database name (tests use their own). */
  dbName?: string;
  derive?: DeriveKey;
  random?: RandomBytes;
  /** argon2id cost of a new vault; default KDF_DEFAULT. */
  kdf?: { memoryKiB: number; iterations: number };
}

export class Vault {
  #db: IDBDatabase;
  #key: Uint8Array | null;
  #random: RandomBytes;

  private constructor(db: IDBDatabase, key: Uint8Array, random: RandomBytes) {
    this.#db = db;
    this.#key = key;
    this.#random = random;
  }

  /** Whether this browser profile holds a vault (the page then asks to unlock, not to create). */
  static async exists(opts: VaultOptions = {}): Promise<boolean> {
    const db = await idb.openDb(opts.dbName);
    try {
      return (await idb.get(db, idb.STORE_META, HEADER_KEY)) !== undefined;
    } finally {
      db.close();
    }
  }

  static async create(passphrase: string, opts: VaultOptions = {}): Promise<Vault> {
    checkPassphrase(passphrase);
    const random = opts.random ?? systemRandom();
    const db = await idb.openDb(opts.dbName);
    if ((await idb.get(db, idb.STORE_META, HEADER_KEY)) !== undefined) {
      db.close();
      throw new VaultError('vault_exists', 'this browser already holds a vault; unlock it instead');
    }
    const cost = opts.kdf ?? KDF_DEFAULT;
    const kdf = { alg: 'argon2id13' as const, memoryKiB: cost.memoryKiB, iterations: cost.iterations, salt: random(SALT_BYTES) };
    try {
      checkKdf(kdf); // a cost open() would refuse is refused before argon2 runs
    } catch (e) {
      db.close();
      throw e;
    }
    const passphraseKey = await (opts.derive ?? deriveKeyInWorker)(passphrase, kdf);
    const vaultKey = random(AEAD_KEY_BYTES);
    const header: VaultHeader = { version: VAULT_VERSION, kdf, wrappedKey: wrapKey(passphraseKey, vaultKey, random) };
    passphraseKey.fill(0);
    await idb.put(db, idb.STORE_META, HEADER_KEY, header);
    return new Vault(db, vaultKey, random);
  }

  /** Unlocks the vault; wrong_passphrase when the derived key does not open the vault key. */
  static async open(passphrase: string, opts: VaultOptions = {}): Promise<Vault> {
    checkPassphrase(passphrase);
    const db = await idb.openDb(opts.dbName);
    try {
      const raw = await idb.get(db, idb.STORE_META, HEADER_KEY);
      if (raw === undefined) throw new VaultError('no_vault', 'this browser holds no vault yet');
      const header = checkHeader(raw);
      const passphraseKey = await (opts.derive ?? deriveKeyInWorker)(passphrase, header.kdf);
      try {
        return new Vault(db, unwrapKey(passphraseKey, header.wrappedKey), opts.random ?? systemRandom());
      } finally {
        passphraseKey.fill(0);
      }
    } catch (e) {
      db.close();
      throw e;
    }
  }

  get locked(): boolean {
    return this.#key === null;
  }

  async put(name: string, plaintext: Uint8Array): Promise<void> {
    checkBlobName(name);
    await idb.put(this.#db, idb.STORE_BLOBS, name, sealBlob(this.#unlocked(), name, plaintext, this.#random));
  }

  /** The blob's plaintext, or null when there is none of that name. */
  async get(name: string): Promise<Uint8Array | null> {
    checkBlobName(name);
    const key = this.#unlocked();
    const sealed = await idb.get(this.#db, idb.STORE_BLOBS, name);
    return sealed === undefined ? null : openBlob(key, name, sealed);
  }

  async delete(name: string): Promise<void> {
    checkBlobName(name);
    this.#unlocked();
    await idb.del(this.#db, idb.STORE_BLOBS, name);
  }

  async names(): Promise<string[]> {
    this.#unlocked();
    return idb.keys(this.#db, idb.STORE_BLOBS);
  }

  lock(): void {
    this.#key?.fill(0);
    this.#key = null;
    this.#db.close();
  }

  #unlocked(): Uint8Array {
    if (this.#key === null) throw new VaultError('locked', 'the vault is locked');
    return this.#key;
  }
}

function checkPassphrase(p: string): void {
  if (typeof p !== 'string' || p.length === 0) throw new VaultError('bad_passphrase', 'the passphrase is empty');
}

export { isVaultError, VaultError, type VaultErrorCode } from './errors.js';
