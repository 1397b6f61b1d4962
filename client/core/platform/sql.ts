// The SQL store the client core is written against: the part of better-sqlite3's API it uses, so
// better-sqlite3's Database satisfies it as it is (client/node/sqlite.ts) and a browser store
// (sql.js over IndexedDB, platform/sqljs.ts) implements the same few calls. Nothing here opens a
// file: the platform opens the store and hands it to the core.

/** What a statement binds: positional parameters only (the core never names them). BLOBs are Uint8Array. */
export type SqlValue = string | number | bigint | Uint8Array | null;

export interface SqlRunResult {
  /** Rows inserted, updated or deleted by this statement. */
  changes: number;
  lastInsertRowid: number | bigint;
}

/**
 * A prepared statement. Rows come back as plain objects keyed by column name; a BLOB column is a
 * Uint8Array (better-sqlite3 gives a Buffer, which is one), so the core reads it as a Uint8Array.
 */
export interface SqlStatement {
  run(...params: SqlValue[]): SqlRunResult;
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
}

/** `db.transaction(fn)`: call it for a savepoint inside an open transaction, `.immediate()` or `.deferred()` at the top. */
export interface SqlTransaction<T> {
  (): T;
  immediate(): T;
  deferred(): T;
}

export interface SqlStore {
  prepare(sql: string): SqlStatement;
  /** Runs one or more statements without parameters (schema). */
  exec(sql: string): unknown;
  /** fn runs in a transaction: committed when it returns, rolled back when it throws; nested, a savepoint. */
  transaction<T>(fn: () => T): SqlTransaction<T>;
  readonly inTransaction: boolean;
  close(): void;
}
