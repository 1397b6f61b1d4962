// Operator actions on a relay's database (`fastchat relay users ...`). They work on the SQLite file
// directly, through the same Store the relay uses, so they also work while the relay is running:
// the running relay reads ban status with every request and re-checks live sockets on its sweep,
// so a ban made here takes effect there without a restart.
import { existsSync } from 'node:fs';
import { RelayError } from './errors.js';
import { isUsername } from './schemas.js';
import { openSqliteStore, type Store } from './store/index.js';

/** One account as the operator sees it: metadata only, never a password hash. */
export interface AdminUser {
  username: string;
  createdAt: string;
  banned: boolean;
  bannedAt: string | null;
  devices: number;
  queued: number;
}

export type BanState = Pick<AdminUser, 'username' | 'banned' | 'bannedAt'>;

/**
 * Opens an existing relay database. A missing file is an error rather than a fresh empty database,
 * so a mistyped --db path cannot make `ban` look like it worked.
 */
export function openAdminStore(dbPath: string): Store {
  if (dbPath !== ':memory:' && !existsSync(dbPath)) throw new RelayError('not_found', `no relay database at ${dbPath}`);
  return openSqliteStore(dbPath);
}

/** Usernames are case-folded like the relay does, and checked before they reach SQL. */
export function normaliseUsername(input: string): string {
  const name = input.toLowerCase();
  if (!isUsername(name)) throw new RelayError('invalid_username', `invalid username: ${JSON.stringify(input.slice(0, 64))}`);
  return name;
}

export function listUsers(store: Store): AdminUser[] {
  return store.listUsers().map((u) => ({
    username: u.username,
    createdAt: new Date(u.createdAt).toISOString(),
    banned: u.bannedAt !== null,
    bannedAt: u.bannedAt === null ? null : new Date(u.bannedAt).toISOString(),
    devices: u.devices,
    queued: u.queued,
  }));
}

/** Bans an account: its tokens stop working and the relay closes its sockets. Idempotent. */
export function banUser(store: Store, username: string, now: number): BanState {
  const name = normaliseUsername(username);
  const user = store.getUser(name);
  if (!user) throw new RelayError('unknown_user', `unknown user: ${name}`);
  // Re-banning keeps the first ban time: it is the one the operator wants to see.
  const bannedAt = user.bannedAt ?? now;
  if (user.bannedAt === null) store.setBanned(name, bannedAt);
  return { username: name, banned: true, bannedAt: new Date(bannedAt).toISOString() };
}

export function unbanUser(store: Store, username: string): BanState {
  const name = normaliseUsername(username);
  if (!store.getUser(name)) throw new RelayError('unknown_user', `unknown user: ${name}`);
  store.setBanned(name, null);
  return { username: name, banned: false, bannedAt: null };
}

/** Deletes an account with its devices, keys, sessions and queued messages. */
export function deleteUser(store: Store, username: string): { username: string; deleted: true } {
  const name = normaliseUsername(username);
  if (!store.deleteUser(name)) throw new RelayError('unknown_user', `unknown user: ${name}`);
  return { username: name, deleted: true };
}
