// What the attackers of docs/THREAT_MODEL.md do to real files: a disk thief edits a home's
// store.db with sqlite while no fastchat runs (no passphrase, so no key), and a hostile relay
// operator edits the relay's database to serve one account's keys under another's name.
import Database from 'better-sqlite3';
import type { TestHome } from './fastchat-cli.js';
import { join } from 'node:path';

/** Runs fn on the home's store.db opened as a plain SQLite file (what a disk thief can do). */
export function withStoreFile<T>(home: TestHome, fn: (db: Database.Database) => T): T {
  const db = new Database(join(home.dir, 'store.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/**
 * The relay serves `attacker`'s identity and signed prekey (and one-time prekeys) as `victim`'s
 * device 1: a relay running modified code, or an operator editing its database.
 */
export function serveKeysOf(relayDb: string, victim: string, attacker: string): void {
  const db = new Database(relayDb);
  try {
    db.pragma('busy_timeout = 10000');
    db.transaction(() => {
      db.prepare(
        `UPDATE devices SET (identity_dh, identity_sign, identity_sig, spk_id, spk_created_at, spk_public, spk_sig) =
           (SELECT identity_dh, identity_sign, identity_sig, spk_id, spk_created_at, spk_public, spk_sig FROM devices WHERE username = ? AND device_id = 1)
         WHERE username = ? AND device_id = 1`,
      ).run(attacker, victim);
      db.prepare('DELETE FROM one_time_prekeys WHERE username = ? AND device_id = 1').run(victim);
      db.prepare('INSERT INTO one_time_prekeys (username, device_id, key_id, public_key) SELECT ?, 1, key_id, public_key FROM one_time_prekeys WHERE username = ? AND device_id = 1').run(victim, attacker);
    })();
  } finally {
    db.close();
  }
}

/** Deletes `user`'s device lists from the relay's database: the relay then serves none, as for a client from before device lists. */
export function dropDeviceLists(relayDb: string, user: string): void {
  const db = new Database(relayDb);
  try {
    db.pragma('busy_timeout = 10000');
    db.prepare('DELETE FROM device_lists WHERE username = ?').run(user);
  } finally {
    db.close();
  }
}

/** How many messages the relay holds for `user` (to see whether anything was sent). */
export function queuedFor(relayDb: string, user: string): number {
  const db = new Database(relayDb, { readonly: true });
  try {
    db.pragma('busy_timeout = 10000');
    return (db.prepare('SELECT COUNT(*) AS n FROM deliveries WHERE username = ?').get(user) as { n: number }).n;
  } finally {
    db.close();
  }
}
