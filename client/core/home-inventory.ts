// What a home holds, counted without the passphrase (from the store's plain columns): what
// `keygen --force` says it is about to delete before it asks.
import Database from 'better-sqlite3';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Home } from './home.js';

export interface Inventory {
  contacts: number;
  sessions: number;
  messages: number;
  unsent: number;
  groups: number;
  /** Files in files/ (received files), which keygen --force keeps. */
  files: number;
}

function count(db: Database.Database, sql: string): number {
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } catch {
    return 0; // a table an older store does not have
  }
}

export function inventory(home: Home): Inventory {
  const filesDir = join(home.dir, 'files');
  const files = existsSync(filesDir) ? readdirSync(filesDir).filter((n) => !n.startsWith('.')).length : 0;
  if (!existsSync(home.store)) return { contacts: 0, sessions: 0, messages: 0, unsent: 0, groups: 0, files };
  const db = new Database(home.store, { readonly: true, fileMustExist: true });
  try {
    return {
      contacts: count(db, 'SELECT COUNT(*) AS n FROM contacts'),
      sessions: count(db, 'SELECT COUNT(*) AS n FROM sessions'),
      messages: count(db, 'SELECT (SELECT COUNT(*) FROM messages) + (SELECT COUNT(*) FROM group_messages) AS n'),
      unsent: count(db, "SELECT (SELECT COUNT(*) FROM messages WHERE direction = 'out' AND status = 'queued') + (SELECT COUNT(*) FROM group_messages WHERE direction = 'out' AND status = 'queued') AS n"),
      groups: count(db, 'SELECT COUNT(*) AS n FROM groups'),
      files,
    };
  } finally {
    db.close();
  }
}
