// `fastchat relay migrate` and the schema check at `relay start` (relay/store/postgres/migrate.ts),
// with the real binary against a PostgreSQL server started on 127.0.0.1 (test/util/postgres.ts):
// a node starts only on a database at exactly its schema version.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { MIGRATIONS } from '../relay/store/postgres/migrations.js';
import { runFastchat } from './util/fastchat-cli.js';
import { startPostgres, type PgServer } from './util/postgres.js';
import { startRelayProcess, TEST_RELAY_ENV } from './util/relay-process.js';

/** The blob directory nodes share (a PostgreSQL store needs one); removed after the suite. */
const blobDir = mkdtempSync(join(tmpdir(), 'fastchat-migrate-'));
const versions = MIGRATIONS.map((m) => m.version);
const newest = versions[versions.length - 1]!;

/** `relay start` on `store`: it must refuse and exit by itself (a start that serves would time out). */
async function startRefused(store: string): Promise<string> {
  const r = await runFastchat(['relay', 'start', '--store', store, '--blob-dir', blobDir, '--port', '0'], TEST_RELAY_ENV, 60_000);
  assert.notEqual(r.code, 0, r.stdout);
  return r.stderr;
}

async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

describe('relay migrate', { timeout: 180_000 }, () => {
  let server: PgServer;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
    rmSync(blobDir, { recursive: true, force: true });
  });

  test('a node refuses a database never migrated; migrate applies every migration once, and then the node serves', async (t) => {
    const url = await server.createDatabase();
    assert.match(await startRefused(url), /has no fastchat schema/);
    const first = await runFastchat(['relay', 'migrate', '--store', url, '--json'], {});
    assert.equal(first.code, 0, first.stderr);
    const applied = JSON.parse(first.stdout) as { from: number; to: number; applied: { version: number }[] };
    assert.deepEqual([applied.from, applied.to, applied.applied.map((m) => m.version)], [0, newest, versions]);
    const again = await runFastchat(['relay', 'migrate', '--store', url, '--json'], {});
    assert.deepEqual(JSON.parse(again.stdout).applied, [], 'nothing is applied twice');
    const relay = await startRelayProcess({ store: url, args: ['--blob-dir', blobDir], timeoutMs: 60_000 });
    t.after(() => relay.stop());
    assert.equal((await fetch(`${relay.url}/healthz`)).status, 200);
  });

  test('a database one migration behind is refused until migrate brings the missing one', async (t) => {
    const url = await server.createDatabase();
    assert.equal((await runFastchat(['relay', 'migrate', '--store', url], {})).code, 0);
    // As a database migrated by the previous release left it: the newest migration's tables, columns and row absent.
    const newestSql = MIGRATIONS.at(-1)!.sql;
    const undo = [
      ...[...newestSql.matchAll(/CREATE TABLE (\w+)/g)].map((m) => `DROP TABLE ${m[1]};`),
      ...[...newestSql.matchAll(/ALTER TABLE (\w+) ADD COLUMN (\w+)/g)].map((m) => `ALTER TABLE ${m[1]} DROP COLUMN ${m[2]};`),
    ];
    assert.ok(undo.length > 0, 'the newest migration creates a table or adds a column');
    await sql(url, `${undo.join(' ')} DELETE FROM schema_migrations WHERE version = ${newest}`);
    assert.match(await startRefused(url), new RegExp(`is at schema version ${newest - 1}; this relay needs ${newest}`));
    const r = await runFastchat(['relay', 'migrate', '--store', url, '--json'], {});
    assert.deepEqual(JSON.parse(r.stdout).applied.map((m: { version: number }) => m.version), [newest]);
    const relay = await startRelayProcess({ store: url, args: ['--blob-dir', blobDir], timeoutMs: 60_000 });
    t.after(() => relay.stop());
    assert.equal((await fetch(`${relay.url}/healthz`)).status, 200);
  });

  test('a database of a newer schema is refused by relay start and by relay migrate, and left as it was', async () => {
    const url = await server.createDatabase();
    assert.equal((await runFastchat(['relay', 'migrate', '--store', url], {})).code, 0);
    await sql(url, `INSERT INTO schema_migrations (version, description, applied_at) VALUES (${newest + 1}, 'from a newer relay', 0)`);
    assert.match(await startRefused(url), /newer than this relay's/);
    const m = await runFastchat(['relay', 'migrate', '--store', url], {});
    assert.notEqual(m.code, 0);
    assert.match(m.stderr, /newer than this relay's/);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      assert.equal(Number((await c.query('SELECT max(version) AS v FROM schema_migrations')).rows[0].v), newest + 1);
    } finally {
      await c.end();
    }
  });
});
