// One relay per database file. Two relays on one file looked fine and were not: each pushed only
// the messages its own sockets submitted (live delivery broke between them) and each one's blob
// clean-up deleted the other's upload in progress. So the relay takes an exclusive lock first.
//
// The lock is SQLite's own: a tiny database `<db>-lock` opened with locking_mode=EXCLUSIVE and
// written once, so its connection holds an exclusive POSIX lock until it closes — and the kernel
// drops it when the process dies, so a kill -9 never leaves a stale lock behind (a pid file would).
// The relay database itself stays in normal WAL locking, so `fastchat relay users` and `relay
// check` keep working beside a running relay.
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DatabaseRefused } from './refused.js';

export const lockPath = (db: string): string => `${db}-lock`;

export class DatabaseLock {
  private constructor(private readonly conn: Database.Database) {}

  static take(db: string): DatabaseLock {
    const path = lockPath(db);
    closeSync(openSync(path, 'a', 0o600)); // 0600 like the database's files (it names our pid)
    const conn = new Database(path, { timeout: 0 });
    try {
      conn.pragma('locking_mode = EXCLUSIVE');
      conn.pragma('journal_mode = MEMORY');
      conn.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER, since INTEGER); DELETE FROM holder;');
      conn.prepare('INSERT INTO holder VALUES (?, ?)').run(process.pid, Date.now());
      return new DatabaseLock(conn);
    } catch (e) {
      conn.close();
      if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
      const pid = holderPid(path);
      throw new DatabaseRefused(
        'database_locked',
        `another relay is already running on ${db}${pid ? ` (process ${pid})` : ''}`,
        'stop that relay first, or give this one its own --db; two relays on one database break live delivery between them',
      );
    }
  }

  release(): void {
    if (this.conn.open) this.conn.close();
  }
}

/** The process holding the lock, from /proc/locks (Linux; best effort, for the message only). */
function holderPid(path: string): number | null {
  try {
    const ino = statSync(path).ino;
    for (const l of readFileSync('/proc/locks', 'utf8').split('\n')) {
      const m = /^\d+:\s+POSIX\s+\S+\s+WRITE\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(l);
      if (m && Number(m[2]) === ino && m[1] !== String(process.pid)) return Number(m[1]);
    }
  } catch {
    // not Linux, or /proc not mounted
  }
  return null;
}
