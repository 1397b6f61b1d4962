// Device linking on SQLite (the LinkingIndex of store/types.ts): channels and device tickets.
import type Database from 'better-sqlite3';
import type { Address, LinkingIndex } from './types.js';

type Row = Record<string, any>;
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export class SqliteLinking implements LinkingIndex {
  private readonly s;

  /** `write` runs a function as one counted write transaction of the store (sqlite.ts). */
  constructor(
    db: Database.Database,
    private readonly write: <T>(fn: () => T) => T,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      dropExpiredChannel: p('DELETE FROM link_channels WHERE name = ? AND expires_at <= ?'),
      open: p('INSERT OR IGNORE INTO link_channels (name, username, request, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)'),
      channel: p('SELECT username, request, secret_hash, message FROM link_channels WHERE name = ? AND expires_at > ?'),
      answer: p('UPDATE link_channels SET message = ? WHERE name = ?'),
      userExists: p('SELECT 1 FROM users WHERE username = ?'),
      deviceIds: p('SELECT device_id FROM devices WHERE username = ? UNION SELECT device_id FROM device_tickets WHERE username = ? AND expires_at > ? AND session_hash IS NULL'),
      removedIds: p('SELECT device_id FROM removed_devices WHERE username = ?'),
      issue: p('INSERT INTO device_tickets (ticket_hash, username, device_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
      ticket: p('SELECT username, device_id, expires_at, session_hash FROM device_tickets WHERE ticket_hash = ?'),
      spendTicket: p('UPDATE device_tickets SET session_hash = ? WHERE ticket_hash = ?'),
      session: p('SELECT username, device_id, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?'),
      sessionExists: p('SELECT 1 FROM sessions WHERE token_hash = ?'),
      deviceExists: p('SELECT 1 FROM devices WHERE username = ? AND device_id = ?'),
      countDevices: p('SELECT count(*) AS n FROM devices WHERE username = ?'),
      addDevice: p('INSERT INTO devices (username, device_id, created_at) VALUES (?, ?, ?)'),
      createSession: p('INSERT INTO sessions (token_hash, username, device_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
      expireChannels: p('DELETE FROM link_channels WHERE expires_at <= ?'),
      expireTickets: p('DELETE FROM device_tickets WHERE expires_at <= ?'),
    };
  }

  // The work is done when called (as the rest of the SQLite store): the promises are settled.
  async open(name: string, user: string, request: Uint8Array, secretHash: Uint8Array, now: number, expiresAt: number): Promise<boolean> {
    return this.write(() => {
      this.s.dropExpiredChannel.run(name, now);
      return this.s.open.run(name, user, request, secretHash, now, expiresAt).changes === 1;
    });
  }

  async request(name: string, user: string, now: number): Promise<{ request: Uint8Array; answered: boolean } | undefined> {
    const r = this.s.channel.get(name, now) as Row | undefined;
    return r && r.username === user ? { request: u8(r.request), answered: r.message !== null } : undefined;
  }

  async answer(name: string, user: string, message: Uint8Array, now: number): Promise<'stored' | 'answered' | 'gone'> {
    return this.write(() => {
      const r = this.s.channel.get(name, now) as Row | undefined;
      if (!r || r.username !== user) return 'gone';
      // The same message again is the approver's retry of a PUT whose answer it lost.
      if (r.message !== null) return Buffer.from(message).equals(r.message) ? 'stored' : 'answered';
      this.s.answer.run(message, name);
      return 'stored';
    });
  }

  async take(name: string, secretHash: Uint8Array, now: number): Promise<{ message: Uint8Array } | 'waiting' | 'gone'> {
    const r = this.s.channel.get(name, now) as Row | undefined;
    if (!r || !Buffer.from(secretHash).equals(r.secret_hash)) return 'gone';
    if (r.message === null) return 'waiting';
    return { message: Uint8Array.from(r.message as Buffer) };
  }

  async issueTicket(ticketHash: Uint8Array, user: string, now: number, expiresAt: number, maxDevices: number): Promise<number | undefined> {
    return this.write(() => {
      if (this.s.userExists.get(user) === undefined) return undefined;
      const taken = new Set((this.s.deviceIds.all(user, user, now) as Row[]).map((r) => r.device_id as number));
      if (taken.size >= maxDevices) return undefined;
      // An id a device list removed stays refused (no login as it) until a list holds it again.
      const removed = new Set((this.s.removedIds.all(user) as Row[]).map((r) => r.device_id as number));
      let device = 1;
      while (taken.has(device) || removed.has(device)) device++;
      this.s.issue.run(ticketHash, user, device, now, expiresAt);
      return device;
    });
  }

  async redeemTicket(ticketHash: Uint8Array, session: { tokenHash: Uint8Array; now: number; expiresAt: number }, maxDevices: number): Promise<(Address & { expiresAt: number }) | undefined> {
    return this.write(() => {
      const t = this.s.ticket.get(ticketHash) as Row | undefined;
      if (!t || t.expires_at <= session.now) return undefined;
      // Redeemed already: the same session again is a retry whose reply was lost, answered as the
      // first (while that session lives); any other session is refused.
      if (t.session_hash !== null) {
        if (!Buffer.from(session.tokenHash).equals(t.session_hash)) return undefined;
        const s = this.s.session.get(session.tokenHash, session.now) as Row | undefined;
        return s && s.username === t.username && s.device_id === t.device_id ? { user: s.username as string, device: s.device_id as number, expiresAt: s.expires_at as number } : undefined;
      }
      // A session token in use already (only its holder could send it) logs nothing in twice.
      if (this.s.sessionExists.get(session.tokenHash) !== undefined) return undefined;
      this.s.spendTicket.run(session.tokenHash, ticketHash);
      const user = t.username as string;
      const device = t.device_id as number;
      if (this.s.deviceExists.get(user, device) !== undefined) return undefined; // a login took the id meanwhile
      if (((this.s.countDevices.get(user) as Row).n as number) >= maxDevices) return undefined;
      this.s.addDevice.run(user, device, session.now);
      this.s.createSession.run(session.tokenHash, user, device, session.now, session.expiresAt);
      return { user, device, expiresAt: session.expiresAt };
    });
  }

  async expire(now: number): Promise<number> {
    return this.write(() => this.s.expireChannels.run(now).changes + this.s.expireTickets.run(now).changes);
  }
}
