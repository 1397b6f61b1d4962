// Blocks (the BlockIndex of store/types.ts): whom an account refuses messages from. A message from
// a blocked sender is acknowledged to the sender like any other and queued for nobody who blocks
// it (docs/RELAY.md "Blocks"), so the sender does not learn of the block from the relay.
import type Database from 'better-sqlite3';
import type { BlockIndex } from './types.js';

type Row = Record<string, any>;

export class SqliteBlocks implements BlockIndex {
  private readonly s;

  /** `write` runs a function as one counted write transaction of the store (sqlite.ts). */
  constructor(
    db: Database.Database,
    private readonly write: <T>(fn: () => T) => T,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      add: p('INSERT OR IGNORE INTO blocks (blocker, blocked, created_at) VALUES (?, ?, ?)'),
      remove: p('DELETE FROM blocks WHERE blocker = ? AND blocked = ?'),
      list: p('SELECT blocked FROM blocks WHERE blocker = ? ORDER BY blocked'),
      count: p('SELECT count(*) AS n FROM blocks WHERE blocker = ?'),
      has: p('SELECT 1 FROM blocks WHERE blocker = ? AND blocked = ?'),
    };
  }

  // The work is done when called (as the rest of the SQLite store): the promises are settled.
  async block(blocker: string, blocked: string, now: number, max: number): Promise<boolean> {
    return this.write(() => {
      if (this.s.has.get(blocker, blocked)) return true;
      if ((this.s.count.get(blocker) as Row).n >= max) return false;
      this.s.add.run(blocker, blocked, now);
      return true;
    });
  }

  async unblock(blocker: string, blocked: string): Promise<void> {
    this.write(() => this.s.remove.run(blocker, blocked));
  }

  async list(blocker: string): Promise<string[]> {
    return (this.s.list.all(blocker) as Row[]).map((r) => r.blocked as string);
  }

  async blocks(recipient: string, sender: string): Promise<boolean> {
    return this.isBlocked(recipient, sender);
  }

  /** blocks() for the store's own synchronous commit path. */
  isBlocked(recipient: string, sender: string): boolean {
    return this.s.has.get(recipient, sender) !== undefined;
  }
}
