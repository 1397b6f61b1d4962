// Operator actions on a relay's database (`fastchat relay users ...`). They work on the SQLite file
// directly, through the same Store the relay uses, so they also work while the relay is running:
// the running relay reads ban status with every request and re-checks live sockets on its sweep,
// so a ban made here takes effect there without a restart.
import { existsSync, rmSync } from 'node:fs';
import { DEFAULTS } from './config.js';
import { RelayError } from './errors.js';
import { isUsername } from './schemas.js';
import { publishOnce } from './bus/nats.js';
import { openSqliteStore, type Store } from './store/index.js';
import { openPostgresStore } from './store/postgres/index.js';
import { DatabaseLock } from './store/lock.js';
import { markPath, readMark, writeMarkNow } from './store/mark.js';
import { inspectDatabase, type DatabaseReport } from './store/verify.js';

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
 * Opens an existing relay database: a SQLite file, or (`postgres`) the PostgreSQL database of a
 * relay of several nodes. A missing file is an error rather than a fresh empty database, so a
 * mistyped --db path cannot make `ban` look like it worked.
 */
export async function openAdminStore(dbPath: string, postgres: string | null = null): Promise<Store> {
  if (postgres !== null) return openPostgresStore(postgres, { poolMax: 2 });
  if (dbPath !== ':memory:' && !existsSync(dbPath)) throw new RelayError('not_found', `no relay database at ${dbPath}`);
  return openSqliteStore(dbPath);
}

/**
 * Tells every relay node on the bus that `username`'s tokens must be checked again now (a ban or
 * a deletion made here, in another process): their sockets close at once instead of at the
 * nodes' next periodic re-check.
 */
export async function announceRevocation(bus: string, username: string): Promise<void> {
  await publishOnce(bus.split(',').map((u) => u.trim()), { kind: 'sessions_revoked', user: username });
}

/** Usernames are case-folded like the relay does, and checked before they reach SQL. */
export function normaliseUsername(input: string): string {
  const name = input.toLowerCase();
  if (!isUsername(name)) throw new RelayError('invalid_username', `invalid username: ${JSON.stringify(input.slice(0, 64))}`);
  return name;
}

export async function listUsers(store: Store): Promise<AdminUser[]> {
  return (await store.listUsers()).map((u) => ({
    username: u.username,
    createdAt: new Date(u.createdAt).toISOString(),
    banned: u.bannedAt !== null,
    bannedAt: u.bannedAt === null ? null : new Date(u.bannedAt).toISOString(),
    devices: u.devices,
    queued: u.queued,
  }));
}

/** Bans an account: its tokens stop working and the relay closes its sockets. Idempotent. */
export async function banUser(store: Store, username: string, now: number): Promise<BanState> {
  const name = normaliseUsername(username);
  const user = await store.getUser(name);
  if (!user) throw new RelayError('unknown_user', `unknown user: ${name}`);
  // Re-banning keeps the first ban time: it is the one the operator wants to see.
  const bannedAt = user.bannedAt ?? now;
  if (user.bannedAt === null) await store.setBanned(name, bannedAt);
  return { username: name, banned: true, bannedAt: new Date(bannedAt).toISOString() };
}

export async function unbanUser(store: Store, username: string): Promise<BanState> {
  const name = normaliseUsername(username);
  if (!(await store.getUser(name))) throw new RelayError('unknown_user', `unknown user: ${name}`);
  await store.setBanned(name, null);
  return { username: name, banned: false, bannedAt: null };
}

/** Deletes an account with its devices, keys, sessions and queued messages. */
export async function deleteUser(store: Store, username: string): Promise<{ username: string; deleted: true }> {
  const name = normaliseUsername(username);
  if (!(await store.deleteUser(name))) throw new RelayError('unknown_user', `unknown user: ${name}`);
  return { username: name, deleted: true };
}

/** A device the relay holds that its account's newest signed list does not name (Store.unlistedDevices). */
export interface StrandedDevice {
  username: string;
  device: number;
  createdAt: string;
}

/**
 * The devices no signed list names, of one account or of every account: what a link whose ticket
 * login reply was lost left behind (the device added on the relay, holding a slot of
 * --max-devices, never in the list), or a home that could not sign itself in. A device added
 * minutes ago may be a link still finishing: its createdAt says so.
 */
export async function strandedDevices(store: Store, username?: string): Promise<StrandedDevice[]> {
  const names = username === undefined ? (await store.listUsers()).map((u) => u.username) : [normaliseUsername(username)];
  const out: StrandedDevice[] = [];
  for (const name of names) {
    const devices = await store.unlistedDevices(name);
    if (devices === undefined) throw new RelayError('unknown_user', `unknown user: ${name}`);
    out.push(...devices.map((d) => ({ username: name, device: d.device, createdAt: new Date(d.createdAt).toISOString() })));
  }
  return out;
}

/**
 * Removes a stranded device as a list leaving it out would: its tokens, queue and keys go, and it
 * cannot log in again; its slot is free. 'listed': refused, because the newest list names it (only
 * the account key removes it: `fastchat device remove`) or the account has no list; 'unknown': the
 * relay holds no such device.
 */
export async function removeStrandedDevice(store: Store, username: string, device: number, now: number): Promise<'removed' | 'listed' | 'unknown'> {
  const name = normaliseUsername(username);
  if (!(await store.getUser(name))) throw new RelayError('unknown_user', `unknown user: ${name}`);
  return store.removeUnlistedDevice(name, device, now);
}

/** `relay check`: the start-up checks, with the full integrity_check unless `quick`. Read-only. */
export function checkDatabase(dbPath: string, mode: 'quick' | 'full'): DatabaseReport {
  if (!existsSync(dbPath) && readMark(dbPath) === null) throw new RelayError('not_found', `no relay database at ${dbPath}`);
  return inspectDatabase(dbPath, mode);
}

/**
 * `relay check --accept-loss`: the operator accepts the database as it is (a -wal was lost, or a
 * backup was restored on purpose). Only for a stopped relay (takes its lock), only for a file that
 * passes the full integrity check; then the high-water mark is set to the database's counter.
 */
export function acceptLoss(dbPath: string): DatabaseReport & { accepted: boolean } {
  if (!existsSync(dbPath)) throw new RelayError('not_found', `no relay database at ${dbPath}`);
  const lock = DatabaseLock.take(dbPath);
  try {
    const r = inspectDatabase(dbPath, 'full');
    const fixable = r.refusal === null || r.refusal.code === 'database_rolled_back' || r.refusal.code === 'database_replaced';
    if (!fixable) return { ...r, accepted: false };
    // A file without even its relay id gets a new one at start: drop the mark of the old one.
    if (r.meta) writeMarkNow(dbPath, { relayId: r.meta.relayId, commits: r.meta.commits });
    else rmSync(markPath(dbPath), { force: true });
    return { ...inspectDatabase(dbPath, 'quick'), accepted: true };
  } finally {
    lock.release();
  }
}

/**
 * `relay expire`: the operator lets a held expiry go (relay/sweep.ts), by this machine's clock.
 * Senders get their expiry notices on their next connection. Blob files whose rows go are removed
 * by the relay's next sweep.
 */
export async function expireNow(store: Store, now: number, dryRun: boolean): Promise<{ now: string; expiring: number; queued: number; expiringSessions: number; sessions: number; done: boolean; messages: number; notices: number; blobs: number }> {
  const p = await store.expiryPreview(now);
  const base = { now: new Date(now).toISOString(), expiring: p.expiring, queued: p.queued, expiringSessions: p.expiringSessions, sessions: p.sessions };
  if (dryRun) return { ...base, done: false, messages: 0, notices: 0, blobs: 0 };
  const r = await store.sweep(now, DEFAULTS.messageTtlMs);
  const blobs = (await store.blobs.expire(now)).length;
  return { ...base, done: true, messages: r.messages, notices: r.notices.length, blobs };
}
