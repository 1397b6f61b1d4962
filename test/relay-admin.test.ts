// `fastchat relay users list|ban|unban|delete|stranded|remove-device --db F`, run as the real binary against the database
// of a RUNNING relay: a ban stops the user's tokens at once and closes their socket; delete
// removes the account with its keys and queued messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { startPostgres } from './util/postgres.js';
import { RelayHttp, RelayWs, makeBundle } from './util/relay-client.js';
import { FASTCHAT_BIN } from './util/paths.js';
import { RELAY_TEST_ARGS, within } from './util/fault.js';
import { chain } from './util/device-lists.js';
import { toBase64url } from '../crypto/encoding.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function fastchat(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [FASTCHAT_BIN, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test('relay users list/ban/unban/delete act on a running relay through its database', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-admin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  // A ban made by another process reaches live sockets at the next re-check (default 5 s); 1 s here.
  const relay = await startRelayProcess({ db, args: [...RELAY_TEST_ARGS, '--auth-recheck-seconds', '1'] });
  t.after(() => relay.stop());

  const alice = new RelayHttp(relay.url);
  const aliceToken = await alice.signup('alice', 'alice password');
  assert.equal((await alice.putKeys((await makeBundle({ oneTimePreKeys: 5 })).body)).status, 200);
  const bob = new RelayHttp(relay.url);
  const bobToken = await bob.signup('bob', 'bob password');
  for (let i = 0; i < 3; i++) {
    assert.equal((await bob.request('POST', '/v1/messages', { id: `q${i}`, to: [{ user: 'alice', device: 1 }], body: 'AQID' })).status, 200);
  }

  // list (JSON and table)
  const listed = await fastchat(['relay', 'users', 'list', '--db', db, '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  const users = JSON.parse(listed.stdout).users as { username: string; banned: boolean; devices: number; queued: number }[];
  assert.deepEqual(
    users.map((u) => [u.username, u.banned, u.devices, u.queued]),
    [['alice', false, 1, 3], ['bob', false, 1, 0]],
  );
  const table = await fastchat(['relay', 'users', 'list', '--db', db]);
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^USERNAME\s+CREATED\s+DEVICES\s+QUEUED\s+BANNED\n/);
  assert.match(table.stdout, /\nalice\s+\S+\s+1\s+3\s+-\n/);
  assert.ok(!table.stdout.includes('argon2'), 'no password hashes printed');

  // ban: a connected socket is closed, the token stops working, login is refused
  const ws = await RelayWs.connect(relay.wsUrl, aliceToken);
  t.after(() => ws.terminate());
  await ws.next('hello');
  assert.equal((await alice.request('GET', '/v1/keys/count')).status, 200);
  const banned = await fastchat(['relay', 'users', 'ban', 'ALICE', '--db', db, '--json']);
  assert.equal(banned.code, 0, banned.stderr);
  assert.equal(JSON.parse(banned.stdout).banned, true);
  const afterBan = await alice.request('GET', '/v1/keys/count');
  assert.equal(afterBan.status, 403, 'the very next request with the old token is refused');
  assert.equal(afterBan.body.error.code, 'banned');
  const closed = await within(ws.closed, 8000, "the banned user's socket to be closed");
  assert.equal(closed.code, 1008);
  const login = await alice.request('POST', '/v1/sessions', { username: 'alice', password: 'alice password' }, { token: null });
  assert.equal(login.status, 403);
  assert.equal(login.body.error.code, 'banned');
  await assert.rejects(
    RelayWs.connect(relay.wsUrl, aliceToken).then(async (w) => {
      const c = await w.closed;
      throw new Error(`closed ${c.code}`);
    }),
    /closed 1008|upgrade refused: 403/,
  );
  // Others are unaffected.
  assert.equal((await bob.request('GET', '/v1/keys/count')).status, 200);

  // unban: the account works again
  const unbanned = await fastchat(['relay', 'users', 'unban', 'alice', '--db', db]);
  assert.equal(unbanned.code, 0, unbanned.stderr);
  assert.match(unbanned.stdout, /unbanned alice/);
  assert.equal((await alice.request('GET', '/v1/keys/count')).status, 200);

  // delete: keys and queued messages go with the account
  const deleted = await fastchat(['relay', 'users', 'delete', 'alice', '--db', db, '--json']);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.deepEqual(JSON.parse(deleted.stdout), { username: 'alice', deleted: true });
  assert.equal((await alice.request('GET', '/v1/keys/count')).status, 401, 'the token of a deleted account is dead');
  const keys = await bob.request('GET', '/v1/keys/alice');
  assert.equal(keys.status, 404);
  assert.equal(keys.body.error.code, 'unknown_user');
  const raw = new Database(db, { readonly: true });
  t.after(() => raw.close());
  const count = (sql: string): number => (raw.prepare(sql).get() as { n: number }).n;
  assert.equal(count("SELECT count(*) AS n FROM one_time_prekeys WHERE username = 'alice'"), 0);
  assert.equal(count("SELECT count(*) AS n FROM devices WHERE username = 'alice'"), 0);
  assert.equal(count("SELECT count(*) AS n FROM deliveries WHERE username = 'alice'"), 0);
  assert.equal(count("SELECT count(*) AS n FROM sessions WHERE username = 'alice'"), 0);
  assert.equal(count('SELECT count(*) AS n FROM messages'), 0, 'no orphaned message bodies');
  const after = JSON.parse((await fastchat(['relay', 'users', 'list', '--db', db, '--json'])).stdout).users;
  assert.deepEqual(after.map((u: { username: string }) => u.username), ['bob']);
  assert.ok(bobToken);
});

test('relay users reports unknown users, bad names and a missing database file as errors', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-admin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  const relay = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  await relay.stop();

  const unknown = await fastchat(['relay', 'users', 'ban', 'carol', '--db', db]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^fastchat: error: unknown user: carol\n/);
  const bad = await fastchat(['relay', 'users', 'delete', 'no such name!', '--db', db]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /fastchat: error: invalid username/);
  const missing = await fastchat(['relay', 'users', 'list', '--db', join(dir, 'typo.db')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /fastchat: error: no relay database at .*typo\.db\nhint: /);
  const noDb = await fastchat(['relay', 'users', 'list']);
  assert.equal(noDb.code, 2, 'usage error without --db');
  const empty = await fastchat(['relay', 'users', 'list', '--db', db, '--json']);
  assert.deepEqual(JSON.parse(empty.stdout), { users: [] });
});

/**
 * The leftovers of a link whose ticket login reply was lost (before a ticket login could be asked
 * again), found and freed with `relay users stranded` / `remove-device` run on `where` (the
 * database options) while `relay` serves from it with --max-devices 2.
 */
async function strandedDevice(relay: RelayProcess, where: string[]): Promise<void> {
  const alice = new RelayHttp(relay.url);
  await alice.signup('alice', 'alice password');
  const list = (await chain('alice', 1)).lists[0]!;
  assert.equal((await alice.request('PUT', '/v1/devices', { list: toBase64url(list.bytes) })).status, 200);
  // bob has no list: no list speaks for any of his devices, so none is stranded.
  await new RelayHttp(relay.url).signup('bob', 'bob password');
  // A link whose login reply was lost (before a ticket login could be asked again): device 2 is
  // added on the relay, and its list upload never comes.
  const ticket = (await alice.request('POST', '/v1/devices/tickets')).body.ticket as string;
  const login = await new RelayHttp(relay.url).request('POST', '/v1/sessions/ticket', { ticket });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const stranded = new RelayHttp(relay.url);
  stranded.token = login.body.token as string;
  assert.equal((await alice.request('POST', '/v1/devices/tickets')).body.error.code, 'too_many_devices', 'the stranded device holds the second slot');

  const found = await fastchat(['relay', 'users', 'stranded', ...where, '--json']);
  assert.equal(found.code, 0, found.stderr);
  assert.deepEqual(JSON.parse(found.stdout).devices.map((d: { username: string; device: number }) => [d.username, d.device]), [['alice', 2]]);
  assert.match((await fastchat(['relay', 'users', 'stranded', 'alice', ...where])).stdout, /^USERNAME\s+DEVICE\s+ADDED\nalice\s+2\s+\S+\n$/);

  const listed = await fastchat(['relay', 'users', 'remove-device', 'alice', '1', ...where]);
  assert.equal(listed.code, 1);
  assert.match(listed.stderr, /^fastchat: error: device 1 of alice is not stranded/);
  const noList = await fastchat(['relay', 'users', 'remove-device', 'bob', '1', ...where]);
  assert.equal(noList.code, 1);
  assert.match(noList.stderr, /^fastchat: error: device 1 of bob is not stranded/);
  const unknown = await fastchat(['relay', 'users', 'remove-device', 'alice', '7', ...where]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^fastchat: error: alice has no device 7 on this relay/);
  assert.equal((await fastchat(['relay', 'users', 'remove-device', 'alice', 'two', ...where])).code, 2);
  assert.equal((await alice.request('GET', '/v1/devices/alice')).status, 200, 'device 1 still logged in');

  const removed = await fastchat(['relay', 'users', 'remove-device', 'alice', '2', ...where, '--json']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(JSON.parse(removed.stdout), { username: 'alice', device: 2, removed: true });
  assert.equal((await stranded.request('GET', '/v1/devices/alice')).status, 401, "the stranded device's token is revoked");
  const again = await new RelayHttp(relay.url).request('POST', '/v1/sessions', { username: 'alice', password: 'alice password', deviceId: 2 });
  assert.equal(again.body.error.code, 'device_removed', 'and it cannot log in again');
  assert.equal((await alice.request('POST', '/v1/devices/tickets')).status, 201, 'its slot is free');
  assert.deepEqual(JSON.parse((await fastchat(['relay', 'users', 'stranded', ...where, '--json'])).stdout), { devices: [] });
}

test('relay users stranded lists a device a ticket login added that no signed list names, and remove-device frees its slot and cuts it off', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-admin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  const relay = await startRelayProcess({ db, args: [...RELAY_TEST_ARGS, '--max-devices', '2'] });
  t.after(() => relay.stop());
  await strandedDevice(relay, ['--db', db]);
});

test('relay users stranded and remove-device do the same on a PostgreSQL store', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-admin-pg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startPostgres();
  t.after(() => server.stop());
  const url = await server.createDatabase();
  const migrated = await fastchat(['relay', 'migrate', '--store', url]);
  assert.equal(migrated.code, 0, migrated.stderr);
  const relay = await startRelayProcess({ store: url, args: [...RELAY_TEST_ARGS, '--max-devices', '2', '--blob-dir', dir], timeoutMs: 60_000 });
  t.after(() => relay.stop());
  await strandedDevice(relay, ['--store', url]);
});
