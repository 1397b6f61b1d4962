// The files of a home (home.ts: config.json, token.json, keystore.json, store.counter) go through
// this seam: the file system in the CLI (client/node/home-files.ts), a map in memory in the page
// (platform/memory-files.ts), which the page keeps in its vault. package.json "imports" maps
// `#home-files` to one or the other, like `#http-transport` (platform/http.ts).

/** A file overwritten in place, again and again (the store counter after each commit). */
export interface Overwriter {
  write(data: Uint8Array): void;
  close(): void;
}

export interface HomeFiles {
  /** Where the home is when nothing names one (FASTCHAT_HOME, else ~/.fastchat, in the CLI). */
  defaultDir(): string;
  /** Creates the directory, private to this user, or makes an existing one private. */
  makePrivateDir(dir: string): void;
  exists(path: string): boolean;
  /** The file's bytes, or undefined when there is none. */
  read(path: string): Uint8Array | undefined;
  /** Replaces the whole file at once (readers see the old file or the new one), private to this user. */
  writeSecret(path: string, data: string | Uint8Array): void;
  /** Removes the file; none is fine. */
  remove(path: string): void;
  /** For a file that exists: writes land at its start, in place. */
  overwriter(path: string): Overwriter;
}
