// The SQL store over sql.js (SQLite compiled to WebAssembly): what the browser client runs the core
// on, and what the core's tests run it on in Node to show it needs nothing of better-sqlite3. The
// database lives in memory; `export()` gives its bytes for the platform to keep (the browser seals
// them into IndexedDB). Statements are cached per SQL text like client/node/sqlite.ts does, and
// freed when evicted or closed (a sql.js statement holds WebAssembly memory until freed).
import initSqlJs, { type BindParams, type Database, type SqlJsStatic, type Statement } from 'sql.js';
import type { SqlRunResult, SqlStatement, SqlStore, SqlTransaction, SqlValue } from './sql.js';

export interface SqlJsStore extends SqlStore {
  /** The whole database as an SQLite file image. */
  export(): Uint8Array;
}

export interface SqlJsOptions {
  /** Where the page serves sql-wasm.wasm (passed to sql.js); in Node sql.js finds it itself. */
  locateFile?: (file: string) => string;
}

/** The loaded engine: opening a store is then synchronous, as opening better-sqlite3 is. */
export interface SqlJs {
  /** `bytes`: an SQLite file image to open (from export()); a new empty database when absent. */
  open(bytes?: Uint8Array): SqlJsStore;
}

let engine: Promise<SqlJsStatic> | undefined;

/** Loads the WebAssembly module (once per page or process). */
export async function loadSqlJs(opts: SqlJsOptions = {}): Promise<SqlJs> {
  engine ??= initSqlJs(opts.locateFile ? { locateFile: opts.locateFile } : undefined);
  const SQL = await engine;
  return { open: (bytes) => new SqlJsAdapter(new SQL.Database(bytes)) };
}

/** Distinct SQL texts kept prepared, as in client/node/sqlite.ts. */
const STATEMENT_CACHE_SIZE = 512;

/** sql.js binds numbers as doubles: a bigint is taken only when it is one exactly. */
function bindable(params: SqlValue[]): BindParams {
  return params.map((v) => {
    if (typeof v !== 'bigint') return v;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new RangeError(`integer ${v} is out of range for this store`);
    return Number(v);
  });
}

class SqlJsAdapter implements SqlJsStore {
  private readonly cache = new Map<string, Statement>();
  private depth = 0;
  private savepoints = 0;

  constructor(private readonly db: Database) {
    // As the Node store: the schema's REFERENCES are enforced.
    db.exec('PRAGMA foreign_keys = ON');
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  prepare(sql: string): SqlStatement {
    let s = this.cache.get(sql);
    if (s === undefined) {
      if (this.cache.size >= STATEMENT_CACHE_SIZE) this.dropStatements();
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return this.wrap(s);
  }

  private wrap(s: Statement): SqlStatement {
    const db = this.db;
    const rows = (params: SqlValue[], max: number): Record<string, unknown>[] => {
      const out: Record<string, unknown>[] = [];
      try {
        s.bind(bindable(params));
        while (out.length < max && s.step()) out.push(s.getAsObject());
      } finally {
        s.reset();
      }
      return out;
    };
    return {
      run: (...params: SqlValue[]): SqlRunResult => {
        rows(params, Infinity);
        const changes = db.getRowsModified();
        return {
          changes,
          get lastInsertRowid() {
            return db.exec('SELECT last_insert_rowid()')[0]!.values[0]![0] as number;
          },
        };
      },
      get: (...params: SqlValue[]) => rows(params, 1)[0],
      all: (...params: SqlValue[]) => rows(params, Infinity),
    };
  }

  exec(sql: string): this {
    this.db.exec(sql);
    return this;
  }

  /** better-sqlite3's semantics: BEGIN at the top, a SAVEPOINT inside; rolled back when fn throws. */
  transaction<T>(fn: () => T): SqlTransaction<T> {
    const run = (begin: string): T => {
      if (this.depth > 0) return this.inSavepoint(fn);
      this.db.exec(begin);
      this.depth = 1;
      try {
        const result = fn();
        this.db.exec('COMMIT');
        return result;
      } catch (e) {
        // SQLite may have rolled back already (a full disk): then there is nothing to roll back.
        try {
          this.db.exec('ROLLBACK');
        } catch {}
        throw e;
      } finally {
        this.depth = 0;
      }
    };
    const t = (() => run('BEGIN')) as SqlTransaction<T>;
    t.immediate = () => run('BEGIN IMMEDIATE');
    t.deferred = () => run('BEGIN DEFERRED');
    return t;
  }

  private inSavepoint<T>(fn: () => T): T {
    const name = `sp${++this.savepoints}`;
    this.db.exec(`SAVEPOINT ${name}`);
    this.depth++;
    try {
      const result = fn();
      this.db.exec(`RELEASE ${name}`);
      return result;
    } catch (e) {
      this.db.exec(`ROLLBACK TO ${name}`);
      this.db.exec(`RELEASE ${name}`);
      throw e;
    } finally {
      this.depth--;
    }
  }

  export(): Uint8Array {
    return this.db.export();
  }

  private dropStatements(): void {
    for (const s of this.cache.values()) s.free();
    this.cache.clear();
  }

  close(): void {
    this.dropStatements();
    this.db.close();
  }
}
