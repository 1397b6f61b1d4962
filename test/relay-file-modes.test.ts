// The relay's files on a host where other users can read what the umask lets them: its database
// (password and token hashes, queued ciphertext, who talks to whom), the -wal and -shm SQLite makes
// beside it, and the blob directory. Against a real relay process started under umask 022, the
// usual default, with which SQLite alone creates all three 0644.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs } from './util/relay-client.js';
import { RELAY_TEST_ARGS } from './util/fault.js';

const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);

/** Starts the relay on `db` under umask 022 (the child inherits it). */
async function startUnderUmask022(t: TestContext, db: string): Promise<RelayProcess> {
  const old = process.umask(0o022);
  try {
    const relay = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
    t.after(() => relay.stop());
    return relay;
  } finally {
    process.umask(old);
  }
}

/** Messages and a blob, so the WAL, the SHM and a blob file all exist. */
async function traffic(relay: RelayProcess, t: TestContext): Promise<void> {
  const alice = new RelayHttp(relay.url);
  await alice.signup('alice');
  const bob = new RelayHttp(relay.url);
  await bob.signup('bob');
  const ws = await RelayWs.connect(relay.wsUrl, alice.token);
  t.after(() => ws.terminate());
  await ws.next('hello');
  assert.equal((await ws.sendMessage('m1', [{ user: 'bob', device: 1 }], 'AQIDBA')).type, 'sent');
  const up = await alice.request('POST', '/v1/blobs?to=bob', undefined, { raw: new Uint8Array(100), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(up.status, 201, JSON.stringify(up.body));
}

function dirFor(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-modes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the relay creates its database, WAL, SHM and blob files readable by its own user only, whatever the umask', { timeout: 60_000 }, async (t) => {
  const dir = dirFor(t);
  const db = join(dir, 'relay.db');
  const relay = await startUnderUmask022(t, db);
  await traffic(relay, t);
  for (const suffix of ['', '-wal', '-shm']) {
    assert.ok(existsSync(db + suffix), `${db}${suffix} exists`);
    assert.equal(mode(db + suffix), '600', `relay.db${suffix}`);
  }
  const blobs = `${db}-blobs`;
  assert.equal(mode(blobs), '700');
  const files = readdirSync(blobs);
  assert.equal(files.length, 1);
  assert.equal(mode(join(blobs, files[0]!)), '600');
});

test('a relay started on files left open to others narrows them to 0600, and the blob directory to 0700', { timeout: 60_000 }, async (t) => {
  const dir = dirFor(t);
  const db = join(dir, 'relay.db');
  const first = await startUnderUmask022(t, db);
  await traffic(first, t);
  await first.kill(); // -wal and -shm stay behind, as after a crash
  const blobs = `${db}-blobs`;
  const blob = join(blobs, readdirSync(blobs)[0]!);
  // What an older relay (or a careless copy) leaves: everything readable by everyone.
  for (const f of [db, `${db}-wal`, `${db}-shm`, blob]) chmodSync(f, 0o644);
  chmodSync(blobs, 0o755);

  const second = await startUnderUmask022(t, db);
  for (const f of [db, `${db}-wal`, `${db}-shm`, blob]) assert.equal(mode(f), '600', f);
  assert.equal(mode(blobs), '700');
  assert.ok(second.stderr.some((l) => l.includes('"event":"file_mode_fixed"')), 'the operator is told');
  // The data is intact: the queued message is still delivered.
  const bob = new RelayHttp(second.url);
  const ws = await RelayWs.connect(second.wsUrl, await bob.login('bob', 'correct horse battery'));
  t.after(() => ws.terminate());
  assert.equal((await ws.next('message')).clientId, 'm1');
});
