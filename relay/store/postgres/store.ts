// The PostgreSQL Store: the same promises as SQLite (store/types.ts; store.test.ts runs both), for
// several relay nodes sharing one database. What it does differently, and why:
//
//  - Round trips, not rows, are what a batch costs here, so commitBatch looks up everything a
//    batch needs in a few set-based statements (dedup records, recipients, queue usage), decides
//    each send in memory in arrival order exactly as SQLite does (batch.ts), and writes with one
//    statement per table (unnest of arrays).
//  - Concurrent batches from several nodes: the queue head of every recipient device (and of
//    every device whose ack is in the batch) is locked first, in one statement, in a fixed order
//    (user, device), so two batches never wait on each other in a cycle; that lock also makes the
//    quota check exact and the delivery numbers follow commit order per device.
//  - A client id claimed by another node's transaction after our look-up (the same device
//    resubmitting through two nodes at once) conflicts on sent_ids; then the whole batch is rolled
//    back and judged again, when the other commit is visible and the send is a duplicate.
//  - A deadlock or serialization failure PostgreSQL reports (it aborts one side) is retried.
//  - The stale-epoch fence of each group a batch sends to is locked (created if new) after the
//    queue heads, in group id order, so two nodes never let a message behind the fence through.
//  - One-time prekeys: DELETE … RETURNING of a row picked with FOR UPDATE SKIP LOCKED, so two
//    nodes fetching at once take different keys, never the same one twice.
import pg from 'pg';
import { RelayError } from '../../errors.js';
import type { TakeTokens } from '../../ratelimit.js';
import { takeTokens } from './buckets.js';
import { PgLinking } from './linking.js';
import { checkDeviceListUpload, devicesNamed } from '../../device-lists.js';
import { NOTICE_MAX_MESSAGES, noticeBody, queuedMessage, type QueuedRow, queueFull, staleEpoch, storageFull, StreamHolds, uniqueAddresses, unknownDevice, unknownUser } from '../batch.js';
import type {
  AckRequest, Address, BlobIndex, BlobRecord, BlockIndex, CorrespondentIndex, DeviceBundle, ExpiredNotice, ExpiryPreview, OneTimePreKeyBytes, PublicIdentityBytes,
  QueueLimits, QueuedMessage, SessionRecord, SignedPreKeyBytes, Store, SubmitRequest, SubmitResult, SweepResult, UserRecord,
} from '../types.js';

type Row = Record<string, any>;
type Q = pg.Pool | pg.PoolClient;

/** Rows of a correspondent pair are rewritten at most this often (as in sqlite-correspondents.ts). */
const REFRESH_MS = 3600_000;
const MAX_REMEMBERED = 100_000;
/** Tries of a transaction PostgreSQL aborted for a deadlock or a serialization failure. */
const MAX_TRIES = 5;
/** Only one node sweeps at a time (pg_try_advisory_xact_lock); the others skip that round. */
const SWEEP_LOCK = 7_301_946_113;

/** The batch must be judged again: another node committed a client id we were about to claim. */
class Rejudge extends Error {}

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const key = (user: string, device: number): string => `${user}\0${device}`;

/** bigint (int8) and count(*) as JS numbers: every value here (ms, ids, sizes) is far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser,
};

export interface PostgresStoreOptions {
  /** Most connections this node holds (default 10). */
  poolMax?: number;
  /** Told about errors of idle pooled connections (a database restart), which would otherwise crash the process. */
  onPoolError?: (e: Error) => void;
}

export function createPool(url: string, opts: PostgresStoreOptions = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: opts.poolMax ?? 10, types, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 });
  pool.on('error', (e) => opts.onPoolError?.(e));
  return pool;
}

export class PostgresStore implements Store {
  /** Shared rate-limit buckets (buckets.ts). */
  readonly takeTokens: TakeTokens;
  readonly blobs: BlobIndex;
  readonly blocks: BlockIndex;
  readonly linking: PgLinking;
  readonly correspondents: CorrespondentIndex;
  /** `${sender}\0${recipient}` → when this node last wrote the pair's row. */
  private readonly written = new Map<string, number>();

  constructor(
    private readonly pool: pg.Pool,
    readonly relayId: string,
  ) {
    this.blobs = new PgBlobIndex(pool, (fn) => this.tx(fn));
    this.blocks = new PgBlocks(pool, (fn) => this.tx(fn));
    this.linking = new PgLinking(pool, (fn) => this.tx(fn));
    this.takeTokens = takeTokens((fn) => this.tx(fn));
    this.correspondents = {
      visibleTo: async (viewer, now) => (await pool.query('SELECT sender FROM correspondents WHERE recipient = $1 AND expires_at > $2', [viewer, now])).rows.map((r: Row) => r.sender as string),
      audienceOf: async (user, now) => (await pool.query('SELECT recipient FROM correspondents WHERE sender = $1 AND expires_at > $2', [user, now])).rows.map((r: Row) => r.recipient as string),
    };
  }

  /** Runs fn in one transaction, again when PostgreSQL aborted it for a deadlock or serialization failure. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const c = await this.pool.connect();
      let broken: Error | undefined;
      // A connection that dies between two statements of ours emits 'error' on the client, which
      // would crash the process without a listener; the next statement then fails, and we with it.
      const onError = (e: Error): void => {
        broken = e;
      };
      c.on('error', onError);
      try {
        await c.query('BEGIN');
        const r = await fn(c);
        await c.query('COMMIT');
        return r;
      } catch (e) {
        try {
          await c.query('ROLLBACK');
        } catch (re) {
          broken = re as Error; // the connection is gone: do not return it to the pool
        }
        const code = (e as { code?: string }).code;
        if ((code === '40P01' || code === '40001' || e instanceof Rejudge) && attempt < MAX_TRIES) continue;
        throw e;
      } finally {
        c.off('error', onError);
        c.release(broken);
      }
    }
  }

  private async one(q: Q, sql: string | pg.QueryConfig, values: unknown[] = []): Promise<Row | undefined> {
    return (typeof sql === 'string' ? await q.query(sql, values) : await q.query({ ...sql, values })).rows[0];
  }

  async createUser(username: string, passwordHash: string, now: number): Promise<boolean> {
    const r = await this.pool.query('INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [username, passwordHash, now]);
    return r.rowCount === 1;
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const r = await this.one(this.pool, 'SELECT username, password_hash, created_at, banned_at FROM users WHERE username = $1', [username]);
    return r && { username: r.username, passwordHash: r.password_hash, createdAt: r.created_at, bannedAt: r.banned_at };
  }

  /** The device row and its queue head, made together (idempotent). */
  private async insertDevice(q: Q, user: string, device: number, now: number): Promise<void> {
    await q.query(
      `WITH d AS (INSERT INTO devices (username, device_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING username, device_id)
       INSERT INTO queue_heads (username, device_id) SELECT username, device_id FROM d`,
      [user, device, now],
    );
  }

  async touchDevice(user: string, device: number, now: number): Promise<void> {
    await this.insertDevice(this.pool, user, device, now);
  }

  async addDevice(user: string, device: number, now: number, maxDevices: number): Promise<boolean> {
    return this.tx(async (c) => {
      // The account row, locked: logins of one account on any node add devices one at a time.
      if (!(await this.one(c, 'SELECT 1 FROM users WHERE username = $1 FOR NO KEY UPDATE', [user]))) return false;
      if (await this.one(c, 'SELECT 1 FROM devices WHERE username = $1 AND device_id = $2', [user, device])) return true;
      if ((await this.one(c, 'SELECT count(*) AS n FROM devices WHERE username = $1', [user]))!.n >= maxDevices) return false;
      await this.insertDevice(c, user, device, now);
      return true;
    });
  }

  async deviceExists(user: string, device: number): Promise<boolean> {
    return (await this.one(this.pool, 'SELECT 1 FROM devices WHERE username = $1 AND device_id = $2', [user, device])) !== undefined;
  }

  async createSession(tokenHash: Uint8Array, user: string, device: number, now: number, expiresAt: number, passwordHash?: string): Promise<boolean> {
    const r =
      passwordHash === undefined
        ? await this.pool.query('INSERT INTO sessions (token_hash, username, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [tokenHash, user, device, now, expiresAt])
        : await this.pool.query(
            // Not for a removed device: a list removing it may commit while the login's argon2 runs.
            `INSERT INTO sessions (token_hash, username, device_id, created_at, expires_at, password_at)
             SELECT $1, u.username, $2, $3, $4, $3 FROM users u WHERE u.username = $5 AND u.password_hash = $6
               AND NOT EXISTS (SELECT 1 FROM removed_devices r WHERE r.username = u.username AND r.device_id = $2)`,
            [tokenHash, device, now, expiresAt, user, passwordHash],
          );
    return r.rowCount === 1;
  }

  async getSession(tokenHash: Uint8Array, now: number): Promise<SessionRecord | undefined> {
    const r = await this.one(
      this.pool,
      { name: 'get_session', text: 'SELECT s.username, s.device_id, s.expires_at, s.password_at, u.banned_at FROM sessions s JOIN users u ON u.username = s.username WHERE s.token_hash = $1 AND s.expires_at > $2' },
      [tokenHash, now],
    );
    return r && { user: r.username, device: r.device_id, expiresAt: r.expires_at, banned: r.banned_at !== null, passwordAt: r.password_at };
  }

  async deleteSession(tokenHash: Uint8Array): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE token_hash = $1', [tokenHash]);
  }

  async deleteSessions(user: string): Promise<number> {
    return (await this.pool.query('DELETE FROM sessions WHERE username = $1', [user])).rowCount ?? 0;
  }

  async changePassword(user: string, oldHash: string, newHash: string, session: { tokenHash: Uint8Array; device: number; now: number; expiresAt: number }): Promise<number | undefined> {
    return this.tx(async (c) => {
      // The UPDATE locks the account row: a concurrent change waits, then finds the hash changed.
      const u = await c.query('UPDATE users SET password_hash = $1 WHERE username = $2 AND password_hash = $3', [newHash, user, oldHash]);
      if (u.rowCount !== 1) return undefined;
      const revoked = (await c.query('DELETE FROM sessions WHERE username = $1', [user])).rowCount ?? 0;
      await c.query('INSERT INTO sessions (token_hash, username, device_id, created_at, expires_at, password_at) VALUES ($1, $2, $3, $4, $5, $4)', [session.tokenHash, user, session.device, session.now, session.expiresAt]);
      return revoked;
    });
  }

  private async putOtks(c: pg.PoolClient, user: string, device: number, otks: OneTimePreKeyBytes[]): Promise<void> {
    if (otks.length === 0) return;
    await c.query(
      `INSERT INTO one_time_prekeys (username, device_id, key_id, public_key)
       SELECT $1, $2, k, p FROM unnest($3::bigint[], $4::bytea[]) AS t(k, p)
       ON CONFLICT (username, device_id, key_id) DO UPDATE SET public_key = excluded.public_key`,
      [user, device, otks.map((k) => k.id), otks.map((k) => Buffer.from(k.publicKey))],
    );
  }

  private async otkCount(q: Q, user: string, device: number): Promise<number> {
    return (await this.one(q, 'SELECT count(*) AS n FROM one_time_prekeys WHERE username = $1 AND device_id = $2', [user, device]))!.n;
  }

  async putBundle(user: string, device: number, id: PublicIdentityBytes, spk: SignedPreKeyBytes, otks: OneTimePreKeyBytes[], now: number): Promise<number> {
    return this.tx(async (c) => {
      await this.insertDevice(c, user, device, now);
      await c.query(
        `UPDATE devices SET identity_dh = $1, identity_sign = $2, identity_sig = $3, spk_id = $4, spk_created_at = $5, spk_public = $6, spk_sig = $7
         WHERE username = $8 AND device_id = $9`,
        [id.dhPublic, id.signPublic, id.signature, spk.id, spk.createdAt, spk.publicKey, spk.signature, user, device],
      );
      await c.query('DELETE FROM one_time_prekeys WHERE username = $1 AND device_id = $2', [user, device]);
      await this.putOtks(c, user, device, otks);
      return this.otkCount(c, user, device);
    });
  }

  async addOneTimePreKeys(user: string, device: number, otks: OneTimePreKeyBytes[], max: number): Promise<number> {
    return this.tx(async (c) => {
      // Uploads of one device are counted one at a time (the device row is locked).
      await c.query('SELECT 1 FROM devices WHERE username = $1 AND device_id = $2 FOR NO KEY UPDATE', [user, device]);
      await this.putOtks(c, user, device, otks);
      const n = await this.otkCount(c, user, device);
      // Throwing rolls the whole upload back.
      if (n > max) throw new RelayError('bad_request', `too many one-time prekeys: ${n} > ${max}`);
      return n;
    });
  }

  async setSignedPreKey(user: string, device: number, spk: SignedPreKeyBytes): Promise<boolean> {
    const r = await this.pool.query(
      'UPDATE devices SET spk_id = $1, spk_created_at = $2, spk_public = $3, spk_sig = $4 WHERE username = $5 AND device_id = $6 AND identity_dh IS NOT NULL',
      [spk.id, spk.createdAt, spk.publicKey, spk.signature, user, device],
    );
    return r.rowCount === 1;
  }

  async countOneTimePreKeys(user: string, device: number): Promise<number> {
    return this.otkCount(this.pool, user, device);
  }

  async hasBundle(user: string, device: number): Promise<boolean> {
    return (await this.one(this.pool, 'SELECT 1 FROM devices WHERE username = $1 AND device_id = $2 AND identity_dh IS NOT NULL', [user, device])) !== undefined;
  }

  async putDeviceList(caller: Address, list: Uint8Array, maxDevices: number, now: number, replace = false): Promise<{ version: number; duplicate: boolean; removed: number[] }> {
    return this.tx(async (c) => {
      // Locks the account row (NO KEY: rows referencing it are not blocked): an upload of the same
      // account on another node waits here, then reads the list this one stored.
      if ((await c.query('SELECT 1 FROM users WHERE username = $1 FOR NO KEY UPDATE', [caller.user])).rowCount !== 1) {
        throw new RelayError('unknown_user', `unknown user: ${caller.user}`);
      }
      const last = await this.one(c, 'SELECT list FROM device_lists WHERE username = $1 ORDER BY version DESC LIMIT 1', [caller.user]);
      const r = checkDeviceListUpload(caller, last ? u8(last.list) : null, list, maxDevices, replace);
      if (r.duplicate) return { version: r.list.version, duplicate: true, removed: [] };
      if (r.replaces) await c.query('DELETE FROM device_lists WHERE username = $1', [caller.user]);
      await c.query('INSERT INTO device_lists (username, version, list, stored_at) VALUES ($1, $2, $3, $4)', [caller.user, r.list.version, Buffer.from(list), now]);
      await c.query('DELETE FROM removed_devices WHERE username = $1 AND device_id = ANY($2::int[])', [caller.user, r.list.devices.map((d) => d.device)]);
      for (const d of r.removed) await this.removeDevice(c, caller.user, d, now);
      return { version: r.list.version, duplicate: false, removed: r.removed };
    });
  }

  /** Inside putDeviceList's transaction: everything the relay holds for the device, and its tokens. */
  private async removeDevice(c: pg.PoolClient, user: string, device: number, now: number): Promise<void> {
    await c.query(
      `INSERT INTO removed_devices (username, device_id, removed_at) VALUES ($1, $2, $3)
       ON CONFLICT (username, device_id) DO UPDATE SET removed_at = excluded.removed_at`,
      [user, device, now],
    );
    await c.query('DELETE FROM sessions WHERE username = $1 AND device_id = $2', [user, device]);
    // The queue head first, in the order commitBatch locks it: a batch queueing for this device
    // waits here, then finds it gone (unknown_device), instead of deadlocking with the delete.
    await c.query('SELECT 1 FROM queue_heads WHERE username = $1 AND device_id = $2 FOR UPDATE', [user, device]);
    const del = await c.query('DELETE FROM deliveries WHERE username = $1 AND device_id = $2 RETURNING message_id', [user, device]);
    const ids = [...new Set(del.rows.map((r) => r.message_id as number))];
    if (ids.length > 0) await c.query('DELETE FROM messages m WHERE m.id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id)', [ids]);
    await c.query('DELETE FROM devices WHERE username = $1 AND device_id = $2', [user, device]); // bundle, prekeys, queue head
  }

  async deviceRemoved(user: string, device: number): Promise<boolean> {
    return (await this.one(this.pool, 'SELECT 1 FROM removed_devices WHERE username = $1 AND device_id = $2', [user, device])) !== undefined;
  }

  async deviceLists(username: string, since: number, limit: number): Promise<{ version: number; list: Uint8Array }[] | undefined> {
    if ((await this.one(this.pool, 'SELECT 1 FROM users WHERE username = $1', [username])) === undefined) return undefined;
    const rows = (await this.pool.query('SELECT version, list FROM device_lists WHERE username = $1 AND version > $2 ORDER BY version LIMIT $3', [username, since, limit])).rows as Row[];
    return rows.map((r) => ({ version: r.version, list: u8(r.list) }));
  }

  async getIdentity(user: string, device: number): Promise<PublicIdentityBytes | undefined> {
    const r = await this.one(this.pool, 'SELECT identity_dh, identity_sign, identity_sig FROM devices WHERE username = $1 AND device_id = $2 AND identity_dh IS NOT NULL', [user, device]);
    return r && { dhPublic: u8(r.identity_dh), signPublic: u8(r.identity_sign), signature: u8(r.identity_sig) };
  }

  private async bundleDevices(q: Q, username: string): Promise<Row[] | undefined> {
    if (!(await this.one(q, 'SELECT 1 FROM users WHERE username = $1', [username]))) return undefined;
    return (
      await q.query(
        `SELECT device_id, identity_dh, identity_sign, identity_sig, spk_id, spk_created_at, spk_public, spk_sig
         FROM devices WHERE username = $1 AND identity_dh IS NOT NULL ORDER BY device_id`,
        [username],
      )
    ).rows;
  }

  async listIdentities(username: string): Promise<{ deviceId: number; identity: PublicIdentityBytes }[] | undefined> {
    return (await this.bundleDevices(this.pool, username))?.map((r) => ({
      deviceId: r.device_id,
      identity: { dhPublic: u8(r.identity_dh), signPublic: u8(r.identity_sign), signature: u8(r.identity_sig) },
    }));
  }

  async takeBundles(username: string): Promise<DeviceBundle[] | undefined> {
    return this.tx(async (c) => {
      const rows = await this.bundleDevices(c, username);
      if (!rows) return undefined;
      const out: DeviceBundle[] = [];
      for (const r of rows) {
        // The lowest key no other transaction holds: concurrent fetches on other nodes each take
        // a different row (SKIP LOCKED) instead of waiting for, then losing, the same one.
        const k = await this.one(
          c,
          `DELETE FROM one_time_prekeys WHERE (username, device_id, key_id) = (
             SELECT username, device_id, key_id FROM one_time_prekeys WHERE username = $1 AND device_id = $2
             ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING key_id, public_key`,
          [username, r.device_id],
        );
        out.push({
          deviceId: r.device_id,
          identity: { dhPublic: u8(r.identity_dh), signPublic: u8(r.identity_sign), signature: u8(r.identity_sig) },
          signedPreKey: { id: r.spk_id, createdAt: r.spk_created_at, publicKey: u8(r.spk_public), signature: u8(r.spk_sig) },
          oneTimePreKey: k ? { id: k.key_id, publicKey: u8(k.public_key) } : null,
          remaining: await this.otkCount(c, username, r.device_id),
        });
      }
      return out;
    });
  }

  async submitBatch(reqs: SubmitRequest[], now: number, limits: QueueLimits): Promise<SubmitResult[]> {
    return (await this.commitBatch([], reqs, now, limits)).results;
  }

  async ackBatch(acks: AckRequest[]): Promise<number> {
    return (await this.commitBatch(acks, [], 0, { maxMessages: 0, maxBytes: 0, ttlMs: 0 })).acked;
  }

  async commitBatch(acks: AckRequest[], reqs: SubmitRequest[], now: number, limits: QueueLimits): Promise<{ acked: number; results: SubmitResult[] }> {
    try {
      return await this.tx((c) => this.commitIn(c, acks, reqs, now, limits));
    } catch (e) {
      this.written.clear(); // pairs noted in a rolled-back transaction may not be stored
      throw e;
    }
  }

  private async commitIn(c: pg.PoolClient, acks: AckRequest[], reqs: SubmitRequest[], now: number, limits: QueueLimits): Promise<{ acked: number; results: SubmitResult[] }> {
    // 1. Lock the queue heads of every device this batch queues for, in (user, device) order.
    //    (An ack needs no lock: it deletes its own row. When the last two recipients of a group
    //    message ack on two nodes at once, each still sees the other's row and neither deletes
    //    the body; the sweep deletes such orphans.)
    const touched = new Map<string, Address>();
    for (const r of reqs) for (const a of r.to) touched.set(key(a.user, a.device), a);
    const devs = [...touched.values()];
    const heads = new Map<string, number>();
    if (devs.length > 0) {
      const locked = await c.query(
        `SELECT h.username, h.device_id, h.last_seq FROM queue_heads h
         JOIN unnest($1::text[], $2::int[]) AS t(u, d) ON h.username = t.u AND h.device_id = t.d
         ORDER BY h.username, h.device_id FOR NO KEY UPDATE OF h`,
        [devs.map((a) => a.user), devs.map((a) => a.device)],
      );
      for (const r of locked.rows) heads.set(key(r.username, r.device_id), r.last_seq);
    }

    // 2. Acks first: a recipient that acked frees its quota for the sends of the same batch.
    let acked = 0;
    if (acks.length > 0) {
      const del = await c.query(
        `DELETE FROM deliveries d USING unnest($1::text[], $2::int[], $3::bigint[]) AS a(u, dv, s)
         WHERE d.username = a.u AND d.device_id = a.dv AND d.seq = a.s RETURNING d.message_id`,
        [acks.map((a) => a.to.user), acks.map((a) => a.to.device), acks.map((a) => a.deliveryId)],
      );
      acked = del.rowCount ?? 0;
      const ids = [...new Set(del.rows.map((r) => r.message_id as number))];
      if (ids.length > 0) await c.query('DELETE FROM messages m WHERE m.id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id)', [ids]);
    }
    if (reqs.length === 0) return { acked, results: [] };

    // 3. What the decisions need, in three look-ups: dedup records, existing accounts and queue usage.
    const seen = new Map<string, number>();
    const sent = await c.query(
      `SELECT s.sender, s.sender_device, s.client_id, s.stored_at FROM sent_ids s
       JOIN unnest($1::text[], $2::int[], $3::text[]) AS t(u, d, id) ON s.sender = t.u AND s.sender_device = t.d AND s.client_id = t.id`,
      [reqs.map((r) => r.sender.user), reqs.map((r) => r.sender.device), reqs.map((r) => r.clientId)],
    );
    for (const r of sent.rows) seen.set(`${key(r.sender, r.sender_device)}\0${r.client_id}`, r.stored_at);
    const names = [...new Set(devs.map((a) => a.user))];
    const users = new Set((await c.query('SELECT username FROM users WHERE username = ANY($1::text[])', [names])).rows.map((r) => r.username as string));
    const usage = new Map<string, { n: number; bytes: number }>();
    if (heads.size > 0) {
      const lockedDevs = devs.filter((a) => heads.has(key(a.user, a.device)));
      const u = await c.query(
        `SELECT t.u AS username, t.d AS device_id, count(q.seq) AS n, coalesce(sum(q.size), 0) AS bytes
         FROM unnest($1::text[], $2::int[]) AS t(u, d) LEFT JOIN deliveries q ON q.username = t.u AND q.device_id = t.d
         GROUP BY t.u, t.d`,
        [lockedDevs.map((a) => a.user), lockedDevs.map((a) => a.device)],
      );
      for (const r of u.rows) usage.set(key(r.username, r.device_id), { n: r.n, bytes: r.bytes });
    }

    // Who among the named blocks whom (as SQLite's submit: a blocker gets nothing from the blocked).
    const blocked = new Set<string>();
    const pairs = [...new Set(reqs.flatMap((r) => r.to.map((to) => `${to.user}\0${r.sender.user}`)))].map((k) => k.split('\0') as [string, string]);
    if (pairs.length > 0) {
      const b = await c.query('SELECT b.blocker, b.blocked FROM blocks b JOIN unnest($1::text[], $2::text[]) AS t(r, s) ON b.blocker = t.r AND b.blocked = t.s', [
        pairs.map((p) => p[0]),
        pairs.map((p) => p[1]),
      ]);
      for (const r of b.rows) blocked.add(`${r.blocker}\0${r.blocked}`);
    }

    // The stale-epoch fences of the batch's groups, each row locked (made at -1 if new) in group
    // id order: a batch on another node raising one waits for this commit, or this for it.
    const expiresAt = now + limits.ttlMs;
    const fences = new Map<string, number>();
    const groups = [...new Set(reqs.flatMap((r) => (r.fence ? [Buffer.from(r.fence.groupId).toString('hex')] : [])))].sort();
    if (groups.length > 0) {
      const f = await c.query(
        `INSERT INTO group_fences (group_id, epoch, updated_at, expires_at)
         SELECT g, -1, $2, $3 FROM unnest($1::bytea[]) WITH ORDINALITY AS t(g, o) ORDER BY o
         ON CONFLICT (group_id) DO UPDATE SET epoch = group_fences.epoch RETURNING group_id, epoch`,
        [groups.map((g) => Buffer.from(g, 'hex')), now, expiresAt],
      );
      for (const r of f.rows) fences.set((r.group_id as Buffer).toString('hex'), r.epoch);
    }
    const raised = new Set<string>();

    // 4. Each send judged in arrival order, as SQLite does.
    const holds = new StreamHolds();
    const accepted: { i: number; r: SubmitRequest; recipients: Address[]; seqs: number[] }[] = [];
    const results = reqs.map((r, i) =>
      holds.judge(r, (): SubmitResult => {
        const dedup = `${key(r.sender.user, r.sender.device)}\0${r.clientId}`;
        const storedAt = seen.get(dedup);
        if (storedAt !== undefined) return { ok: true, duplicate: true, storedAt, recipients: [], deliveryIds: [] };
        if (limits.storageFull) return storageFull();
        const group = r.fence ? Buffer.from(r.fence.groupId).toString('hex') : null;
        if (r.fence && group !== null && !r.fence.synced) {
          const newest = fences.get(group)!;
          if (r.fence.epoch < newest) return staleEpoch(r.fence.epoch, newest);
        }
        const named = uniqueAddresses(r.to);
        for (const to of named) {
          if (heads.has(key(to.user, to.device))) continue;
          return users.has(to.user) ? unknownDevice(to) : unknownUser(to.user);
        }
        // Recipients who block the sender get nothing; the sender is answered as for any send.
        const recipients = named.filter((to) => !blocked.has(`${to.user}\0${r.sender.user}`));
        const queues = recipients.map((to) => usage.get(key(to.user, to.device)) ?? { n: 0, bytes: 0 });
        for (const [j, q] of queues.entries()) if (q.n + 1 > limits.maxMessages || q.bytes + r.body.length > limits.maxBytes) return queueFull(recipients[j]!);
        for (const q of queues) {
          q.n += 1;
          q.bytes += r.body.length;
        }
        const seqs = recipients.map((to) => {
          const k = key(to.user, to.device);
          const s = heads.get(k)! + 1;
          heads.set(k, s);
          return s;
        });
        seen.set(dedup, now); // a second copy in this batch is its duplicate
        if (r.fence && group !== null) {
          fences.set(group, Math.max(fences.get(group)!, r.fence.epoch));
          raised.add(group);
        }
        accepted.push({ i, r, recipients, seqs });
        return { ok: true, duplicate: false, storedAt: now, recipients, deliveryIds: seqs };
      }),
    );
    if (accepted.length === 0) return { acked, results };

    // 5. Write: dedup records (a conflict means another node claimed one since step 3: judge
    //    again), bodies, deliveries, queue heads, correspondents.
    const claimed = await c.query(
      `INSERT INTO sent_ids (sender, sender_device, client_id, stored_at, expires_at)
       SELECT u, d, id, $4, $5 FROM unnest($1::text[], $2::int[], $3::text[]) AS t(u, d, id) ON CONFLICT DO NOTHING`,
      [accepted.map((a) => a.r.sender.user), accepted.map((a) => a.r.sender.device), accepted.map((a) => a.r.clientId), now, expiresAt],
    );
    if (claimed.rowCount !== accepted.length) throw new Rejudge('a client id was claimed meanwhile');
    // Everyone named blocks the sender: nothing is kept but the dedup record (a resend is a duplicate).
    const stored = accepted.filter((a) => a.recipients.length > 0);
    if (stored.length > 0) {
      const ids = await c.query(
        `INSERT INTO messages (sender, sender_device, client_id, body, stored_at, expires_at)
         SELECT u, d, id, b, $5, $6 FROM unnest($1::text[], $2::int[], $3::text[], $4::bytea[]) WITH ORDINALITY AS t(u, d, id, b, o) ORDER BY o
         RETURNING id`,
        [stored.map((a) => a.r.sender.user), stored.map((a) => a.r.sender.device), stored.map((a) => a.r.clientId), stored.map((a) => Buffer.from(a.r.body)), now, expiresAt],
      );
      // Ids come from one sequence in insertion order; sorted, they line up with `stored`.
      const messageIds = ids.rows.map((r) => r.id as number).sort((a, b) => a - b);
      const dUser: string[] = [];
      const dDev: number[] = [];
      const dSeq: number[] = [];
      const dMsg: number[] = [];
      const dSize: number[] = [];
      stored.forEach((a, k) => {
        a.recipients.forEach((to, j) => {
          dUser.push(to.user);
          dDev.push(to.device);
          dSeq.push(a.seqs[j]!);
          dMsg.push(messageIds[k]!);
          dSize.push(a.r.body.length);
        });
      });
      await c.query(
        'INSERT INTO deliveries (username, device_id, seq, message_id, size) SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[])',
        [dUser, dDev, dSeq, dMsg, dSize],
      );
      const moved = [...new Set(dUser.map((u, i) => key(u, dDev[i]!)))].map((k) => touched.get(k)!);
      await c.query(
        'UPDATE queue_heads h SET last_seq = t.s FROM unnest($1::text[], $2::int[], $3::bigint[]) AS t(u, d, s) WHERE h.username = t.u AND h.device_id = t.d',
        [moved.map((a) => a.user), moved.map((a) => a.device), moved.map((a) => heads.get(key(a.user, a.device))!)],
      );
    }
    if (raised.size > 0) {
      const gs = [...raised];
      await c.query(
        'UPDATE group_fences f SET epoch = t.e, updated_at = $3, expires_at = $4 FROM unnest($1::bytea[], $2::bigint[]) AS t(g, e) WHERE f.group_id = t.g',
        [gs.map((g) => Buffer.from(g, 'hex')), gs.map((g) => fences.get(g)!), now, expiresAt],
      );
    }
    const revealed = await this.recordCorrespondents(c, accepted.map((a) => ({ sender: a.r.sender.user, recipients: a.recipients.map((t) => t.user) })), now, expiresAt);
    for (const a of accepted) {
      const to = revealed.get(a.r.sender.user);
      const res = results[a.i]!;
      if (!to || !res.ok) continue;
      const mine = [...new Set(a.recipients.map((t) => t.user))].filter((u) => to.delete(u));
      if (mine.length > 0) res.revealedTo = mine;
    }
    return { acked, results };
  }

  /**
   * Notes who sent whom (presence): the pairs this node has not written within REFRESH_MS are
   * upserted; returns, per sender, the recipients for whom the pair is new (or had expired).
   */
  private async recordCorrespondents(c: pg.PoolClient, sends: { sender: string; recipients: string[] }[], now: number, expiresAt: number): Promise<Map<string, Set<string>>> {
    const due = new Map<string, [string, string]>();
    for (const s of sends) {
      for (const r of s.recipients) {
        if (r === s.sender) continue;
        const k = `${s.sender}\0${r}`;
        const at = this.written.get(k);
        if (at !== undefined && now - at < REFRESH_MS) continue;
        due.set(k, [s.sender, r]);
      }
    }
    const out = new Map<string, Set<string>>();
    if (due.size === 0) return out;
    const pairs = [...due.values()];
    const before = await c.query(
      `SELECT c.sender, c.recipient FROM correspondents c JOIN unnest($1::text[], $2::text[]) AS t(s, r) ON c.sender = t.s AND c.recipient = t.r
       WHERE c.expires_at > $3`,
      [pairs.map((p) => p[0]), pairs.map((p) => p[1]), now],
    );
    const live = new Set(before.rows.map((r) => `${r.sender}\0${r.recipient}`));
    await c.query(
      `INSERT INTO correspondents (recipient, sender, expires_at) SELECT r, s, $3 FROM unnest($1::text[], $2::text[]) AS t(s, r)
       ON CONFLICT (recipient, sender) DO UPDATE SET expires_at = excluded.expires_at`,
      [pairs.map((p) => p[0]), pairs.map((p) => p[1]), expiresAt],
    );
    if (this.written.size + pairs.length >= MAX_REMEMBERED) this.written.clear();
    for (const [k, [s, r]] of due) {
      this.written.set(k, now);
      if (live.has(k)) continue;
      let set = out.get(s);
      if (!set) out.set(s, (set = new Set()));
      set.add(r);
    }
    return out;
  }

  async queuedFor(to: Address): Promise<number> {
    return (await this.one(this.pool, 'SELECT count(*) AS n FROM deliveries WHERE username = $1 AND device_id = $2', [to.user, to.device]))!.n;
  }

  async pending(to: Address, afterId: number, limit: number): Promise<QueuedMessage[]> {
    const r = await this.pool.query({
      name: 'pending',
      text: `SELECT d.seq, m.kind, m.client_id, m.sender, m.sender_device, m.body, m.stored_at FROM deliveries d
             JOIN messages m ON m.id = d.message_id
             WHERE d.username = $1 AND d.device_id = $2 AND d.seq > $3 ORDER BY d.seq LIMIT $4`,
      values: [to.user, to.device, afterId, limit],
    });
    return r.rows.map((x: Row) => queuedMessage(x.seq, x as QueuedRow));
  }

  async expiryPreview(now: number): Promise<ExpiryPreview> {
    const r = (await this.one(
      this.pool,
      `SELECT (SELECT count(*) FROM deliveries) AS queued,
              (SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE m.expires_at <= $1) AS expiring,
              (SELECT count(*) FROM sessions) AS sessions,
              (SELECT count(*) FROM sessions WHERE expires_at <= $1) AS expiring_sessions,
              (SELECT value FROM relay_meta WHERE key = 'clock_high') AS clock_high`,
      [now],
    ))!;
    return { queued: r.queued, expiring: r.expiring, sessions: r.sessions, expiringSessions: r.expiring_sessions, clockHigh: r.clock_high === null ? null : Number(r.clock_high) };
  }

  async sweep(now: number, noticeTtlMs: number): Promise<SweepResult> {
    return this.tx(async (c) => {
      // Every node sweeps on its timer; one at a time is enough, the others skip this round.
      if (!(await this.one(c, 'SELECT pg_try_advisory_xact_lock($1) AS got', [SWEEP_LOCK]))!.got) return { messages: 0, sessions: 0, notices: [] };
      const notices = await this.queueExpiryNotices(c, now, noticeTtlMs);
      const expired = (await c.query('DELETE FROM messages WHERE expires_at <= $1', [now])).rowCount ?? 0;
      const orphans = (await c.query('DELETE FROM messages m WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id)')).rowCount ?? 0;
      await c.query('DELETE FROM sent_ids WHERE expires_at <= $1', [now]);
      await c.query('DELETE FROM group_fences WHERE expires_at <= $1', [now]);
      await c.query('DELETE FROM correspondents WHERE expires_at <= $1', [now]);
      await c.query('DELETE FROM rate_buckets WHERE full_at <= $1', [now]);
      const sessions = (await c.query('DELETE FROM sessions WHERE expires_at <= $1', [now])).rowCount ?? 0;
      await c.query("INSERT INTO relay_meta (key, value) VALUES ('clock_high', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [String(now)]);
      return { messages: expired + orphans, sessions, notices };
    });
  }

  /** As in sqlite.ts: each sender device with an undelivered expiring message gets a notice first. */
  private async queueExpiryNotices(c: pg.PoolClient, now: number, ttlMs: number): Promise<ExpiredNotice[]> {
    const rows = (
      await c.query(
        `SELECT m.sender, m.sender_device, m.client_id, m.stored_at, d.username, d.device_id
         FROM messages m JOIN deliveries d ON d.message_id = m.id
         WHERE m.expires_at <= $1 AND m.kind = 'message' ORDER BY m.sender, m.sender_device, d.username, d.device_id, d.seq`,
        [now],
      )
    ).rows;
    const bySender = new Map<string, { to: Address; items: { id: string; to: Address; storedAt: number }[] }>();
    for (const r of rows) {
      const k = key(r.sender, r.sender_device);
      let e = bySender.get(k);
      if (!e) bySender.set(k, (e = { to: { user: r.sender, device: r.sender_device }, items: [] }));
      e.items.push({ id: r.client_id, to: { user: r.username, device: r.device_id }, storedAt: r.stored_at });
    }
    const notices: ExpiredNotice[] = [];
    for (const { to, items } of bySender.values()) {
      // Its queue head, locked like any batch that queues for it; gone with the sender's account.
      const head = await this.one(c, 'SELECT last_seq FROM queue_heads WHERE username = $1 AND device_id = $2 FOR NO KEY UPDATE', [to.user, to.device]);
      if (!head) continue;
      let seq = head.last_seq as number;
      for (let i = 0; i < items.length; i += NOTICE_MAX_MESSAGES) {
        const chunk = items.slice(i, i + NOTICE_MAX_MESSAGES);
        const body = noticeBody(chunk);
        const m = (await this.one(c, "INSERT INTO messages (sender, sender_device, client_id, body, stored_at, expires_at, kind) VALUES ('', 0, 'expired', $1, $2, $3, 'expired') RETURNING id", [body, now, now + ttlMs]))!;
        seq += 1;
        await c.query('INSERT INTO deliveries (username, device_id, seq, message_id, size) VALUES ($1, $2, $3, $4, $5)', [to.user, to.device, seq, m.id, body.length]);
        notices.push({ to, deliveryId: seq, messages: chunk.length });
      }
      await c.query('UPDATE queue_heads SET last_seq = $1 WHERE username = $2 AND device_id = $3', [seq, to.user, to.device]);
    }
    return notices;
  }

  async queueDepth(): Promise<number> {
    return (await this.one(this.pool, 'SELECT count(*) AS n FROM deliveries'))!.n;
  }

  async listUsers(): Promise<(UserRecord & { devices: number; queued: number })[]> {
    const r = await this.pool.query(`SELECT u.username, u.password_hash, u.created_at, u.banned_at,
        (SELECT count(*) FROM devices d WHERE d.username = u.username) AS devices,
        (SELECT count(*) FROM deliveries q WHERE q.username = u.username) AS queued
      FROM users u ORDER BY u.username`);
    return r.rows.map((x: Row) => ({ username: x.username, passwordHash: x.password_hash, createdAt: x.created_at, bannedAt: x.banned_at, devices: x.devices, queued: x.queued }));
  }

  async setBanned(username: string, bannedAt: number | null): Promise<boolean> {
    return (await this.pool.query('UPDATE users SET banned_at = $1 WHERE username = $2', [bannedAt, username])).rowCount === 1;
  }

  async deleteUser(username: string): Promise<boolean> {
    const gone = await this.tx(async (c) => {
      if ((await c.query('DELETE FROM users WHERE username = $1', [username])).rowCount !== 1) return false;
      // Its sends' dedup records: a new account of the same name must not have its first
      // messages acked as duplicates of the old one's.
      await c.query('DELETE FROM sent_ids WHERE sender = $1', [username]);
      await c.query('DELETE FROM messages m WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id)');
      return true;
    });
    if (gone) this.written.clear(); // its correspondent rows went with it (ON DELETE CASCADE)
    return gone;
  }

  async unlistedDevices(username: string): Promise<{ device: number; createdAt: number }[] | undefined> {
    if ((await this.one(this.pool, 'SELECT 1 FROM users WHERE username = $1', [username])) === undefined) return undefined;
    const last = await this.one(this.pool, 'SELECT list FROM device_lists WHERE username = $1 ORDER BY version DESC LIMIT 1', [username]);
    const named = last ? devicesNamed(u8(last.list)) : null;
    if (named === null) return [];
    const rows = (await this.pool.query('SELECT device_id, created_at FROM devices WHERE username = $1 ORDER BY device_id', [username])).rows as Row[];
    return rows.filter((r) => !named.has(r.device_id)).map((r) => ({ device: r.device_id, createdAt: Number(r.created_at) }));
  }

  async removeUnlistedDevice(username: string, device: number, now: number): Promise<'removed' | 'listed' | 'unknown'> {
    return this.tx(async (c) => {
      // The account row locked as putDeviceList locks it: a list upload of this account waits.
      if ((await c.query('SELECT 1 FROM users WHERE username = $1 FOR NO KEY UPDATE', [username])).rowCount !== 1) return 'unknown';
      if ((await this.one(c, 'SELECT 1 FROM devices WHERE username = $1 AND device_id = $2', [username, device])) === undefined) return 'unknown';
      const last = await this.one(c, 'SELECT list FROM device_lists WHERE username = $1 ORDER BY version DESC LIMIT 1', [username]);
      const named = last ? devicesNamed(u8(last.list)) : null;
      if (named === null || named.has(device)) return 'listed';
      await this.removeDevice(c, username, device, now);
      return 'removed';
    });
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

class PgBlobIndex implements BlobIndex {
  constructor(
    private readonly pool: pg.Pool,
    private readonly tx: <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>,
  ) {}

  async create(rec: BlobRecord): Promise<void> {
    await this.tx(async (c) => {
      await c.query('INSERT INTO blobs (id, owner, size, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [rec.id, rec.owner, rec.size, rec.createdAt, rec.expiresAt]);
      if (rec.recipients.length > 0) {
        await c.query('INSERT INTO blob_recipients (blob_id, username) SELECT $1, u FROM unnest($2::text[]) AS t(u) ON CONFLICT DO NOTHING', [rec.id, rec.recipients]);
      }
    });
  }

  async get(id: string): Promise<BlobRecord | undefined> {
    const r = (await this.pool.query('SELECT id, owner, size, created_at, expires_at FROM blobs WHERE id = $1', [id])).rows[0] as Row | undefined;
    if (!r) return undefined;
    const recipients = (await this.pool.query('SELECT username FROM blob_recipients WHERE blob_id = $1 ORDER BY username', [id])).rows.map((x: Row) => x.username as string);
    return { id: r.id, owner: r.owner, size: r.size, createdAt: r.created_at, expiresAt: r.expires_at, recipients };
  }

  async usage(owner: string): Promise<number> {
    return (await this.pool.query('SELECT coalesce(sum(size), 0) AS bytes FROM blobs WHERE owner = $1', [owner])).rows[0].bytes;
  }

  async ack(id: string, user: string): Promise<'deleted' | 'kept' | 'not_recipient'> {
    return this.tx(async (c) => {
      // The blob row locked: the last two recipients acking on two nodes cannot both see one left.
      await c.query('SELECT 1 FROM blobs WHERE id = $1 FOR UPDATE', [id]);
      if ((await c.query('DELETE FROM blob_recipients WHERE blob_id = $1 AND username = $2', [id, user])).rowCount === 0) return 'not_recipient' as const;
      if ((await c.query('SELECT count(*) AS n FROM blob_recipients WHERE blob_id = $1', [id])).rows[0].n > 0) return 'kept' as const;
      await c.query('DELETE FROM blobs WHERE id = $1', [id]);
      return 'deleted' as const;
    });
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM blobs WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  async expire(now: number): Promise<string[]> {
    return (await this.pool.query('DELETE FROM blobs WHERE expires_at <= $1 RETURNING id', [now])).rows.map((r: Row) => r.id as string);
  }

  async existing(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    return new Set((await this.pool.query('SELECT id FROM blobs WHERE id = ANY($1::text[])', [ids])).rows.map((r: Row) => r.id as string));
  }
}

/** The BlockIndex of store/types.ts on PostgreSQL (as sqlite-blocks.ts). */
class PgBlocks implements BlockIndex {
  constructor(
    private readonly pool: pg.Pool,
    private readonly tx: <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>,
  ) {}

  async block(blocker: string, blocked: string, now: number, max: number): Promise<boolean> {
    return this.tx(async (c) => {
      // One blocker's blocks are counted and added by one node at a time, so two nodes cannot
      // both pass the cap with the last free place.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`blocks:${blocker}`]);
      if ((await c.query('SELECT 1 FROM blocks WHERE blocker = $1 AND blocked = $2', [blocker, blocked])).rowCount! > 0) return true;
      if ((await c.query('SELECT count(*) AS n FROM blocks WHERE blocker = $1', [blocker])).rows[0].n >= max) return false;
      await c.query('INSERT INTO blocks (blocker, blocked, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [blocker, blocked, now]);
      return true;
    });
  }

  async unblock(blocker: string, blocked: string): Promise<void> {
    await this.pool.query('DELETE FROM blocks WHERE blocker = $1 AND blocked = $2', [blocker, blocked]);
  }

  async list(blocker: string): Promise<string[]> {
    return (await this.pool.query('SELECT blocked FROM blocks WHERE blocker = $1 ORDER BY blocked', [blocker])).rows.map((r: Row) => r.blocked as string);
  }

  async blocks(recipient: string, sender: string): Promise<boolean> {
    return ((await this.pool.query('SELECT 1 FROM blocks WHERE blocker = $1 AND blocked = $2', [recipient, sender])).rowCount ?? 0) > 0;
  }
}
