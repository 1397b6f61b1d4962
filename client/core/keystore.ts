// The keystore: the identity key pair, the account key pair (which signs the account's device list,
// crypto/account.ts) and the storage key (which encrypts everything else at rest in store.db) sealed under a key derived from the passphrase with argon2id (raw mode, 32 bytes)
// and XChaCha20-Poly1305. A wrong passphrase fails the AEAD tag check, so nothing is ever derived
// from a wrong key. The KDF parameters and salt are stored beside the ciphertext so they can be
// raised later without breaking old files, and (format 2) bound into the AEAD associated data.
//
// The file is read by someone who may have written it: every field is checked against fixed
// bounds before argon2 runs, so a corrupted or hostile file cannot ask for terabytes of memory or
// hours of work (KDF_READ_LIMITS). Secret bytes stay bytes; the base64 of the file goes through
// libsodium's constant-time codec, not a table lookup indexed by secret bytes.
import argon2 from 'argon2';
import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import { aeadOpen, aeadSeal } from '../../crypto/aead.js';
import { AEAD_NONCE_BYTES } from '../../crypto/consts.js';
import { concat, lp, Reader, u32, u8, utf8, wipe } from '../../crypto/encoding.js';
import { encodeAccountKeyPair, generateAccountKey, parseAccountKeyPair, type AccountKeyPair } from '../../crypto/account.js';
import { encodeIdentityKeyPair, parseIdentityKeyPair, type IdentityKeyPair } from '../../crypto/identity.js';
import { sodium, type RandomBytes } from '../../crypto/sodium.js';
import { CliError } from '../errors.js';
import { writeSecretFile } from './home.js';
import { accountKeyOf, STORAGE_KEY_BYTES, type Secrets } from './secrets.js';

/** Format 1: AD = the label alone. Format 2 (written since): AD also binds the KDF parameters and salt. */
export const KEYSTORE_FORMAT = 2;
/** Secrets 1: identity, storage key. Secrets 2 (written since device lists): and the account key. */
const SECRETS_FORMAT = 2;
const KEYSTORE_LABEL = 'fastchat/v1/keystore';
const SALT_BYTES = 16;

export interface KdfParams {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

/**
 * Default argon2id cost: 64 MiB, 3 passes (above the OWASP minimum), about a quarter second on a
 * laptop. FASTCHAT_KDF_MEMORY_KIB / FASTCHAT_KDF_ITERATIONS change it for a new keystore (lower for
 * tests and slow machines); the values used are stored in the keystore, so only keygen reads them.
 */
export const DEFAULT_KDF: KdfParams = { memoryKiB: 65536, iterations: 3, parallelism: 1 };

/**
 * The most a keystore may ask for, checked before argon2 runs (and when one is made):
 * 4 GiB of memory, 100 passes, 16 lanes, and at most 16 GiB·passes in all (4 GiB × 4, 1 GiB × 16,
 * 64 MiB × 100 …: well under a minute on a laptop). A file asking for more is refused as corrupt.
 */
export const KDF_READ_LIMITS = { minMemoryKiB: 1024, maxMemoryKiB: 4 * 1024 * 1024, maxIterations: 100, maxParallelism: 16, maxWorkKiBPasses: 16 * 1024 * 1024 } as const;

/**
 * OWASP's minimum argon2id settings (Password Storage Cheat Sheet): any one of these rows, each
 * (memory KiB, passes) with one lane. Below all of them keygen warns: a stolen keystore is then
 * cheaper to guess passphrases against than the guidance allows.
 */
export const OWASP_MINIMUMS: readonly (readonly [memoryKiB: number, iterations: number])[] = [
  [47104, 1],
  [19456, 2],
  [12288, 3],
  [9216, 4],
  [7168, 5],
];

export function belowOwaspMinimum(p: KdfParams): boolean {
  return !OWASP_MINIMUMS.some(([m, t]) => p.memoryKiB >= m && p.iterations >= t);
}

function withinLimits(p: KdfParams): boolean {
  const L = KDF_READ_LIMITS;
  return (
    Number.isSafeInteger(p.memoryKiB) &&
    Number.isSafeInteger(p.iterations) &&
    Number.isSafeInteger(p.parallelism) &&
    p.memoryKiB >= L.minMemoryKiB &&
    p.memoryKiB <= L.maxMemoryKiB &&
    p.iterations >= 1 &&
    p.iterations <= L.maxIterations &&
    p.parallelism >= 1 &&
    p.parallelism <= L.maxParallelism &&
    p.memoryKiB * p.iterations <= L.maxWorkKiBPasses &&
    // argon2 needs at least 8 KiB per lane
    p.memoryKiB >= 8 * p.parallelism
  );
}

export function kdfParamsFromEnv(env: NodeJS.ProcessEnv = process.env): KdfParams {
  const mem = Number(env.FASTCHAT_KDF_MEMORY_KIB ?? DEFAULT_KDF.memoryKiB);
  const it = Number(env.FASTCHAT_KDF_ITERATIONS ?? DEFAULT_KDF.iterations);
  const L = KDF_READ_LIMITS;
  if (!Number.isInteger(mem) || mem < L.minMemoryKiB || mem > L.maxMemoryKiB) {
    throw new CliError('bad_env', `FASTCHAT_KDF_MEMORY_KIB must be an integer ${L.minMemoryKiB}..${L.maxMemoryKiB}, got "${env.FASTCHAT_KDF_MEMORY_KIB}"`);
  }
  if (!Number.isInteger(it) || it < 1 || it > L.maxIterations) {
    throw new CliError('bad_env', `FASTCHAT_KDF_ITERATIONS must be an integer 1..${L.maxIterations}, got "${env.FASTCHAT_KDF_ITERATIONS}"`);
  }
  const p = { memoryKiB: mem, iterations: it, parallelism: 1 };
  if (!withinLimits(p)) {
    throw new CliError('bad_env', `FASTCHAT_KDF_MEMORY_KIB × FASTCHAT_KDF_ITERATIONS must be at most ${L.maxWorkKiBPasses} (KiB × passes), got ${mem * it}`);
  }
  return p;
}

// zod/mini (zod's tree-shakable API): the web page bundles this file.
const FileSchema = z.object({
  v: z.union([z.literal(1), z.literal(2)]),
  kdf: z.object({
    alg: z.literal('argon2id'),
    salt: z.string().check(z.maxLength(128)),
    memoryKiB: z.number().check(z.int()),
    iterations: z.number().check(z.int()),
    parallelism: z.number().check(z.int()),
  }),
  nonce: z.string().check(z.maxLength(64)),
  ciphertext: z.string().check(z.maxLength(4096)),
});

export { accountKeyOf, exportAccountKey, STORAGE_KEY_BYTES, type Secrets } from './secrets.js';

/**
 * Replaces this home's account key with `bytes` (exportAccountKey's form, from another device of
 * the account) and rewrites the keystore at `path` under `passphrase` and `kdf` (sealed as any
 * keystore). `secrets` is updated in place, so an open client signs with the new key at once.
 * Throws `corrupt_account_key` for bytes that are not an account key pair (nothing written).
 */
export async function importAccountKey(path: string, passphrase: string, secrets: Secrets, bytes: Uint8Array, random: RandomBytes, kdf: KdfParams = DEFAULT_KDF): Promise<void> {
  let account: AccountKeyPair;
  try {
    account = parseAccountKeyPair(bytes);
  } catch {
    throw new CliError('corrupt_account_key', 'the account key received is not a valid account key pair');
  }
  await writeKeystore(path, passphrase, { ...secrets, account }, random, kdf);
  secrets.account = account;
}

function b64(bytes: Uint8Array): string {
  const s = sodium();
  return s.to_base64(bytes, s.base64_variants.URLSAFE_NO_PADDING);
}

function unb64(text: string, what: string, path: string): Uint8Array {
  const s = sodium();
  try {
    return s.from_base64(text, s.base64_variants.URLSAFE_NO_PADDING);
  } catch {
    throw new CliError('corrupt_keystore', `the keystore ${path} has an invalid ${what}`);
  }
}

/** AD of format 2: the label, the format, the KDF parameters and the salt. */
function keystoreAd(format: 1 | 2, p: KdfParams, salt: Uint8Array): Uint8Array {
  if (format === 1) return utf8(KEYSTORE_LABEL);
  return concat(utf8(KEYSTORE_LABEL), u8(2), u32(p.memoryKiB), u32(p.iterations), u32(p.parallelism), lp(salt));
}

async function deriveKey(passphrase: string, salt: Uint8Array, p: KdfParams): Promise<Uint8Array> {
  const pw = Buffer.from(passphrase, 'utf8');
  try {
    const key = await argon2.hash(pw, {
      type: argon2.argon2id,
      raw: true,
      salt: Buffer.from(salt),
      hashLength: 32,
      memoryCost: p.memoryKiB,
      timeCost: p.iterations,
      parallelism: p.parallelism,
    });
    const out = new Uint8Array(key);
    key.fill(0);
    return out;
  } finally {
    pw.fill(0);
  }
}

function encodeSecrets(s: Secrets): Uint8Array {
  return concat(u8(SECRETS_FORMAT), lp(encodeIdentityKeyPair(s.identity)), lp(s.storageKey), lp(encodeAccountKeyPair(accountKeyOf(s))));
}

function parseSecrets(b: Uint8Array): Secrets {
  const r = new Reader(b);
  const format = r.u8();
  if (format !== 1 && format !== 2) throw new CliError('corrupt_keystore', 'unsupported keystore version');
  const identity = parseIdentityKeyPair(r.lp());
  const storageKey = r.lp();
  const account = format === 2 ? parseAccountKeyPair(r.lp()) : undefined;
  r.end();
  if (storageKey.length !== STORAGE_KEY_BYTES) throw new CliError('corrupt_keystore', 'keystore storage key has the wrong size');
  return account ? { identity, storageKey, account } : { identity, storageKey };
}

function writeSealed(path: string, key: Uint8Array, salt: Uint8Array, kdf: KdfParams, secrets: Secrets, random: RandomBytes): void {
  const nonce = random(AEAD_NONCE_BYTES);
  const plain = encodeSecrets(secrets);
  const ciphertext = aeadSeal(key, nonce, plain, keystoreAd(2, kdf, salt));
  wipe(plain);
  const file = { v: KEYSTORE_FORMAT, kdf: { alg: 'argon2id', salt: b64(salt), ...kdf }, nonce: b64(nonce), ciphertext: b64(ciphertext) };
  writeSecretFile(path, `${JSON.stringify(file, null, 2)}\n`);
}

/** Encrypts the secrets under the passphrase and writes the keystore file (0600), format 2. */
export async function writeKeystore(path: string, passphrase: string, secrets: Secrets, random: RandomBytes, kdf: KdfParams = DEFAULT_KDF): Promise<void> {
  if (!withinLimits(kdf)) throw new CliError('bad_env', `argon2 parameters out of range: ${JSON.stringify(kdf)}`);
  const salt = random(SALT_BYTES);
  const key = await deriveKey(passphrase, salt, kdf);
  try {
    writeSealed(path, key, salt, kdf, secrets, random);
  } finally {
    wipe(key);
  }
}

export interface Unlocked {
  secrets: Secrets;
  /** The file's format before this unlock (1: written by an older fastchat). */
  format: 1 | 2;
  /**
   * Brings a keystore written by an older fastchat up to date under the same passphrase and KDF:
   * a format-1 file is rewritten as format 2, and one without an account key gets one (made here,
   * and set in `secrets`, so call this before anything signs). A no-op for a current keystore.
   */
  upgrade(random: RandomBytes): void;
}

/** Decrypts the keystore. A wrong passphrase is `bad_passphrase` (exit 1) and changes nothing. */
export async function unlockKeystore(path: string, passphrase: string): Promise<Unlocked> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError('no_keys', 'no keys in this home', { hint: 'run `fastchat keygen` first (or set FASTCHAT_HOME)' });
    }
    throw new CliError('corrupt_keystore', `cannot read the keystore ${path}`);
  }
  const parsed = FileSchema.safeParse(raw);
  if (!parsed.success) throw new CliError('corrupt_keystore', `the keystore ${path} is not in a known format`);
  const f = parsed.data;
  const kdf: KdfParams = { memoryKiB: f.kdf.memoryKiB, iterations: f.kdf.iterations, parallelism: f.kdf.parallelism };
  // Before argon2 runs: the file decides how much memory and time it takes.
  if (!withinLimits(kdf)) {
    throw new CliError('corrupt_keystore', `the keystore ${path} asks for argon2 parameters beyond the limits (${kdf.memoryKiB} KiB, ${kdf.iterations} passes, ${kdf.parallelism} lanes)`, {
      hint: `at most ${KDF_READ_LIMITS.maxMemoryKiB} KiB, ${KDF_READ_LIMITS.maxIterations} passes, ${KDF_READ_LIMITS.maxParallelism} lanes and ${KDF_READ_LIMITS.maxWorkKiBPasses} KiB × passes; a file written by fastchat never does`,
    });
  }
  const salt = unb64(f.kdf.salt, 'salt', path);
  const nonce = unb64(f.nonce, 'nonce', path);
  const ciphertext = unb64(f.ciphertext, 'ciphertext', path);
  if (salt.length < SALT_BYTES || salt.length > 64) throw new CliError('corrupt_keystore', `the keystore ${path} has a salt of ${salt.length} bytes`);
  if (nonce.length !== AEAD_NONCE_BYTES) throw new CliError('corrupt_keystore', `the keystore ${path} has a nonce of ${nonce.length} bytes`);
  const key = await deriveKey(passphrase, salt, kdf);
  let plain: Uint8Array;
  try {
    plain = aeadOpen(key, nonce, ciphertext, keystoreAd(f.v, kdf, salt));
  } catch {
    wipe(key);
    throw new CliError('bad_passphrase', 'wrong passphrase (the keystore did not decrypt)', {
      hint: 'check FASTCHAT_PASSPHRASE, or FASTCHAT_HOME if this is not the home you meant',
    });
  }
  let secrets: Secrets;
  try {
    secrets = parseSecrets(plain);
  } catch (e) {
    wipe(key);
    throw e;
  } finally {
    wipe(plain);
  }
  let upgraded = f.v === KEYSTORE_FORMAT && secrets.account !== undefined;
  if (upgraded) wipe(key);
  return {
    secrets,
    format: f.v,
    upgrade(random) {
      if (upgraded) return;
      upgraded = true;
      try {
        secrets.account ??= generateAccountKey(random);
        writeSealed(path, key, salt, kdf, secrets, random);
      } finally {
        wipe(key);
      }
    },
  };
}

/** Decrypts the keystore without upgrading it (tests, tools). */
export async function readKeystore(path: string, passphrase: string): Promise<Secrets> {
  return (await unlockKeystore(path, passphrase)).secrets;
}
