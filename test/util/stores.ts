// The store engines the store tests run against (relay/store/store.test.ts): SQLite in memory,
// and PostgreSQL on a server started for the suite (test/util/postgres.ts), a fresh database per
// test. Each opens an empty store for one test and closes it after, and counts a table's rows
// (what a test checks besides the Store's own answers).
import type { TestContext } from 'node:test';
import pg from 'pg';
import { openSqliteStore } from '../../relay/store/sqlite.js';
import { migratePostgres, openPostgresStore } from '../../relay/store/postgres/index.js';
import type { Store, SubmitRequest } from '../../relay/store/types.js';
import { startPostgres, type PgServer } from './postgres.js';

/** Queue limits roomy enough for the store tests. */
export const LIMITS = { maxMessages: 100, maxBytes: 1 << 20, ttlMs: 60_000 };

/** A send from alice/1 to the given devices. */
export const msg = (id: string, to: [string, number][], body = 'hello'): SubmitRequest => ({
  sender: { user: 'alice', device: 1 },
  clientId: id,
  to: to.map(([user, device]) => ({ user, device })),
  body: new TextEncoder().encode(body),
});

export interface StoreUnderTest {
  store: Store;
  /** Rows of `table` (optionally with a WHERE clause), read beside the Store. */
  rows(tableAndWhere: string): Promise<number>;
  /** Another store on the same database, as a second relay node has (engines shared by nodes only). */
  twin?(): Promise<Store>;
}

export interface StoreBackend {
  name: string;
  /** Several relay nodes can share one database of this engine (its stores have twin()). */
  shared: boolean;
  /** Before the suite (starts a server if the engine needs one). */
  start(): Promise<void>;
  /** After the suite. */
  stop(): Promise<void>;
  open(t: TestContext): Promise<StoreUnderTest>;
}

const sqlite: StoreBackend = {
  name: 'sqlite',
  shared: false,
  start: async () => {},
  stop: async () => {},
  async open(t) {
    const store = openSqliteStore(':memory:');
    t.after(() => store.close());
    const db = (store as unknown as { db: { prepare(sql: string): { get(): unknown } } }).db;
    return { store, rows: async (table) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n };
  },
};

/** PostgreSQL: a migrated fresh database for each test. */
function postgres(): StoreBackend {
  let server: PgServer | null = null;
  return {
    name: 'postgres',
    shared: true,
    async start() {
      server = await startPostgres();
    },
    async stop() {
      await server?.stop();
      server = null;
    },
    async open(t) {
      if (!server) throw new Error('postgres backend not started');
      const url = await server.createDatabase();
      await migratePostgres(url);
      const store = await openPostgresStore(url, { poolMax: 4 });
      const peek = new pg.Client({ connectionString: url });
      await peek.connect();
      t.after(async () => {
        await peek.end();
        await store.close();
      });
      return {
        store,
        rows: async (table) => Number((await peek.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n),
        twin: async () => {
          const other = await openPostgresStore(url, { poolMax: 4 });
          t.after(() => other.close());
          return other;
        },
      };
    },
  };
}

export function storeBackends(): StoreBackend[] {
  return [sqlite, postgres()];
}
