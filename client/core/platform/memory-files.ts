// The home's files in the page: a map in memory, under the fixed directory `/fastchat`. The page
// persists it (snapshot/restore) in its vault, encrypted under the passphrase; nothing here
// touches storage itself. `onChange` lets the page save after each change.
import type { HomeFiles } from './files.js';

const files = new Map<string, Uint8Array>();
let changed: () => void = () => {};

export const homeFiles: HomeFiles = {
  defaultDir: () => '/fastchat',
  makePrivateDir() {},
  exists: (path) => files.has(path),
  read: (path) => files.get(path)?.slice(),
  writeSecret(path, data) {
    files.set(path, typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
    changed();
  },
  remove(path) {
    if (files.delete(path)) changed();
  },
  overwriter(path) {
    if (!files.has(path)) throw new Error(`no file ${path}`);
    return {
      write(data) {
        files.set(path, data.slice());
        changed();
      },
      close() {},
    };
  },
};

/** Every file, for the page to seal into its vault. */
export function snapshotFiles(): Map<string, Uint8Array> {
  return new Map([...files].map(([k, v]) => [k, v.slice()]));
}

/** Replaces every file with `from` (the page, after unlocking its vault). */
export function restoreFiles(from: Map<string, Uint8Array>): void {
  files.clear();
  for (const [k, v] of from) files.set(k, v.slice());
}

/** `fn` runs after every change. */
export function onFilesChange(fn: () => void): void {
  changed = fn;
}
