// Who has sent whom a message (the CorrespondentIndex of store/types.ts): what presence is shown
// by. A user's presence is visible to the users it has sent a message to through this relay within
// the message TTL (docs/THREAT_MODEL.md "Presence"); nobody else sees it.
//
// A send is the relay's hottest path, so the row of a pair is rewritten at most once per
// REFRESH_MS (remembered in memory), not once per message: its expiry is then late by at most that.
import type Database from 'better-sqlite3';
import type { CorrespondentIndex } from './types.js';

type Row = Record<string, any>;

const REFRESH_MS = 3600_000;
/** Pairs remembered as recently written; the memory is simply dropped when it grows past this. */
const MAX_REMEMBERED = 100_000;

export class SqliteCorrespondents implements CorrespondentIndex {
  private readonly s;
  /** `${sender}\0${recipient}` → when its row was last written (by this process). */
  private readonly written = new Map<string, number>();

  constructor(db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      get: p('SELECT expires_at FROM correspondents WHERE recipient = ? AND sender = ?'),
      upsert: p(`INSERT INTO correspondents (recipient, sender, expires_at) VALUES (?, ?, ?)
                 ON CONFLICT (recipient, sender) DO UPDATE SET expires_at = excluded.expires_at`),
      visibleTo: p('SELECT sender FROM correspondents WHERE recipient = ? AND expires_at > ?'),
      audienceOf: p('SELECT recipient FROM correspondents WHERE sender = ? AND expires_at > ?'),
      expire: p('DELETE FROM correspondents WHERE expires_at <= ?'),
    };
  }

  record(sender: string, recipients: string[], now: number, expiresAt: number): string[] {
    const revealed: string[] = [];
    for (const r of new Set(recipients)) {
      if (r === sender) continue;
      const key = `${sender}\0${r}`;
      const at = this.written.get(key);
      if (at !== undefined && now - at < REFRESH_MS) continue;
      const row = this.s.get.get(r, sender) as Row | undefined;
      if (!row || row.expires_at <= now) revealed.push(r);
      this.s.upsert.run(r, sender, expiresAt);
      if (this.written.size >= MAX_REMEMBERED) this.written.clear();
      this.written.set(key, now);
    }
    return revealed;
  }

  /** A transaction that wrote rows was rolled back: what is remembered may not be on disk. */
  forgetWritten(): void {
    this.written.clear();
  }

  async visibleTo(viewer: string, now: number): Promise<string[]> {
    return (this.s.visibleTo.all(viewer, now) as Row[]).map((x) => x.sender as string);
  }

  async audienceOf(user: string, now: number): Promise<string[]> {
    return (this.s.audienceOf.all(user, now) as Row[]).map((x) => x.recipient as string);
  }

  sweep(now: number): number {
    return this.s.expire.run(now).changes;
  }
}
