// The home's files on disk: the folder is 0700 and every file in it that holds a secret is written
// 0600 (atomically, so a crash never leaves half a file).
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { HomeFiles } from '../core/platform/files.js';

export const homeFiles: HomeFiles = {
  defaultDir() {
    const dir = process.env.FASTCHAT_HOME;
    return resolve(dir && dir.length > 0 ? dir : join(homedir(), '.fastchat'));
  },
  makePrivateDir(dir) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  },
  exists: (path) => existsSync(path),
  read(path) {
    if (!existsSync(path)) return undefined;
    return new Uint8Array(readFileSync(path));
  },
  // Write-then-rename with mode 0600.
  writeSecret(path, data) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, data, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  },
  remove(path) {
    rmSync(path, { force: true });
  },
  // One descriptor kept open, one pwrite at offset 0 per write.
  overwriter(path) {
    const fd = openSync(path, 'r+');
    return {
      write: (data) => void writeSync(fd, data, 0, undefined, 0),
      close: () => closeSync(fd),
    };
  },
};
