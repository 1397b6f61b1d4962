// The store a client-core unit test opens for a home: better-sqlite3 on disk (what the CLI runs),
// or with FASTCHAT_TEST_STORE=sqljs the browser's sql.js store (client/core/platform/sqljs.ts), so
// the same tests show the core's rules hold on both (client/core/platform/sqljs.test.ts runs them
// that way). A sql.js store lives in memory: closing it keeps its bytes under its path for this
// process, and opening the path again reads them back, as the browser keeps its store in IndexedDB.
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { assembleClient } from '../../client/core/assemble.js';
import type { Client } from '../../client/core/context.js';
import { homePaths } from '../../client/core/home.js';
import { initStore, type DB } from '../../client/core/db.js';
import { loadSqlJs } from '../../client/core/platform/sqljs.js';
import { openDb } from '../../client/node/sqlite.js';

export const TEST_STORE = process.env.FASTCHAT_TEST_STORE ?? 'better-sqlite3';
if (TEST_STORE !== 'better-sqlite3' && TEST_STORE !== 'sqljs') throw new Error(`FASTCHAT_TEST_STORE must be better-sqlite3 or sqljs, not "${TEST_STORE}"`);

const sqljs = TEST_STORE === 'sqljs' ? await loadSqlJs() : undefined;
const kept = new Map<string, Uint8Array>();

export function openTestStore(path: string): DB {
  if (!sqljs) return openDb(path);
  const store = sqljs.open(kept.get(path));
  const close = store.close.bind(store);
  store.close = () => {
    kept.set(path, store.export());
    close();
  };
  return initStore(store);
}

/**
 * What another process sees of the store at `path`: only committed rows. On disk, a second
 * read-only connection; sql.js has one connection, so the store itself, which must then hold no
 * open transaction (a read inside one would see what is not committed yet, so it throws).
 */
export function openReader(path: string, db: DB): Pick<DB, 'prepare' | 'close'> {
  if (!sqljs) return new Database(path, { readonly: true });
  return {
    prepare(sql) {
      if (db.inTransaction) throw new Error('read while a transaction is open: what it sees is not committed');
      return db.prepare(sql);
    },
    close() {},
  };
}

/**
 * A client core of `username`'s device `deviceId` on a test store in a fresh temporary home, for
 * unit tests that need a whole Client (sodium ready, a new identity and storage key). `cleanup`
 * closes it and removes the home.
 */
export async function openTestClient(prefix: string, username = 'alice', deviceId = 2): Promise<{ client: Client; cleanup(): void }> {
  await sodiumReady();
  const root = mkdtempSync(join(tmpdir(), prefix));
  const random = systemRandom();
  const home = homePaths(join(root, 'home'));
  mkdirSync(home.dir, { recursive: true });
  const client = assembleClient({ home, config: { username, deviceId }, secrets: { identity: generateIdentity(random), storageKey: random(32) }, db: openTestStore(home.store), random, keystoreWasCurrent: false });
  return {
    client,
    cleanup() {
      client.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
