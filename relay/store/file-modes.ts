// The relay's database holds password hashes, token hashes, every queued ciphertext and the
// routing metadata of docs/THREAT_MODEL.md: it is for the relay's user alone. SQLite creates the
// file with 0644 under the usual umask, and gives its -wal and -shm (and a rollback -journal) the
// mode of the database file. So the file is created 0600 here before SQLite opens it, and the
// modes of files left by an older relay (or copied in by an operator) are narrowed at start.
import { chmodSync, closeSync, constants, openSync, statSync } from 'node:fs';

export const DB_FILE_MODE = 0o600;
export const SUFFIXES = ['', '-wal', '-shm', '-journal'] as const;

/** Whether `path` names a file (not ':memory:', '' or a `file:` URI, which SQLite resolves itself). */
export function isFilePath(path: string): boolean {
  return path !== ':memory:' && path !== '' && !path.startsWith('file:');
}

/**
 * Creates the database file with mode 0600 when it does not exist, and narrows the database and
 * its companion files to 0600 when they are readable or writable by others. Returns the files whose
 * mode was narrowed, with their old mode.
 */
export function secureDbFiles(path: string): { file: string; mode: number }[] {
  if (!isFilePath(path)) return [];
  try {
    // O_EXCL: never truncates or takes over a file that appeared meanwhile; O_NOFOLLOW: never
    // creates through a planted symlink.
    closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, DB_FILE_MODE));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const fixed: { file: string; mode: number }[] = [];
  for (const suffix of SUFFIXES) fixMode(path + suffix, DB_FILE_MODE, fixed);
  return fixed;
}

/** Narrows `file` to `mode` when it grants more; a missing file is fine. */
export function fixMode(file: string, mode: number, fixed: { file: string; mode: number }[]): void {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const now = st.mode & 0o777;
  if ((now & ~mode) === 0) return;
  chmodSync(file, mode);
  fixed.push({ file, mode: now });
}
