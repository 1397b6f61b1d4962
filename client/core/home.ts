// FASTCHAT_HOME: where one user's keys, sessions and history live. The folder is 0700 and every
// file in it that holds a secret is written 0600 (atomically, so a crash never leaves half a file):
// client/node/home-files.ts, reached through `#home-files` (platform/files.ts); the page keeps its
// home's files in memory and in its vault instead.
import { homeFiles } from '#home-files';
import { CliError } from '../errors.js';

export interface Home {
  dir: string;
  keystore: string; // passphrase-encrypted identity key and storage key
  store: string; // SQLite: contacts, sessions, prekeys, outbox, history
  counter: string; // the store's generation, sealed: notices a store.db put back from an older copy
  config: string; // relay URL, username, device, CA file (not secret)
  token: string; // relay bearer token (secret, 0600, never printed)
}

/** FASTCHAT_HOME, else ~/.fastchat (in the page: its one home, kept in the vault). */
export function homeDir(): string {
  return homeFiles.defaultDir();
}

export function homePaths(dir: string = homeDir()): Home {
  // `dir` is absolute (homeDir resolves it), so joining is appending.
  const at = (name: string): string => `${dir.replace(/\/+$/, '')}/${name}`;
  return {
    dir,
    keystore: at('keystore.json'),
    store: at('store.db'),
    counter: at('store.counter'),
    config: at('config.json'),
    token: at('token.json'),
  };
}

/** Creates the home (0700) if needed and tightens its mode if it already exists. */
export function ensureHome(home: Home): void {
  homeFiles.makePrivateDir(home.dir);
}

export function hasKeys(home: Home): boolean {
  return homeFiles.exists(home.keystore);
}

/** Write-then-rename with mode 0600: readers see the old file or the new one, never a mix. */
export function writeSecretFile(path: string, data: string | Uint8Array): void {
  homeFiles.writeSecret(path, data);
}

export function readJsonFile(path: string): unknown {
  const bytes = homeFiles.read(path);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new CliError('corrupt_file', `cannot read ${path}: not valid JSON`, { cause: e });
  }
}

export function removeFile(path: string): void {
  homeFiles.remove(path);
}
