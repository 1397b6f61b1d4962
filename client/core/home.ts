// FASTCHAT_HOME: where one user's keys, sessions and history live. The folder is 0700 and every
// file in it that holds a secret is written 0600 (atomically, so a crash never leaves half a file).
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CliError } from '../errors.js';

export interface Home {
  dir: string;
  keystore: string; // passphrase-encrypted identity key and storage key
  store: string; // SQLite: contacts, sessions, prekeys, outbox, history
  counter: string; // the store's generation, sealed: notices a store.db put back from an older copy
  config: string; // relay URL, username, device, CA file (not secret)
  token: string; // relay bearer token (secret, 0600, never printed)
}

export function homeDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.FASTCHAT_HOME;
  return resolve(dir && dir.length > 0 ? dir : join(homedir(), '.fastchat'));
}

export function homePaths(dir: string = homeDir()): Home {
  return {
    dir,
    keystore: join(dir, 'keystore.json'),
    store: join(dir, 'store.db'),
    counter: join(dir, 'store.counter'),
    config: join(dir, 'config.json'),
    token: join(dir, 'token.json'),
  };
}

/** Creates the home (0700) if needed and tightens its mode if it already exists. */
export function ensureHome(home: Home): void {
  mkdirSync(home.dir, { recursive: true, mode: 0o700 });
  chmodSync(home.dir, 0o700);
}

export function hasKeys(home: Home): boolean {
  return existsSync(home.keystore);
}

/** Write-then-rename with mode 0600: readers see the old file or the new one, never a mix. */
export function writeSecretFile(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function readJsonFile(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CliError('corrupt_file', `cannot read ${path}: not valid JSON`, { cause: e });
  }
}

export function removeFile(path: string): void {
  rmSync(path, { force: true });
}
