// store.db on disk through better-sqlite3, whose Database is the core's SqlStore as it is. WAL mode
// and a busy timeout let two fastchat processes share one home.
import Database from 'better-sqlite3';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { initStore, type DB } from '../core/db.js';

export function openDb(path: string): DB {
  // Create the file 0600 before SQLite does, so it never exists with a wider mode.
  if (!existsSync(path)) writeFileSync(path, '', { mode: 0o600 });
  chmodSync(path, 0o600);
  const db = new Database(path);
  cacheStatements(db);
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  initStore(db);
  for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) chmodSync(path + suffix, 0o600);
  return db;
}

/** Distinct SQL texts kept prepared; past this the cache starts over (dynamic SQL cannot grow it). */
const STATEMENT_CACHE_SIZE = 512;

/**
 * Makes db.prepare return one prepared statement per SQL text. The store's code prepares its
 * statements where it uses them, and compiling them again for every message was a seventh of the
 * CPU time of receiving a backlog (docs/PERFORMANCE.md). Safe because the client never changes a
 * statement's mode (pluck, raw, expand) nor iterates one: each use runs to completion before the
 * next can start, so a shared statement is never busy.
 */
function cacheStatements(db: Database.Database): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let s = cache.get(sql);
    if (s === undefined) {
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
      s = prepare(sql);
      cache.set(sql, s);
    }
    return s;
  }) as Database.Database['prepare'];
}
