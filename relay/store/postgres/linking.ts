// Device linking on PostgreSQL (the LinkingIndex of store/types.ts, as ../sqlite-linking.ts). Every
// change that must see a row as it is (one answer per channel, one redemption per ticket)
// is a single conditional statement, so two nodes racing on the same row cannot both succeed;
// tickets and devices of one account are decided under its users row lock (as addDevice).
import type pg from 'pg';
import type { Address, LinkingIndex } from '../types.js';

type Row = Record<string, any>;

export class PgLinking implements LinkingIndex {
  constructor(
    private readonly pool: pg.Pool,
    private readonly tx: <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>,
  ) {}

  async open(name: string, user: string, request: Uint8Array, secretHash: Uint8Array, now: number, expiresAt: number): Promise<boolean> {
    // An expired channel of the name is replaced; a live one is kept (the upsert's WHERE fails).
    const r = await this.pool.query(
      `INSERT INTO link_channels (name, username, request, secret_hash, message, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL, $5, $6)
       ON CONFLICT (name) DO UPDATE SET username = EXCLUDED.username, request = EXCLUDED.request, secret_hash = EXCLUDED.secret_hash,
         message = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
       WHERE link_channels.expires_at <= $5`,
      [name, user, request, secretHash, now, expiresAt],
    );
    return r.rowCount === 1;
  }

  async request(name: string, user: string, now: number): Promise<{ request: Uint8Array; answered: boolean } | undefined> {
    const r = (await this.pool.query('SELECT request, message IS NOT NULL AS answered FROM link_channels WHERE name = $1 AND username = $2 AND expires_at > $3', [name, user, now])).rows[0] as Row | undefined;
    return r && { request: new Uint8Array(r.request as Buffer), answered: r.answered as boolean };
  }

  async answer(name: string, user: string, message: Uint8Array, now: number): Promise<'stored' | 'answered' | 'gone'> {
    // The same message again is the approver's retry of a PUT whose answer it lost: stored, as the first.
    const u = await this.pool.query('UPDATE link_channels SET message = $4 WHERE name = $1 AND username = $2 AND expires_at > $3 AND (message IS NULL OR message = $4)', [name, user, now, message]);
    if (u.rowCount === 1) return 'stored';
    const r = await this.pool.query('SELECT 1 FROM link_channels WHERE name = $1 AND username = $2 AND expires_at > $3', [name, user, now]);
    return r.rowCount === 1 ? 'answered' : 'gone';
  }

  async take(name: string, secretHash: Uint8Array, now: number): Promise<{ message: Uint8Array } | 'waiting' | 'gone'> {
    const r = (await this.pool.query('SELECT message FROM link_channels WHERE name = $1 AND secret_hash = $2 AND expires_at > $3', [name, secretHash, now])).rows[0] as Row | undefined;
    if (!r) return 'gone';
    return r.message === null ? 'waiting' : { message: new Uint8Array(r.message as Buffer) };
  }

  async issueTicket(ticketHash: Uint8Array, user: string, now: number, expiresAt: number, maxDevices: number): Promise<number | undefined> {
    return this.tx(async (c) => {
      if ((await c.query('SELECT 1 FROM users WHERE username = $1 FOR NO KEY UPDATE', [user])).rowCount !== 1) return undefined;
      const rows = (await c.query('SELECT device_id FROM devices WHERE username = $1 UNION SELECT device_id FROM device_tickets WHERE username = $1 AND expires_at > $2 AND session_hash IS NULL', [user, now])).rows as Row[];
      const taken = new Set(rows.map((r) => r.device_id as number));
      if (taken.size >= maxDevices) return undefined;
      // An id a device list removed stays refused (no login as it) until a list holds it again.
      const removed = new Set(((await c.query('SELECT device_id FROM removed_devices WHERE username = $1', [user])).rows as Row[]).map((r) => r.device_id as number));
      let device = 1;
      while (taken.has(device) || removed.has(device)) device++;
      await c.query('INSERT INTO device_tickets (ticket_hash, username, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [ticketHash, user, device, now, expiresAt]);
      return device;
    });
  }

  async redeemTicket(ticketHash: Uint8Array, session: { tokenHash: Uint8Array; now: number; expiresAt: number }, maxDevices: number): Promise<(Address & { expiresAt: number }) | undefined> {
    // A session token in use already (only its holder could send it) logs nothing in twice.
    if ((await this.pool.query('SELECT 1 FROM sessions WHERE token_hash = $1', [session.tokenHash])).rowCount! > 0) return this.redeemedBy(ticketHash, session);
    return this.tx(async (c) => {
      // One conditional statement spends the ticket: of two nodes redeeming it at once, one waits
      // for the other's commit, then finds it spent and answers as redeemedBy.
      const t = (await c.query('UPDATE device_tickets SET session_hash = $2 WHERE ticket_hash = $1 AND session_hash IS NULL AND expires_at > $3 RETURNING username, device_id', [ticketHash, session.tokenHash, session.now])).rows[0] as Row | undefined;
      if (!t) return this.redeemedBy(ticketHash, session, c);
      const user = t.username as string;
      const device = t.device_id as number;
      if ((await c.query('SELECT 1 FROM users WHERE username = $1 FOR NO KEY UPDATE', [user])).rowCount !== 1) return undefined;
      if ((await c.query('SELECT 1 FROM devices WHERE username = $1 AND device_id = $2', [user, device])).rowCount! > 0) return undefined;
      if ((await c.query('SELECT count(*) AS n FROM devices WHERE username = $1', [user])).rows[0].n >= maxDevices) return undefined;
      await c.query(
        `WITH d AS (INSERT INTO devices (username, device_id, created_at) VALUES ($1, $2, $3) RETURNING username, device_id)
         INSERT INTO queue_heads (username, device_id) SELECT username, device_id FROM d`,
        [user, device, session.now],
      );
      await c.query('INSERT INTO sessions (token_hash, username, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [session.tokenHash, user, device, session.now, session.expiresAt]);
      return { user, device, expiresAt: session.expiresAt };
    });
  }

  /** The login an unexpired ticket redeemed by this same session made, while that session lives (a retry whose reply was lost). */
  private async redeemedBy(ticketHash: Uint8Array, session: { tokenHash: Uint8Array; now: number }, q: pg.Pool | pg.PoolClient = this.pool): Promise<(Address & { expiresAt: number }) | undefined> {
    const r = (
      await q.query(
        `SELECT s.username, s.device_id, s.expires_at FROM device_tickets t JOIN sessions s ON s.token_hash = t.session_hash AND s.username = t.username AND s.device_id = t.device_id
         WHERE t.ticket_hash = $1 AND t.session_hash = $2 AND t.expires_at > $3 AND s.expires_at > $3`,
        [ticketHash, session.tokenHash, session.now],
      )
    ).rows[0] as Row | undefined;
    return r && { user: r.username as string, device: r.device_id as number, expiresAt: r.expires_at as number };
  }

  async expire(now: number): Promise<number> {
    const a = await this.pool.query('DELETE FROM link_channels WHERE expires_at <= $1', [now]);
    const b = await this.pool.query('DELETE FROM device_tickets WHERE expires_at <= $1', [now]);
    return (a.rowCount ?? 0) + (b.rowCount ?? 0);
  }
}
