// Scan test: after a run of traffic with unique marker bodies, passwords and tokens (including
// refused sends, failed logins and bogus tokens, which are what tends to get logged), neither the
// relay's SQLite files nor its stdout/stderr contain any of them. Delivered-and-acked bodies must
// be gone from the file too (deleted rows are zeroed, not left in free pages).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { RELAY_TEST_ARGS, findInFiles, sqliteFiles, waitFor, within, onFrames } from './util/fault.js';

const MESSAGES = 60;

test('neither the database files nor the logs hold message bodies, tokens or passwords after traffic', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-scan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  const relay = await startRelayProcess({ db, args: [...RELAY_TEST_ARGS, '--log-level', 'debug'] });
  t.after(() => relay.kill());

  const secret = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`;
  const passwords = { alice: secret('pw-alice'), bob: secret('pw-bob'), wrong: secret('pw-wrong') };
  const aliceHttp = new RelayHttp(relay.url);
  const bobHttp = new RelayHttp(relay.url);
  assert.equal((await aliceHttp.register('alice', passwords.alice)).status, 201);
  assert.equal((await bobHttp.register('bob', passwords.bob)).status, 201);
  const aliceToken = await aliceHttp.login('alice', passwords.alice);
  const bobToken = await bobHttp.login('bob', passwords.bob);
  const aliceToken2 = await new RelayHttp(relay.url).login('alice', passwords.alice, 2);
  const bogusToken = randomBytes(32).toString('base64url');
  // Failed logins and bogus tokens are the classic way secrets reach a log.
  assert.equal((await aliceHttp.request('POST', '/v1/sessions', { username: 'alice', password: passwords.wrong })).status, 401);
  assert.equal((await aliceHttp.request('GET', '/v1/keys/count', undefined, { token: bogusToken })).status, 401);
  assert.equal((await aliceHttp.request('POST', '/v1/accounts', { username: 'x', password: passwords.wrong })).status, 400);
  // A token in the URL is refused, and must not reach a log line either.
  await RelayWs.connect(`${relay.wsUrl}?token=${bogusToken}`, null)
    .then((ws) => ws.terminate())
    .catch(() => {});

  // Marker bodies: each body is one marker, so its base64url form is exact too.
  const bodies: Buffer[] = [];
  const mk = (): Buffer => {
    const b = Buffer.from(`MARKER-${randomBytes(16).toString('hex')}-BODY`);
    bodies.push(b);
    return b;
  };
  const bob = await RelayWs.connect(relay.wsUrl, bobToken);
  t.after(() => bob.terminate());
  const got = new Set<string>();
  onFrames(bob, (f) => {
    if (f.type === 'message') {
      got.add(f.clientId);
      bob.ack(f.id);
    }
  });
  const alice = await RelayWs.connect(relay.wsUrl, aliceToken);
  t.after(() => alice.terminate());
  await alice.next('hello');
  const sent: string[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const id = `m${i}`;
    const r = await alice.sendMessage(id, [{ user: 'bob', device: 1 }], mk().toString('base64url'));
    assert.equal(r.type, 'sent');
    sent.push(id);
  }
  for (let i = 0; i < 10; i++) {
    const r = await aliceHttp.request('POST', '/v1/messages', { id: `h${i}`, to: [{ user: 'bob', device: 1 }], body: mk().toString('base64url') });
    assert.equal(r.status, 200);
    sent.push(`h${i}`);
  }
  // Refused sends carrying marker bodies: unknown recipient, bad field, extra field, bad JSON.
  assert.equal((await alice.sendMessage('r1', [{ user: 'nobody_here', device: 1 }], mk().toString('base64url'))).type, 'error');
  alice.send({ type: 'send', id: 'r2', to: [{ user: 'bob', device: 1 }], body: mk().toString('base64url'), extra: mk().toString('base64url') });
  assert.equal((await alice.next('error')).code, 'bad_request');
  const a2 = await RelayWs.connect(relay.wsUrl, aliceToken2);
  t.after(() => a2.terminate());
  await a2.next('hello');
  a2.sendRaw(`{"type":"send","id":"r3","body":"${mk().toString('base64url')}"`); // bad JSON: 1007
  await within(a2.closed, 5000, 'close after bad JSON');
  await waitFor(() => sent.every((id) => got.has(id)), 10_000, 'bob to receive everything');
  // Let bob's acks commit and the queue empty before scanning.
  await waitFor(async () => (await bobHttp.request('GET', '/metrics')).body.includes('fastchat_queue_depth 0'), 5000, 'an empty queue');

  const needles = [
    ...Object.entries(passwords).map(([k, v]) => ({ label: `password ${k}`, bytes: Buffer.from(v) })),
    ...[aliceToken, bobToken, aliceToken2, bogusToken].map((tok, i) => ({ label: `token #${i}`, bytes: Buffer.from(tok) })),
  ];
  const bodyNeedles = bodies.flatMap((b, i) => [
    { label: `body #${i}`, bytes: b },
    { label: `body #${i} (base64url)`, bytes: Buffer.from(b.toString('base64url')) },
    { label: `body #${i} (base64)`, bytes: Buffer.from(b.toString('base64')) },
  ]);

  // While running: tokens and passwords are never written (only hashes), WAL included.
  const liveFiles = sqliteFiles(db);
  assert.ok(liveFiles.some((f) => f.endsWith('-wal')), 'the scan covers the WAL of a running relay');
  assert.deepEqual(findInFiles(liveFiles, needles), [], 'secrets in the live database files');

  // After a clean stop: no body either, in any file, and nothing in the logs.
  const exit = await relay.stop();
  assert.equal(exit.code, 0);
  assert.deepEqual(findInFiles(sqliteFiles(db), [...needles, ...bodyNeedles]), [], 'secrets or delivered bodies in the database files');
  const logs = Buffer.from([...relay.stdout, ...relay.stderr].join('\n'));
  assert.ok(relay.stderr.length >= 5, `the relay did log (${relay.stderr.length} lines)`);
  const inLogs = [...needles, ...bodyNeedles].filter((n) => logs.indexOf(n.bytes) >= 0).map((n) => n.label);
  assert.deepEqual(inLogs, [], 'secrets or bodies in the relay logs');
  // Sanity: the scan can see things. The usernames are in both places.
  assert.ok(logs.includes('alice'));
  assert.ok(findInFiles(sqliteFiles(db), [{ label: 'user', bytes: Buffer.from('alice') }]).length > 0);
});
