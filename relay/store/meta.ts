// The relay_meta rows of a relay database (schema.ts): the relay id, the commit counter and the
// clock high-water mark. Kept apart from the Store so the start-up checks can read them from a
// read-only connection before anything is written.
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';

export interface DatabaseMeta {
  /** 16 random bytes, base64url; made once when the database is created. */
  relayId: string;
  /** Write transactions committed so far (every Store write counts one). */
  commits: number;
  /** The relay's wall clock at its last completed sweep (ms), or null before the first. */
  clockHigh: number | null;
}

const hasTable = (db: Database.Database): boolean =>
  db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'relay_meta'").get() !== undefined;

/** The meta rows, or null for a database made before they existed (or not a relay database). */
export function readMeta(db: Database.Database): DatabaseMeta | null {
  if (!hasTable(db)) return null;
  const rows = new Map((db.prepare('SELECT key, value FROM relay_meta').all() as { key: string; value: unknown }[]).map((r) => [r.key, r.value]));
  const relayId = rows.get('relay_id');
  if (typeof relayId !== 'string') return null;
  const commits = rows.get('commits');
  const clockHigh = rows.get('clock_high');
  return { relayId, commits: typeof commits === 'number' ? commits : 0, clockHigh: typeof clockHigh === 'number' ? clockHigh : null };
}

/** Creates the rows once (a new database, or one from before they existed); never replaces the id. */
export function ensureMeta(db: Database.Database): DatabaseMeta {
  db.prepare("INSERT OR IGNORE INTO relay_meta (key, value) VALUES ('relay_id', ?)").run(randomBytes(16).toString('base64url'));
  db.prepare("INSERT OR IGNORE INTO relay_meta (key, value) VALUES ('commits', 0)").run();
  return readMeta(db)!;
}
