// Fault suite: the relay's clock jumps 31 days ahead (issue 13 item 4), with libfaketime on the real
// relay process. The start-up sweep used to delete the whole queue and every sender kept reading
// "sent". Now the sweep holds and says so until an operator lets it go; then each sender is told
// which messages expired undelivered, and the client shows "expired undelivered".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryChecker } from './util/delivery-checker.js';
import { jsonLines, runFastchat, startUsers } from './util/fastchat-cli.js';
import { fakeTimeEnv, onFrames, RELAY_TEST_ARGS, waitFor } from './util/fault.js';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { startRelayProcess } from './util/relay-process.js';

const RAW = 20;
// Tokens outlive the jump here, so what is tested is the queue (a jumped clock also makes 30-day
// tokens look expired: clients then log in again, which loses nothing).
const ARGS = [...RELAY_TEST_ARGS, '--token-ttl-seconds', String(90 * 86400), '--sweep-interval-seconds', '1'];

test('a 31-day clock jump holds expiry until an operator lets it go, and then senders are told what expired undelivered', { timeout: 120_000 }, async (t) => {
  const { tmp, relay, dbPath, homes } = await startUsers(['alice', 'bob'], { relayArgs: ARGS, prefix: 'fastchat-clock-' });
  let current = relay;
  t.after(async () => {
    await current.stop();
    tmp.cleanup();
  });
  const check = new DeliveryChecker();
  for (const text of ['are you there?', 'ping']) {
    const r = JSON.parse((await homes.alice.ok(['send', '@bob', text, '--json'])).stdout) as { id: string; status: string };
    assert.equal(r.status, 'sent');
    check.queued('alice', r.id, 'bob');
    check.sent('alice', r.id);
  }
  const carolToken = await new RelayHttp(relay.url).signup('carol');
  const carol = await RelayWs.connect(relay.wsUrl, carolToken);
  await carol.next('hello');
  for (let i = 0; i < RAW; i++) {
    check.queued('carol', `c${i}`, 'bob');
    assert.equal((await carol.sendMessage(`c${i}`, [{ user: 'bob', device: 1 }], Buffer.from(`raw ${i}`).toString('base64url'))).type, 'sent');
    check.sent('carol', `c${i}`);
  }
  await carol.terminate();
  await relay.stop();

  // The host's clock is now 31 days ahead: every queued message is past its 30-day TTL.
  const jumped = fakeTimeEnv('+31d');
  current = await startRelayProcess({ db: dbPath, port: relay.port, args: ARGS, env: jumped });
  await waitFor(() => current.stderr.some((l) => l.includes('"event":"expiry_held"')), 10_000, 'the held sweep to be logged');
  const held = current.stderr.find((l) => l.includes('"event":"expiry_held"'))!;
  assert.match(held, /expiry held: the clock is \d+ h past the last sweep and 22 of 22 queued deliveries would expire at once\. Nothing was deleted/);
  assert.match(held, /relay expire --db/);
  const health = (await (await fetch(`${current.url}/healthz`)).json()) as { ok: boolean; expiryHeld: boolean; warnings: string[] };
  assert.equal(health.ok, true, 'delivery still works');
  assert.equal(health.expiryHeld, true);
  assert.match(health.warnings.join(' '), /expiry_held/);
  const metrics = await (await fetch(`${current.url}/metrics`)).text();
  assert.match(metrics, /^fastchat_expiry_held 1$/m);
  const users = JSON.parse((await runFastchat(['relay', 'users', 'list', '--db', dbPath, '--json'], {})).stdout) as { users: { username: string; queued: number }[] };
  assert.equal(users.users.find((u) => u.username === 'bob')!.queued, 22, 'the queue is intact');

  // The operator says the clock is right: the expiry goes ahead, by the (jumped) clock.
  const dry = await runFastchat(['relay', 'expire', '--db', dbPath, '--dry-run'], jumped);
  assert.match(dry.stdout, /22 of 22 queued deliveries and 0 of \d+ sessions would expire/);
  const expire = await runFastchat(['relay', 'expire', '--db', dbPath], jumped);
  assert.equal(expire.code, 0, expire.stderr);
  assert.match(expire.stdout, /expired 22 messages \(22 undelivered deliveries; 2 expiry notices queued for their senders\)/);
  await waitFor(async () => ((await (await fetch(`${current.url}/healthz`)).json()) as { expiryHeld: boolean }).expiryHeld === false, 10_000, 'the relay to resume expiry');

  // Each sender hears of it: the raw client as an `expired` frame, alice's client as a warning and
  // the status "expired undelivered".
  const carolAgain = await RelayWs.connect(current.wsUrl, carolToken);
  t.after(() => carolAgain.terminate());
  const notices: Frame[] = [];
  onFrames(carolAgain, (f) => {
    if (f.type === 'expired') {
      notices.push(f);
      carolAgain.ack(f.id);
    }
  });
  await waitFor(() => notices.length > 0, 10_000, "carol's expiry notice");
  for (const m of notices[0]!.messages as { id: string; to: { user: string; device: number }; sentAt: string }[]) {
    assert.deepEqual(m.to, { user: 'bob', device: 1 });
    check.expired('carol', m.id);
  }
  const inbox = await homes.alice.ok(['inbox']);
  assert.match(inbox.stderr, /2 messages to @bob were never fetched and expired on the relay \(expired undelivered\)/);
  const history = await homes.alice.ok(['history', '@bob']);
  assert.equal(history.stdout.match(/\(expired undelivered\)/g)?.length, 2, history.stdout);
  for (const m of jsonLines((await homes.alice.ok(['history', '@bob', '--json'])).stdout)) {
    assert.equal(m.status, 'expired');
    check.expired('alice', m.id);
  }
  const bob = await homes.bob.ok(['inbox', '--json']);
  for (const m of jsonLines(bob.stdout)) check.shown('bob', m.from, m.id);
  assert.equal(check.report(), '');
  assert.deepEqual(check.counts(), { queued: 22, sent: 22, expired: 22, shown: 0, reshown: 0 });
});
