// The SQLite Store (better-sqlite3: synchronous, so one transaction never interleaves with another
// in this process). Each method does its work when called and answers with a settled promise
// (store/types.ts): the interface is PostgreSQL's, the cost is one microtask per await.
//
// Durability. WAL journal; `synchronous` is an option:
//  - FULL (default): every commit fsyncs the WAL, so a message acknowledged to its sender survives
//    a process crash AND a power loss or kernel panic. The relay batches every submission of one
//    event-loop turn into one transaction, so the fsync is paid once per batch, not per message.
//  - NORMAL: commits reach the OS page cache before the ack but are fsynced only at checkpoints.
//    That survives kill -9 of the process (the OS still writes the WAL) but a power loss can lose
//    the last acknowledged messages. Faster on slow disks; choose it only on a UPS-backed host.
import Database from 'better-sqlite3';
import { RelayError } from '../errors.js';
import { checkDeviceListUpload, devicesNamed } from '../device-lists.js';
import { NOTICE_MAX_MESSAGES, noticeBody, queuedMessage, type QueuedRow, queueFull, staleEpoch, storageFull, StreamHolds, uniqueAddresses, unknownDevice, unknownUser } from './batch.js';
import type { SyncLevel } from '../config.js';
import { secureDbFiles } from './file-modes.js';
import { ensureMeta, readMeta } from './meta.js';
import { ADDED_COLUMNS, SCHEMA } from './schema.js';
import { SqliteBlobIndex } from './sqlite-blobs.js';
import { SqliteBlocks } from './sqlite-blocks.js';
import { SqliteLinking } from './sqlite-linking.js';
import { SqliteCorrespondents } from './sqlite-correspondents.js';
import type {
  AckRequest, Address, BlobIndex, DeviceBundle, ExpiryPreview, ExpiredNotice, OneTimePreKeyBytes, PublicIdentityBytes, QueueLimits, QueuedMessage,
  SessionRecord, SignedPreKeyBytes, Store, SubmitRequest, SubmitResult, SweepResult, UserRecord,
} from './types.js';

export interface SqliteStoreOptions {
  synchronous?: SyncLevel;
  /**
   * Called after every committed write transaction with the database's commit counter: the relay
   * writes its high-water mark from it (mark.ts). The admin tool passes nothing.
   */
  onCommit?: (commits: number) => void;
  /** Told about each database file whose mode was too open and has been narrowed to 0600. */
  onModeFixed?: (file: string, oldMode: number) => void;
}

type Row = Record<string, any>;

/**
 * What one commit batch has looked up, kept for the rest of it: inside its transaction nothing
 * else writes, so a fact read for one send holds for the next. A group's recipients are checked
 * once per batch, not once per frame. (The queue usage is kept longer: QueueUsage.)
 */
interface BatchMemo {
  /** `${user}\0${device}` → that device exists. */
  devices: Map<string, boolean>;
  /** `${recipient}\0${sender}` → the recipient blocks the sender. */
  blocked: Map<string, boolean>;
}

/**
 * The usage (messages, bytes) of recipient queues, counted up and down in memory across commit
 * batches instead of scanned per batch: the count/sum over a queue's deliveries costs in
 * proportion to the queue (4.4 µs per message at 5,000 queued; docs/PERFORMANCE.md). It holds
 * only while this store alone wrote since it was counted, which the commit counter tells: every
 * write transaction of every process on the file (another relay's admin command, the sweep, a
 * device removal) counts it up, and `PRAGMA data_version` changes when any other connection
 * commits. This store's own writes that leave every queue as it was (a login, a key upload; an
 * ackBatch, which counts its acks down here) say so (`write(fn, 'queues kept')`) and keep it. A
 * commit batch finds both where its own last batch left them, or forgets everything. Bounded:
 * past MAX_QUEUES queues it starts over.
 */
class QueueUsage {
  private static readonly MAX_QUEUES = 50_000;
  private readonly queues = new Map<string, { n: number; bytes: number }>();
  /** The commit counter this usage is exact at; -1: nothing is known. */
  private at = -1;
  /** This connection's `PRAGMA data_version` then: it changes when another connection commits. */
  private version = -1;

  /**
   * Called first in a commit batch's transaction with the counter and data_version as they are.
   * data_version also catches a writer that does not count (a raw sqlite3 session on the file).
   */
  begin(commits: number, version: number): void {
    if (commits !== this.at || version !== this.version || this.queues.size > QueueUsage.MAX_QUEUES) this.queues.clear();
    this.at = commits + 1; // what this batch's own count makes it, if it commits
    this.version = version; // our own commits leave it as it is
  }

  /**
   * A write transaction of this store that changed no queue committed as number `commits`: if the
   * usage was exact just before it, it still is.
   */
  passed(commits: number): void {
    if (this.at === commits - 1) this.at = commits;
  }

  /** The batch did not commit: nothing counted is known to hold. */
  forget(): void {
    this.queues.clear();
    this.at = -1;
  }

  get(key: string, count: () => { n: number; bytes: number }): { n: number; bytes: number } {
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = count()));
    return q;
  }

  /** An acked delivery left a queue (one not counted yet is counted when a send needs it). */
  removed(key: string, size: number): void {
    const q = this.queues.get(key);
    if (!q) return;
    q.n -= 1;
    q.bytes -= size;
  }
}

const u8 = (b: Buffer | Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** The SQLite store, plus what only a SQLite file has: the commit counter of its meta rows. */
export type SqliteRelayStore = Store & { commits(): number; freeBytesInside(): number };

export function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): SqliteRelayStore {
  // 0600 before SQLite creates anything: the -wal and -shm take the database file's mode.
  for (const f of secureDbFiles(path)) opts.onModeFixed?.(f.file, f.mode);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
  db.pragma('foreign_keys = ON');
  // Deleted rows are overwritten with zeros, not left in free pages: a delivered and acked body
  // (or a deleted account's keys) must not be recoverable from the file (test/relay-scan.test.ts).
  db.pragma('secure_delete = ON');
  // A second process (the admin command) may hold the write lock briefly.
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  for (const [table, column, declaration] of ADDED_COLUMNS) {
    const have = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
    if (!have) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${declaration}`);
  }
  const meta = ensureMeta(db);
  return new SqliteStore(db, meta.relayId, opts.onCommit ?? (() => {}));
}

class SqliteStore implements SqliteRelayStore {
  private readonly s;
  readonly blobs: BlobIndex;
  readonly correspondents: SqliteCorrespondents;
  readonly blocks: SqliteBlocks;
  readonly linking: SqliteLinking;
  private readonly bump;
  private readonly commitCount;
  private readonly dataVersion;
  private readonly usage = new QueueUsage();

  constructor(
    private readonly db: Database.Database,
    readonly relayId: string,
    private readonly onCommit: (commits: number) => void,
  ) {
    const bumpStmt = db.prepare("UPDATE relay_meta SET value = value + 1 WHERE key = 'commits' RETURNING value");
    this.bump = (): number => (bumpStmt.get() as { value: number }).value;
    const commitsStmt = db.prepare("SELECT value FROM relay_meta WHERE key = 'commits'");
    this.commitCount = (): number => (commitsStmt.get() as { value: number }).value;
    const versionStmt = db.prepare('PRAGMA data_version').pluck();
    this.dataVersion = (): number => versionStmt.get() as number;
    this.blobs = new SqliteBlobIndex(db, (fn) => this.write(fn, 'queues kept'));
    this.correspondents = new SqliteCorrespondents(db);
    this.blocks = new SqliteBlocks(db, (fn) => this.write(fn, 'queues kept'));
    this.linking = new SqliteLinking(db, (fn) => this.write(fn, 'queues kept'));
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      createUser: p('INSERT OR IGNORE INTO users (username, password_hash, created_at) VALUES (?, ?, ?)'),
      getUser: p('SELECT username, password_hash, created_at, banned_at FROM users WHERE username = ?'),
      touchDevice: p('INSERT OR IGNORE INTO devices (username, device_id, created_at) VALUES (?, ?, ?)'),
      deviceExists: p('SELECT 1 FROM devices WHERE username = ? AND device_id = ?'),
      userExists: p('SELECT 1 FROM users WHERE username = ?'),
      countDevices: p('SELECT count(*) AS n FROM devices WHERE username = ?'),
      createSession: p('INSERT INTO sessions (token_hash, username, device_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
      // Not for a removed device: a list removing it may commit while the login's argon2 runs.
      createSessionIfHash: p(`INSERT INTO sessions (token_hash, username, device_id, created_at, expires_at, password_at)
                              SELECT ?, u.username, ?, ?, ?, ? FROM users u WHERE u.username = ? AND u.password_hash = ?
                                AND NOT EXISTS (SELECT 1 FROM removed_devices r WHERE r.username = u.username AND r.device_id = ?)`),
      deleteSessions: p('DELETE FROM sessions WHERE username = ?'),
      setPasswordIfHash: p('UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?'),
      passwordSession: p('INSERT INTO sessions (token_hash, username, device_id, created_at, expires_at, password_at) VALUES (?, ?, ?, ?, ?, ?)'),
      getSession: p(`SELECT s.username, s.device_id, s.expires_at, s.password_at, u.banned_at FROM sessions s
                     JOIN users u ON u.username = s.username WHERE s.token_hash = ? AND s.expires_at > ?`),
      deleteSession: p('DELETE FROM sessions WHERE token_hash = ?'),
      setBundle: p(`UPDATE devices SET identity_dh = ?, identity_sign = ?, identity_sig = ?, spk_id = ?, spk_created_at = ?,
                    spk_public = ?, spk_sig = ? WHERE username = ? AND device_id = ?`),
      setSpk: p(`UPDATE devices SET spk_id = ?, spk_created_at = ?, spk_public = ?, spk_sig = ?
                 WHERE username = ? AND device_id = ? AND identity_dh IS NOT NULL`),
      getIdentity: p('SELECT identity_dh, identity_sign, identity_sig FROM devices WHERE username = ? AND device_id = ? AND identity_dh IS NOT NULL'),
      hasBundle: p('SELECT 1 FROM devices WHERE username = ? AND device_id = ? AND identity_dh IS NOT NULL'),
      clearOtks: p('DELETE FROM one_time_prekeys WHERE username = ? AND device_id = ?'),
      putOtk: p('INSERT OR REPLACE INTO one_time_prekeys (username, device_id, key_id, public_key) VALUES (?, ?, ?, ?)'),
      countOtks: p('SELECT count(*) AS n FROM one_time_prekeys WHERE username = ? AND device_id = ?'),
      bundleDevices: p(`SELECT device_id, identity_dh, identity_sign, identity_sig, spk_id, spk_created_at, spk_public, spk_sig
                        FROM devices WHERE username = ? AND identity_dh IS NOT NULL ORDER BY device_id`),
      // The lowest-id key of the device, deleted and returned in one statement.
      takeOtk: p(`DELETE FROM one_time_prekeys WHERE username = ? AND device_id = ? AND key_id =
                    (SELECT key_id FROM one_time_prekeys WHERE username = ? AND device_id = ? ORDER BY key_id LIMIT 1)
                  RETURNING key_id, public_key`),
      sentId: p('SELECT stored_at FROM sent_ids WHERE sender = ? AND sender_device = ? AND client_id = ?'),
      insertSentId: p('INSERT INTO sent_ids (sender, sender_device, client_id, stored_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
      insertMessage: p(`INSERT INTO messages (sender, sender_device, client_id, body, stored_at, expires_at)
                        VALUES (?, ?, ?, ?, ?, ?)`),
      insertDelivery: p('INSERT INTO deliveries (message_id, username, device_id, size) VALUES (?, ?, ?, ?)'),
      fence: p('SELECT epoch FROM group_fences WHERE group_id = ?'),
      raiseFence: p(`INSERT INTO group_fences (group_id, epoch, updated_at, expires_at) VALUES (?, ?, ?, ?)
                     ON CONFLICT (group_id) DO UPDATE SET epoch = max(epoch, excluded.epoch), updated_at = excluded.updated_at, expires_at = excluded.expires_at`),
      expireFences: p('DELETE FROM group_fences WHERE expires_at <= ?'),
      queueUsage: p('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM deliveries WHERE username = ? AND device_id = ?'),
      deleteDelivery: p('DELETE FROM deliveries WHERE id = ? AND username = ? AND device_id = ? RETURNING message_id, size'),
      deleteMessageIfDone: p('DELETE FROM messages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM deliveries WHERE message_id = ?)'),
      pending: p(`SELECT d.id, m.kind, m.client_id, m.sender, m.sender_device, m.body, m.stored_at FROM deliveries d
                  JOIN messages m ON m.id = d.message_id
                  WHERE d.username = ? AND d.device_id = ? AND d.id > ? ORDER BY d.id LIMIT ?`),
      expireMessages: p('DELETE FROM messages WHERE expires_at <= ?'),
      // Deliveries of messages about to expire: who sent what to whom, for the senders' notices.
      expiringDeliveries: p(`SELECT m.sender, m.sender_device, m.client_id, m.stored_at, d.username, d.device_id
                             FROM messages m JOIN deliveries d ON d.message_id = m.id
                             WHERE m.expires_at <= ? AND m.kind = 'message' ORDER BY m.sender, m.sender_device, d.id`),
      insertNotice: p(`INSERT INTO messages (sender, sender_device, client_id, body, stored_at, expires_at, kind)
                       VALUES ('', 0, 'expired', ?, ?, ?, 'expired')`),
      countExpiring: p('SELECT count(*) AS n FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE m.expires_at <= ?'),
      countSessions: p('SELECT count(*) AS n, coalesce(sum(expires_at <= ?), 0) AS expiring FROM sessions'),
      clockHigh: p("SELECT value FROM relay_meta WHERE key = 'clock_high'"),
      setClockHigh: p("INSERT OR REPLACE INTO relay_meta (key, value) VALUES ('clock_high', ?)"),
      orphanMessages: p('DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = messages.id)'),
      expireSentIds: p('DELETE FROM sent_ids WHERE expires_at <= ?'),
      expireSessions: p('DELETE FROM sessions WHERE expires_at <= ?'),
      queueDepth: p('SELECT count(*) AS n FROM deliveries'),
      listUsers: p(`SELECT u.username, u.password_hash, u.created_at, u.banned_at,
                      (SELECT count(*) FROM devices d WHERE d.username = u.username) AS devices,
                      (SELECT count(*) FROM deliveries q WHERE q.username = u.username) AS queued
                    FROM users u ORDER BY u.username`),
      setBanned: p('UPDATE users SET banned_at = ? WHERE username = ?'),
      deleteUser: p('DELETE FROM users WHERE username = ?'),
      // The dedup record of a deleted account's sends: a new account of the same name must not have
      // its first messages acked as duplicates of the old one's and dropped.
      lastDeviceList: p('SELECT list FROM device_lists WHERE username = ? ORDER BY version DESC LIMIT 1'),
      putDeviceList: p('INSERT INTO device_lists (username, version, list, stored_at) VALUES (?, ?, ?, ?)'),
      deviceLists: p('SELECT version, list FROM device_lists WHERE username = ? AND version > ? ORDER BY version LIMIT ?'),
      deleteDeviceLists: p('DELETE FROM device_lists WHERE username = ?'),
      markRemoved: p('INSERT OR REPLACE INTO removed_devices (username, device_id, removed_at) VALUES (?, ?, ?)'),
      unmarkRemoved: p('DELETE FROM removed_devices WHERE username = ? AND device_id = ?'),
      isRemoved: p('SELECT 1 FROM removed_devices WHERE username = ? AND device_id = ?'),
      deleteDeviceSessions: p('DELETE FROM sessions WHERE username = ? AND device_id = ?'),
      deleteDeviceQueue: p('DELETE FROM deliveries WHERE username = ? AND device_id = ? RETURNING message_id'),
      deleteDevice: p('DELETE FROM devices WHERE username = ? AND device_id = ?'),
      accountDevices: p('SELECT device_id, created_at FROM devices WHERE username = ? ORDER BY device_id'),
      deleteSentIds: p('DELETE FROM sent_ids WHERE sender = ?'),
    };
  }

  /**
   * Every write goes through here: one IMMEDIATE transaction that also counts up the commit
   * counter, and once it committed, the high-water mark outside the file hears the new count.
   */
  private write<T>(fn: () => T, queues: 'queues kept' | 'queues changed' = 'queues changed'): T {
    if (this.db.inTransaction) return fn(); // inside another write: that one counts and reports
    let commits = 0;
    let r: T;
    try {
      r = this.db.transaction(() => {
        const out = fn();
        commits = this.bump();
        return out;
      }).immediate();
    } catch (e) {
      this.usage.forget(); // what it counted in memory was rolled back in the file
      throw e;
    }
    if (queues === 'queues kept') this.usage.passed(commits);
    this.onCommit(commits);
    return r;
  }

  commits(): number {
    return readMeta(this.db)!.commits;
  }

  /** Bytes of free pages in the file: reused by inserts before the file grows (storage.ts). */
  freeBytesInside(): number {
    return (this.db.pragma('freelist_count', { simple: true }) as number) * (this.db.pragma('page_size', { simple: true }) as number);
  }

  async createUser(username: string, passwordHash: string, now: number): Promise<boolean> {
    return this.write(() => this.s.createUser.run(username, passwordHash, now).changes === 1, 'queues kept');
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const r = this.s.getUser.get(username) as Row | undefined;
    return r && { username: r.username, passwordHash: r.password_hash, createdAt: r.created_at, bannedAt: r.banned_at };
  }

  async touchDevice(user: string, device: number, now: number): Promise<void> {
    this.write(() => this.s.touchDevice.run(user, device, now), 'queues kept');
  }

  async addDevice(user: string, device: number, now: number, maxDevices: number): Promise<boolean> {
    return this.write(() => {
      if (this.s.deviceExists.get(user, device) !== undefined) return true;
      if (((this.s.countDevices.get(user) as Row).n as number) >= maxDevices) return false;
      this.s.touchDevice.run(user, device, now);
      return true;
    }, 'queues kept');
  }

  async deviceExists(user: string, device: number): Promise<boolean> {
    return this.s.deviceExists.get(user, device) !== undefined;
  }

  async createSession(tokenHash: Uint8Array, user: string, device: number, now: number, expiresAt: number, passwordHash?: string): Promise<boolean> {
    return this.write(() =>
      passwordHash === undefined
        ? this.s.createSession.run(tokenHash, user, device, now, expiresAt).changes === 1
        : this.s.createSessionIfHash.run(tokenHash, device, now, expiresAt, now, user, passwordHash, device).changes === 1,
      'queues kept',
    );
  }

  async getSession(tokenHash: Uint8Array, now: number): Promise<SessionRecord | undefined> {
    const r = this.s.getSession.get(tokenHash, now) as Row | undefined;
    return r && { user: r.username, device: r.device_id, expiresAt: r.expires_at, banned: r.banned_at !== null, passwordAt: r.password_at ?? null };
  }

  async deleteSession(tokenHash: Uint8Array): Promise<void> {
    this.write(() => this.s.deleteSession.run(tokenHash), 'queues kept');
  }

  async deleteSessions(user: string): Promise<number> {
    return this.write(() => this.s.deleteSessions.run(user).changes, 'queues kept');
  }

  async changePassword(user: string, oldHash: string, newHash: string, session: { tokenHash: Uint8Array; device: number; now: number; expiresAt: number }): Promise<number | undefined> {
    return this.write(() => {
      if (this.s.setPasswordIfHash.run(newHash, user, oldHash).changes !== 1) return undefined;
      const revoked = this.s.deleteSessions.run(user).changes;
      this.s.passwordSession.run(session.tokenHash, user, session.device, session.now, session.expiresAt, session.now);
      return revoked;
    }, 'queues kept');
  }

  async putBundle(user: string, device: number, id: PublicIdentityBytes, spk: SignedPreKeyBytes, otks: OneTimePreKeyBytes[], now: number): Promise<number> {
    return this.write(() => {
      this.s.touchDevice.run(user, device, now);
      this.s.setBundle.run(id.dhPublic, id.signPublic, id.signature, spk.id, spk.createdAt, spk.publicKey, spk.signature, user, device);
      this.s.clearOtks.run(user, device);
      for (const k of otks) this.s.putOtk.run(user, device, k.id, k.publicKey);
      return this.otkCount(user, device);
    }, 'queues kept');
  }

  async addOneTimePreKeys(user: string, device: number, otks: OneTimePreKeyBytes[], max: number): Promise<number> {
    return this.write(() => {
      for (const k of otks) this.s.putOtk.run(user, device, k.id, k.publicKey);
      const n = this.otkCount(user, device);
      // Throwing inside the transaction rolls the whole upload back.
      if (n > max) throw new RelayError('bad_request', `too many one-time prekeys: ${n} > ${max}`);
      return n;
    }, 'queues kept');
  }

  async setSignedPreKey(user: string, device: number, spk: SignedPreKeyBytes): Promise<boolean> {
    return this.write(() => this.s.setSpk.run(spk.id, spk.createdAt, spk.publicKey, spk.signature, user, device).changes === 1, 'queues kept');
  }

  async countOneTimePreKeys(user: string, device: number): Promise<number> {
    return this.otkCount(user, device);
  }

  private otkCount(user: string, device: number): number {
    return (this.s.countOtks.get(user, device) as Row).n as number;
  }

  async hasBundle(user: string, device: number): Promise<boolean> {
    return this.s.hasBundle.get(user, device) !== undefined;
  }

  async putDeviceList(caller: Address, list: Uint8Array, maxDevices: number, now: number, replace = false): Promise<{ version: number; duplicate: boolean; removed: number[] }> {
    // One IMMEDIATE transaction: the newest list cannot change between reading and storing.
    return this.write(() => {
      const last = this.s.lastDeviceList.get(caller.user) as Row | undefined;
      const r = checkDeviceListUpload(caller, last ? u8(last.list) : null, list, maxDevices, replace);
      if (r.duplicate) return { version: r.list.version, duplicate: true, removed: [] };
      if (r.replaces) this.s.deleteDeviceLists.run(caller.user);
      this.s.putDeviceList.run(caller.user, r.list.version, list, now);
      for (const d of r.list.devices) this.s.unmarkRemoved.run(caller.user, d.device);
      for (const d of r.removed) this.removeDevice(caller.user, d, now);
      return { version: r.list.version, duplicate: false, removed: r.removed };
    });
  }

  /** Inside putDeviceList's transaction: everything the relay holds for the device, and its tokens. */
  private removeDevice(user: string, device: number, now: number): void {
    this.s.markRemoved.run(user, device, now);
    this.s.deleteDeviceSessions.run(user, device);
    const bodies = new Set((this.s.deleteDeviceQueue.all(user, device) as Row[]).map((r) => r.message_id as number));
    for (const id of bodies) this.s.deleteMessageIfDone.run(id, id);
    this.s.deleteDevice.run(user, device); // its bundle and one-time prekeys (ON DELETE CASCADE)
  }

  async deviceRemoved(user: string, device: number): Promise<boolean> {
    return this.s.isRemoved.get(user, device) !== undefined;
  }

  async deviceLists(username: string, since: number, limit: number): Promise<{ version: number; list: Uint8Array }[] | undefined> {
    if (this.s.userExists.get(username) === undefined) return undefined;
    return (this.s.deviceLists.all(username, since, limit) as Row[]).map((r) => ({ version: r.version, list: u8(r.list) }));
  }

  async getIdentity(user: string, device: number): Promise<PublicIdentityBytes | undefined> {
    const r = this.s.getIdentity.get(user, device) as Row | undefined;
    return r && { dhPublic: u8(r.identity_dh), signPublic: u8(r.identity_sign), signature: u8(r.identity_sig) };
  }

  async listIdentities(username: string): Promise<{ deviceId: number; identity: PublicIdentityBytes }[] | undefined> {
    if (this.s.userExists.get(username) === undefined) return undefined;
    return (this.s.bundleDevices.all(username) as Row[]).map((r) => ({
      deviceId: r.device_id,
      identity: { dhPublic: u8(r.identity_dh), signPublic: u8(r.identity_sign), signature: u8(r.identity_sig) },
    }));
  }

  async takeBundles(username: string): Promise<DeviceBundle[] | undefined> {
    // IMMEDIATE takes the write lock up front, so two relays (or the admin tool) sharing the file
    // cannot both read the same key before either deletes it.
    return this.write(() => {
      if (this.s.userExists.get(username) === undefined) return undefined;
      const rows = this.s.bundleDevices.all(username) as Row[];
      return rows.map((r): DeviceBundle => {
        const k = this.s.takeOtk.get(username, r.device_id, username, r.device_id) as Row | undefined;
        return {
          deviceId: r.device_id,
          identity: { dhPublic: u8(r.identity_dh), signPublic: u8(r.identity_sign), signature: u8(r.identity_sig) },
          signedPreKey: { id: r.spk_id, createdAt: r.spk_created_at, publicKey: u8(r.spk_public), signature: u8(r.spk_sig) },
          oneTimePreKey: k ? { id: k.key_id, publicKey: u8(k.public_key) } : null,
          remaining: this.otkCount(username, r.device_id),
        };
      });
    }, 'queues kept');
  }

  async submitBatch(reqs: SubmitRequest[], now: number, limits: QueueLimits): Promise<SubmitResult[]> {
    return (await this.commitBatch([], reqs, now, limits)).results;
  }

  async commitBatch(acks: AckRequest[], reqs: SubmitRequest[], now: number, limits: QueueLimits): Promise<{ acked: number; results: SubmitResult[] }> {
    try {
      return this.write(() => {
        this.usage.begin(this.commitCount(), this.dataVersion());
        // Acks first: a recipient that acked frees its quota for the sends of the same turn.
        const acked = this.ackAll(acks);
        const memo: BatchMemo = { devices: new Map(), blocked: new Map() };
        const holds = new StreamHolds();
        const results = reqs.map((r) => holds.judge(r, () => this.submitOne(r, now, limits, memo)));
        return { acked, results };
      });
    } catch (e) {
      this.correspondents.forgetWritten();
      this.usage.forget();
      throw e;
    }
  }

  private submitOne(r: SubmitRequest, now: number, limits: QueueLimits, memo: BatchMemo): SubmitResult {
    const seen = this.s.sentId.get(r.sender.user, r.sender.device, r.clientId) as Row | undefined;
    if (seen) return { ok: true, duplicate: true, storedAt: seen.stored_at, recipients: [], deliveryIds: [] };
    // Below the disk's headroom only what is already stored is answered (above); acks still commit.
    if (limits.storageFull) return storageFull();
    // The stale-epoch fence: a group message for an epoch older than one already stored for its
    // group comes from a member that has not applied a change the others have (a removal above
    // all), and would reach whom that change took out. Defence in depth: the client syncs before
    // it sends; anyone can raise a group's fence (nothing here is verified), so a sender that
    // synced and is still behind passes with `synced`.
    if (r.fence && !r.fence.synced) {
      const f = this.s.fence.get(Buffer.from(r.fence.groupId)) as Row | undefined;
      if (f && r.fence.epoch < f.epoch) return staleEpoch(r.fence.epoch, f.epoch);
    }
    const named = uniqueAddresses(r.to);
    for (const to of named) {
      const k = `${to.user}\0${to.device}`;
      let exists = memo.devices.get(k);
      if (exists === undefined) memo.devices.set(k, (exists = this.s.deviceExists.get(to.user, to.device) !== undefined));
      if (exists) continue;
      if (this.s.userExists.get(to.user) === undefined) return unknownUser(to.user);
      return unknownDevice(to);
    }
    // Recipients who block the sender get nothing; the sender is answered as for any send.
    const recipients = named.filter((to) => {
      const k = `${to.user}\0${r.sender.user}`;
      let blocked = memo.blocked.get(k);
      if (blocked === undefined) memo.blocked.set(k, (blocked = this.blocks.isBlocked(to.user, r.sender.user)));
      return !blocked;
    });
    const queues = recipients.map((to) =>
      this.usage.get(`${to.user}\0${to.device}`, () => {
        const row = this.s.queueUsage.get(to.user, to.device) as Row;
        return { n: row.n, bytes: row.bytes };
      }),
    );
    for (const [i, q] of queues.entries()) {
      if (q.n + 1 > limits.maxMessages || q.bytes + r.body.length > limits.maxBytes) {
        return queueFull(recipients[i]!);
      }
    }
    for (const q of queues) {
      q.n += 1;
      q.bytes += r.body.length;
    }
    const expiresAt = now + limits.ttlMs;
    if (r.fence) this.s.raiseFence.run(Buffer.from(r.fence.groupId), r.fence.epoch, now, expiresAt);
    this.s.insertSentId.run(r.sender.user, r.sender.device, r.clientId, now, expiresAt);
    // Everyone named blocks the sender: nothing is kept (the id is, so a resend is a duplicate).
    if (recipients.length === 0) return { ok: true, duplicate: false, storedAt: now, recipients, deliveryIds: [] };
    const id = this.s.insertMessage.run(r.sender.user, r.sender.device, r.clientId, r.body, now, expiresAt).lastInsertRowid;
    const deliveryIds = recipients.map((to) => Number(this.s.insertDelivery.run(id, to.user, to.device, r.body.length).lastInsertRowid));
    const revealedTo = this.correspondents.record(r.sender.user, recipients.map((to) => to.user), now, expiresAt);
    return { ok: true, duplicate: false, storedAt: now, recipients, deliveryIds, ...(revealedTo.length > 0 ? { revealedTo } : {}) };
  }

  async ackBatch(acks: AckRequest[]): Promise<number> {
    return this.write(() => this.ackAll(acks), 'queues kept');
  }

  private ackAll(acks: AckRequest[]): number {
    let n = 0;
    // A body is deleted once its last delivery is: checked once per message after all the acks of
    // the batch (a group message's recipients ack in the same turn: one check, not one per ack).
    const bodies = new Set<number>();
    for (const a of acks) {
      const r = this.s.deleteDelivery.get(a.deliveryId, a.to.user, a.to.device) as Row | undefined;
      if (!r) continue;
      n++;
      this.usage.removed(`${a.to.user}\0${a.to.device}`, r.size as number);
      bodies.add(r.message_id as number);
    }
    for (const id of bodies) this.s.deleteMessageIfDone.run(id, id);
    return n;
  }

  async queuedFor(to: Address): Promise<number> {
    return (this.s.queueUsage.get(to.user, to.device) as Row).n as number;
  }

  async pending(to: Address, afterId: number, limit: number): Promise<QueuedMessage[]> {
    return (this.s.pending.all(to.user, to.device, afterId, limit) as Row[]).map((r) => queuedMessage(r.id, r as QueuedRow));
  }

  async expiryPreview(now: number): Promise<ExpiryPreview> {
    const sessions = this.s.countSessions.get(now) as Row;
    const high = this.s.clockHigh.get() as Row | undefined;
    return {
      queued: (this.s.queueDepth.get() as Row).n as number,
      expiring: (this.s.countExpiring.get(now) as Row).n as number,
      sessions: sessions.n as number,
      expiringSessions: sessions.expiring as number,
      clockHigh: typeof high?.value === 'number' ? high.value : null,
    };
  }

  async sweep(now: number, ttlMs: number): Promise<SweepResult> {
    return this.write(() => {
      const notices = this.queueExpiryNotices(now, ttlMs);
      const messages = this.s.expireMessages.run(now).changes + this.s.orphanMessages.run().changes;
      this.s.expireSentIds.run(now);
      this.s.expireFences.run(now);
      this.correspondents.sweep(now);
      const sessions = this.s.expireSessions.run(now).changes;
      this.s.setClockHigh.run(now);
      return { messages, sessions, notices };
    });
  }

  /**
   * Before expired messages are deleted, each sender device with an undelivered one gets a notice
   * in its own queue naming them (client id, recipient, store time), so its client can show
   * "expired undelivered" instead of "sent" forever. Notices are never noticed in turn.
   */
  private queueExpiryNotices(now: number, ttlMs: number): ExpiredNotice[] {
    const bySender = new Map<string, { to: Address; items: { id: string; to: Address; storedAt: number }[] }>();
    for (const r of this.s.expiringDeliveries.iterate(now) as Iterable<Row>) {
      const k = `${r.sender}\0${r.sender_device}`;
      let e = bySender.get(k);
      if (!e) bySender.set(k, (e = { to: { user: r.sender, device: r.sender_device }, items: [] }));
      e.items.push({ id: r.client_id, to: { user: r.username, device: r.device_id }, storedAt: r.stored_at });
    }
    const notices: ExpiredNotice[] = [];
    for (const { to, items } of bySender.values()) {
      if (this.s.deviceExists.get(to.user, to.device) === undefined) continue; // the sender's account is gone
      for (let i = 0; i < items.length; i += NOTICE_MAX_MESSAGES) {
        const chunk = items.slice(i, i + NOTICE_MAX_MESSAGES);
        const body = noticeBody(chunk);
        const id = this.s.insertNotice.run(body, now, now + ttlMs).lastInsertRowid;
        const deliveryId = Number(this.s.insertDelivery.run(id, to.user, to.device, body.length).lastInsertRowid);
        notices.push({ to, deliveryId, messages: chunk.length });
      }
    }
    return notices;
  }

  async queueDepth(): Promise<number> {
    return (this.s.queueDepth.get() as Row).n as number;
  }

  async listUsers(): Promise<(UserRecord & { devices: number; queued: number })[]> {
    return (this.s.listUsers.all() as Row[]).map((r) => ({
      username: r.username, passwordHash: r.password_hash, createdAt: r.created_at, bannedAt: r.banned_at, devices: r.devices, queued: r.queued,
    }));
  }

  async setBanned(username: string, bannedAt: number | null): Promise<boolean> {
    return this.write(() => this.s.setBanned.run(bannedAt, username).changes === 1, 'queues kept');
  }

  async deleteUser(username: string): Promise<boolean> {
    return this.write(() => {
      const gone = this.s.deleteUser.run(username).changes === 1;
      if (gone) {
        this.correspondents.forgetWritten(); // its rows went with the account (ON DELETE CASCADE)
        this.s.deleteSentIds.run(username);
        this.s.orphanMessages.run();
      }
      return gone;
    });
  }

  async unlistedDevices(username: string): Promise<{ device: number; createdAt: number }[] | undefined> {
    if (this.s.userExists.get(username) === undefined) return undefined;
    const last = this.s.lastDeviceList.get(username) as Row | undefined;
    const named = last ? devicesNamed(u8(last.list)) : null;
    if (named === null) return [];
    return (this.s.accountDevices.all(username) as Row[]).filter((r) => !named.has(r.device_id)).map((r) => ({ device: r.device_id, createdAt: r.created_at }));
  }

  async removeUnlistedDevice(username: string, device: number, now: number): Promise<'removed' | 'listed' | 'unknown'> {
    return this.write(() => {
      if (this.s.deviceExists.get(username, device) === undefined) return 'unknown';
      const last = this.s.lastDeviceList.get(username) as Row | undefined;
      const named = last ? devicesNamed(u8(last.list)) : null;
      if (named === null || named.has(device)) return 'listed';
      this.removeDevice(username, device, now);
      return 'removed';
    });
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
