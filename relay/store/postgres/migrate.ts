// Applying and checking the PostgreSQL schema (migrations.ts). `fastchat relay migrate` applies
// what is missing, under an advisory lock so two operators (or two deploy scripts) cannot apply
// one migration twice. A relay node only checks: it refuses a database that was never migrated,
// is behind, or is ahead of what this version knows (a newer relay migrated it; an older one
// would misread its tables).
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { DatabaseRefused } from '../refused.js';
import { MIGRATIONS, SCHEMA_VERSION_PG } from './migrations.js';

/** An arbitrary constant naming the migration lock (pg_advisory_lock takes a bigint). */
const MIGRATE_LOCK = 7_301_946_112;

export interface MigrateResult {
  from: number;
  to: number;
  applied: { version: number; description: string }[];
}

/** The version recorded in the database: 0 when it was never migrated. */
export async function schemaVersion(q: pg.Pool | pg.PoolClient): Promise<number> {
  const t = await q.query<{ exists: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS exists");
  if (!t.rows[0]!.exists) return 0;
  const r = await q.query<{ v: number | null }>('SELECT max(version)::int AS v FROM schema_migrations');
  return r.rows[0]!.v ?? 0;
}

export async function migrate(pool: pg.Pool): Promise<MigrateResult> {
  const c = await pool.connect();
  c.on('error', () => {}); // a dying connection fails the next statement instead
  try {
    await c.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK]);
    try {
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const from = await schemaVersion(c);
      if (from > SCHEMA_VERSION_PG) throw newerSchema(from);
      const applied: MigrateResult['applied'] = [];
      for (const m of MIGRATIONS) {
        if (m.version <= from) continue;
        await c.query('BEGIN');
        try {
          await c.query(m.sql);
          // The relay id is made once, with the first migration (store/meta.ts says what it is for).
          if (m.version === 1) await c.query("INSERT INTO relay_meta (key, value) VALUES ('relay_id', $1)", [randomBytes(16).toString('base64url')]);
          await c.query('INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)', [m.version, m.description, Date.now()]);
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK');
          throw e;
        }
        applied.push({ version: m.version, description: m.description });
      }
      return { from, to: SCHEMA_VERSION_PG, applied };
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK]);
    }
  } finally {
    c.release();
  }
}

/** Refuses (DatabaseRefused) a database this relay must not serve; returns its relay id. */
export async function checkSchema(pool: pg.Pool, where: string): Promise<string> {
  const v = await schemaVersion(pool);
  if (v === 0) throw new DatabaseRefused('database_not_migrated', `the PostgreSQL database at ${where} has no fastchat schema`, 'run `fastchat relay migrate --store URL` once, then start the relay nodes');
  if (v > SCHEMA_VERSION_PG) throw newerSchema(v);
  if (v < SCHEMA_VERSION_PG) {
    throw new DatabaseRefused('database_not_migrated', `the PostgreSQL database at ${where} is at schema version ${v}; this relay needs ${SCHEMA_VERSION_PG}`, 'run `fastchat relay migrate --store URL` (from this version), then start the relay nodes');
  }
  const r = await pool.query<{ value: string }>("SELECT value FROM relay_meta WHERE key = 'relay_id'");
  const id = r.rows[0]?.value;
  if (!id) throw new DatabaseRefused('database_corrupt', `the PostgreSQL database at ${where} has no relay id`, 'restore it from a backup');
  return id;
}

function newerSchema(v: number): DatabaseRefused {
  return new DatabaseRefused('database_newer', `the database has schema version ${v}, newer than this relay's ${SCHEMA_VERSION_PG}`, 'run the relay version that migrated it (or a newer one)');
}
