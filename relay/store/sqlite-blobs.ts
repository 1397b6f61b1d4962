// Blob metadata in SQLite (the BlobIndex of store/types.ts). The files live in relay/blobs/.
import type Database from 'better-sqlite3';
import type { BlobIndex, BlobRecord } from './types.js';

type Row = Record<string, any>;

export class SqliteBlobIndex implements BlobIndex {
  private readonly s;

  /** `write` runs a function as one counted write transaction of the store (sqlite.ts). */
  constructor(
    db: Database.Database,
    private readonly write: <T>(fn: () => T) => T,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      insert: p('INSERT INTO blobs (id, owner, size, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
      insertRecipient: p('INSERT OR IGNORE INTO blob_recipients (blob_id, username) VALUES (?, ?)'),
      get: p('SELECT id, owner, size, created_at, expires_at FROM blobs WHERE id = ?'),
      recipients: p('SELECT username FROM blob_recipients WHERE blob_id = ? ORDER BY username'),
      usage: p('SELECT coalesce(sum(size), 0) AS bytes FROM blobs WHERE owner = ?'),
      deleteRecipient: p('DELETE FROM blob_recipients WHERE blob_id = ? AND username = ?'),
      left: p('SELECT count(*) AS n FROM blob_recipients WHERE blob_id = ?'),
      delete: p('DELETE FROM blobs WHERE id = ?'),
      expire: p('DELETE FROM blobs WHERE expires_at <= ? RETURNING id'),
      exists: p('SELECT 1 FROM blobs WHERE id = ?'),
    };
  }

  async create(rec: BlobRecord): Promise<void> {
    this.write(() => {
      this.s.insert.run(rec.id, rec.owner, rec.size, rec.createdAt, rec.expiresAt);
      for (const r of rec.recipients) this.s.insertRecipient.run(rec.id, r);
    });
  }

  async get(id: string): Promise<BlobRecord | undefined> {
    const r = this.s.get.get(id) as Row | undefined;
    if (!r) return undefined;
    const recipients = (this.s.recipients.all(id) as Row[]).map((x) => x.username as string);
    return { id: r.id, owner: r.owner, size: r.size, createdAt: r.created_at, expiresAt: r.expires_at, recipients };
  }

  async usage(owner: string): Promise<number> {
    return (this.s.usage.get(owner) as Row).bytes as number;
  }

  async ack(id: string, user: string): Promise<'deleted' | 'kept' | 'not_recipient'> {
    return this.write(() => {
      if (this.s.deleteRecipient.run(id, user).changes === 0) return 'not_recipient' as const;
      if ((this.s.left.get(id) as Row).n > 0) return 'kept' as const;
      this.s.delete.run(id);
      return 'deleted' as const;
    });
  }

  async delete(id: string): Promise<boolean> {
    return this.write(() => this.s.delete.run(id).changes > 0);
  }

  async expire(now: number): Promise<string[]> {
    return this.write(() => (this.s.expire.all(now) as Row[]).map((r) => r.id as string));
  }

  async existing(ids: string[]): Promise<Set<string>> {
    return new Set(ids.filter((id) => this.s.exists.get(id) !== undefined));
  }
}
