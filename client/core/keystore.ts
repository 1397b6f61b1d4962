// The keystore: the identity key pair and the storage key (which encrypts everything else at rest
// in store.db) sealed under a key derived from the passphrase with argon2id (raw mode, 32 bytes)
// and XChaCha20-Poly1305. A wrong passphrase fails the AEAD tag check, so nothing is ever derived
// from a wrong key. The KDF parameters and salt are stored beside the ciphertext so they can be
// raised later without breaking old files.
import argon2 from 'argon2';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { aeadOpen, aeadSeal } from '../../crypto/aead.js';
import { concat, fromBase64url, lp, Reader, toBase64url, u8, utf8, wipe } from '../../crypto/encoding.js';
import { encodeIdentityKeyPair, parseIdentityKeyPair, type IdentityKeyPair } from '../../crypto/identity.js';
import type { RandomBytes } from '../../crypto/sodium.js';
import { CliError } from '../errors.js';
import { writeSecretFile } from './home.js';

const KEYSTORE_VERSION = 1;
/** AEAD associated data: binds the ciphertext to its purpose and format version. */
const KEYSTORE_AD = utf8('fastchat/v1/keystore');
export const STORAGE_KEY_BYTES = 32;

/**
 * Default argon2id cost: 64 MiB, 3 passes (above the OWASP minimum of 19 MiB / 2 passes), about a
 * quarter second on a laptop. FASTCHAT_KDF_MEMORY_KIB / FASTCHAT_KDF_ITERATIONS lower it for tests
 * and slow machines; the values used are stored in the keystore, so only keygen reads them.
 */
export interface KdfParams {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}
export const DEFAULT_KDF: KdfParams = { memoryKiB: 65536, iterations: 3, parallelism: 1 };

export function kdfParamsFromEnv(env: NodeJS.ProcessEnv = process.env): KdfParams {
  const mem = Number(env.FASTCHAT_KDF_MEMORY_KIB ?? DEFAULT_KDF.memoryKiB);
  const it = Number(env.FASTCHAT_KDF_ITERATIONS ?? DEFAULT_KDF.iterations);
  // argon2 itself refuses less than 1 MiB / 1 pass; these bounds keep a typo from hanging keygen.
  if (!Number.isInteger(mem) || mem < 1024 || mem > 4 * 1024 * 1024) {
    throw new CliError('bad_env', `FASTCHAT_KDF_MEMORY_KIB must be an integer 1024..4194304, got "${env.FASTCHAT_KDF_MEMORY_KIB}"`);
  }
  if (!Number.isInteger(it) || it < 1 || it > 100) {
    throw new CliError('bad_env', `FASTCHAT_KDF_ITERATIONS must be an integer 1..100, got "${env.FASTCHAT_KDF_ITERATIONS}"`);
  }
  return { memoryKiB: mem, iterations: it, parallelism: 1 };
}

const FileSchema = z.object({
  v: z.literal(KEYSTORE_VERSION),
  kdf: z.object({
    alg: z.literal('argon2id'),
    salt: z.string(),
    memoryKiB: z.number().int(),
    iterations: z.number().int(),
    parallelism: z.number().int(),
  }),
  nonce: z.string(),
  ciphertext: z.string(),
});

/** What the keystore holds once unlocked. */
export interface Secrets {
  identity: IdentityKeyPair;
  storageKey: Uint8Array; // 32 bytes, encrypts sessions, prekeys and history in store.db
}

async function deriveKey(passphrase: string, salt: Uint8Array, p: KdfParams): Promise<Uint8Array> {
  const key = await argon2.hash(passphrase, {
    type: argon2.argon2id,
    raw: true,
    salt: Buffer.from(salt),
    hashLength: 32,
    memoryCost: p.memoryKiB,
    timeCost: p.iterations,
    parallelism: p.parallelism,
  });
  return new Uint8Array(key);
}

function encodeSecrets(s: Secrets): Uint8Array {
  return concat(u8(KEYSTORE_VERSION), lp(encodeIdentityKeyPair(s.identity)), lp(s.storageKey));
}

function parseSecrets(b: Uint8Array): Secrets {
  const r = new Reader(b);
  if (r.u8() !== KEYSTORE_VERSION) throw new CliError('corrupt_keystore', 'unsupported keystore version');
  const identity = parseIdentityKeyPair(r.lp());
  const storageKey = r.lp();
  r.end();
  if (storageKey.length !== STORAGE_KEY_BYTES) throw new CliError('corrupt_keystore', 'keystore storage key has the wrong size');
  return { identity, storageKey };
}

/** Encrypts the secrets under the passphrase and writes the keystore file (0600). */
export async function writeKeystore(path: string, passphrase: string, secrets: Secrets, random: RandomBytes, kdf: KdfParams = DEFAULT_KDF): Promise<void> {
  const salt = random(16);
  const nonce = random(24);
  const key = await deriveKey(passphrase, salt, kdf);
  const plain = encodeSecrets(secrets);
  const ciphertext = aeadSeal(key, nonce, plain, KEYSTORE_AD);
  wipe(key, plain);
  const file = {
    v: KEYSTORE_VERSION,
    kdf: { alg: 'argon2id', salt: toBase64url(salt), ...kdf },
    nonce: toBase64url(nonce),
    ciphertext: toBase64url(ciphertext),
  };
  writeSecretFile(path, `${JSON.stringify(file, null, 2)}\n`);
}

/** Decrypts the keystore. A wrong passphrase is `bad_passphrase` (exit 1) and changes nothing. */
export async function readKeystore(path: string, passphrase: string): Promise<Secrets> {
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
  const key = await deriveKey(passphrase, fromBase64url(f.kdf.salt), f.kdf);
  let plain: Uint8Array;
  try {
    plain = aeadOpen(key, fromBase64url(f.nonce), fromBase64url(f.ciphertext), KEYSTORE_AD);
  } catch {
    throw new CliError('bad_passphrase', 'wrong passphrase (the keystore did not decrypt)', {
      hint: 'check FASTCHAT_PASSPHRASE, or FASTCHAT_HOME if this is not the home you meant',
    });
  } finally {
    wipe(key);
  }
  try {
    return parseSecrets(plain);
  } finally {
    wipe(plain);
  }
}
