// Fault suite: the wrong database (issue 13 item 5). A relay started on a fresh --db, a second relay
// started on the database of a running one, and a relay whose port is taken — real relay
// processes, real `fastchat` homes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DeliveryChecker } from './util/delivery-checker.js';
import { jsonLines, startUsers } from './util/fastchat-cli.js';
import { RELAY_TEST_ARGS, relayStartExit } from './util/fault.js';
import { startRelayProcess } from './util/relay-process.js';
import { runFastchat } from './util/fastchat-cli.js';

test('a second relay on the database of a running one refuses to start, and the first keeps serving', { timeout: 60_000 }, async (t) => {
  const { tmp, relay, dbPath, homes } = await startUsers(['alice', 'bob'], { relayArgs: RELAY_TEST_ARGS, prefix: 'fastchat-twodb-' });
  t.after(async () => {
    await relay.stop();
    tmp.cleanup();
  });
  const second = await relayStartExit(['--port', '0', '--db', dbPath]);
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`fastchat: error: another relay is already running on ${dbPath.replace(/[.]/g, '\\.')} \\(process ${relay.proc.pid}\\)`));
  assert.match(second.stderr, /hint: stop that relay first/);
  assert.equal(second.stdout, '', 'it never listened');
  // The admin tools still work beside the running relay (the lock is not on the database itself).
  const list = await runFastchat(['relay', 'users', 'list', '--db', dbPath, '--json'], {});
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout).users.map((u: { username: string }) => u.username), ['alice', 'bob']);
  const check = await runFastchat(['relay', 'check', '--db', dbPath], {});
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /integrity_check: ok/);
  await homes.alice.ok(['send', '@bob', 'still here']);
  const r = await homes.bob.ok(['inbox', '--json']);
  assert.deepEqual(jsonLines(r.stdout).map((m) => m.text), ['still here']);
});

test('a relay whose port is taken exits before it creates or opens its database', { timeout: 30_000 }, async (t) => {
  const relay = await startRelayProcess();
  t.after(() => relay.stop());
  const dir = join(relay.db, '..', 'fresh');
  mkdirSync(dir);
  const db = join(dir, 'relay.db');
  const r = await relayStartExit(['--port', String(relay.port), '--db', db]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`fastchat: error: port ${relay.port} on 127\\.0\\.0\\.1 is already in use; the database was not opened`));
  for (const f of [db, `${db}-wal`, `${db}-lock`, `${db}-hwm`, `${db}-blobs`]) assert.equal(existsSync(f), false, `${f} was created`);
});

test('a relay restarted on a fresh database is named as not the relay you registered on, and queued messages wait for the right one', { timeout: 90_000 }, async (t) => {
  const { tmp, relay, dbPath, homes } = await startUsers(['alice', 'bob'], { relayArgs: RELAY_TEST_ARGS, prefix: 'fastchat-freshdb-' });
  let current = relay;
  t.after(async () => {
    await current.stop();
    tmp.cleanup();
  });
  const check = new DeliveryChecker();
  const send = async (text: string): Promise<string> => {
    const r = await homes.alice.run(['send', '@bob', text, '--json']);
    const out = r.stdout ? (JSON.parse(r.stdout) as { id: string; status: string }) : null;
    return `${r.code}:${out?.status ?? ''}:${r.stderr}`;
  };
  assert.match(await send('one'), /^0:sent:/);
  const idOf = async (text: string): Promise<string> => {
    const h = jsonLines((await homes.alice.ok(['history', '@bob', '--json'])).stdout);
    return h.find((m) => m.text === text).id;
  };
  check.queued('alice', await idOf('one'), 'bob');
  check.sent('alice', await idOf('one'));

  // The relay goes down; alice queues a message meanwhile. The operator restarts it on the same
  // port with an empty --db (a typo, a lost volume).
  await relay.stop();
  assert.match(await send('two'), /^0:queued:/);
  const two = jsonLines((await homes.alice.ok(['history', '@bob', '--json'])).stdout).find((m) => m.text === 'two');
  check.queued('alice', two.id, 'bob');
  const freshDir = join(tmp.root, 'fresh');
  mkdirSync(freshDir);
  current = await startRelayProcess({ db: join(freshDir, 'relay.db'), port: relay.port, args: RELAY_TEST_ARGS });

  const wrong = /fastchat: error: this is not the relay you registered on: http:\/\/127\.0\.0\.1:\d+ now answers as relay \S+, but this home registered on relay \S+ \(its database was reset or replaced\)/;
  const sent = await homes.alice.run(['send', '@bob', 'three']);
  assert.equal(sent.code, 1, sent.stdout + sent.stderr);
  assert.match(sent.stderr, wrong);
  assert.doesNotMatch(sent.stderr, /fastchat login|wrong username or password/);
  const flush = await homes.alice.run(['inbox']);
  assert.equal(flush.code, 1);
  assert.match(flush.stderr, wrong);
  const history = jsonLines((await homes.alice.ok(['history', '@bob', '--json'])).stdout);
  assert.equal(history.find((m) => m.text === 'two').status, 'queued', 'the queued message still waits, not failed');
  assert.equal(history.find((m) => m.text === 'three'), undefined, 'a send refused for the wrong relay stored nothing');
  for (const args of [['inbox'], ['login', 'alice'], ['who']]) {
    const r = await homes.bob.run(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, wrong, args.join(' '));
  }
  // Registering again there needs --new-relay (and would make a stranger's account).
  const reg = await homes.alice.run(['register', 'alice', '--relay', current.url]);
  assert.equal(reg.code, 1);
  assert.match(reg.stderr, wrong);

  // The right database comes back: everything queued is delivered, once, in order.
  await current.stop();
  current = await startRelayProcess({ db: dbPath, port: relay.port, args: RELAY_TEST_ARGS });
  const flushed = await homes.alice.ok(['inbox']);
  assert.match(flushed.stderr, /no new messages/);
  check.sent('alice', two.id);
  for (const m of jsonLines((await homes.bob.ok(['inbox', '--json'])).stdout)) check.shown('bob', m.from, m.id);
  assert.equal(check.report(), '');
  assert.deepEqual(check.counts(), { queued: 2, sent: 2, expired: 0, shown: 2, reshown: 0 });
});
