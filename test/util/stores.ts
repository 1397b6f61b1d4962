// The store engines the store tests run against (relay/store/store.test.ts): each opens an empty
// store for one test and closes it after, and counts a table's rows (what a test checks besides
// the Store's own answers).
import type { TestContext } from 'node:test';
import { openSqliteStore } from '../../relay/store/sqlite.js';
import type { Store } from '../../relay/store/types.js';

export interface StoreUnderTest {
  store: Store;
  /** Rows of `table` (optionally with a WHERE clause), read beside the Store. */
  rows(tableAndWhere: string): Promise<number>;
}

export interface StoreBackend {
  name: string;
  open(t: TestContext): Promise<StoreUnderTest>;
}

const sqlite: StoreBackend = {
  name: 'sqlite',
  async open(t) {
    const store = openSqliteStore(':memory:');
    t.after(() => store.close());
    const db = (store as unknown as { db: { prepare(sql: string): { get(): unknown } } }).db;
    return { store, rows: async (table) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n };
  },
};

export function storeBackends(): StoreBackend[] {
  return [sqlite];
}
