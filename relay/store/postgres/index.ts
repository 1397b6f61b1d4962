// The PostgreSQL store's face: open one for a relay node (the schema must be migrated), migrate.
import { DatabaseRefused } from '../refused.js';
import { checkSchema, migrate, type MigrateResult } from './migrate.js';
import { createPool, PostgresStore, type PostgresStoreOptions } from './store.js';

export { SCHEMA_VERSION_PG } from './migrations.js';
export type { MigrateResult, PostgresStoreOptions };

/** `postgres://USER@HOST/DB` as it may be logged: without a password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable)';
  }
}

/** Opens the store of a relay node; refuses (DatabaseRefused) an unreachable or unmigrated database. */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const pool = createPool(url, opts);
  try {
    const relayId = await checkSchema(pool, redactUrl(url)).catch((e: unknown) => {
      if (e instanceof DatabaseRefused) throw e;
      throw new DatabaseRefused('database_unreachable', `cannot reach the PostgreSQL database at ${redactUrl(url)}: ${(e as Error).message}`, 'check that PostgreSQL runs and the URL, user and database are right');
    });
    return new PostgresStore(pool, relayId);
  } catch (e) {
    await pool.end();
    throw e;
  }
}

/** `fastchat relay migrate`: applies the missing migrations. */
export async function migratePostgres(url: string): Promise<MigrateResult> {
  const pool = createPool(url);
  try {
    return await migrate(pool);
  } finally {
    await pool.end();
  }
}
