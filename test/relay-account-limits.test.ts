// An account holder multiplying its limits, against a real relay process: by inventing device ids
// (each device had its own send bucket), by sending from several devices at once, and by making the
// relay see so many other keys that it forgets its own drained bucket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs } from './util/relay-client.js';
import { RELAY_TEST_ARGS } from './util/fault.js';

const PASSWORD = 'correct horse battery';

test('an account cannot log in more devices than the cap; the refused device gets no token and does not exist', { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: RELAY_TEST_ARGS }); // default cap: 8
  t.after(() => relay.stop());
  const mallory = new RelayHttp(relay.url);
  await mallory.signup('mallory', PASSWORD, 1);
  const statuses: number[] = [];
  for (let d = 2; d <= 40; d++) statuses.push((await mallory.request('POST', '/v1/sessions', { username: 'mallory', password: PASSWORD, deviceId: d * 1000 })).status);
  assert.deepEqual(statuses, [...new Array(7).fill(200), ...new Array(32).fill(403)]);
  const refused = await mallory.request('POST', '/v1/sessions', { username: 'mallory', password: PASSWORD, deviceId: 99_999 });
  assert.equal(refused.body.error.code, 'too_many_devices');
  assert.equal(refused.body.token, undefined);
  // Devices it has keep logging in.
  await new RelayHttp(relay.url).login('mallory', PASSWORD, 8000);
  // A refused device id was never created: a send to it is refused as unknown.
  const bob = new RelayHttp(relay.url);
  await bob.signup('bob');
  const send = await bob.request('POST', '/v1/messages', { id: 'x1', to: [{ user: 'mallory', device: 9000 }], body: 'AQID' });
  assert.equal(send.status, 404);
  assert.equal(send.body.error.code, 'unknown_device');
});

test('sends are limited per account too: a second device cannot spend what the first already spent', { timeout: 60_000 }, async (t) => {
  const ACCOUNT_BURST = 10;
  const relay = await startRelayProcess({
    args: [...RELAY_TEST_ARGS, '--rate-limit-send', '1000', '--rate-limit-send-burst', '1000', '--rate-limit-send-account', '1', '--rate-limit-send-account-burst', String(ACCOUNT_BURST)],
  });
  t.after(() => relay.stop());
  const bob = new RelayHttp(relay.url);
  await bob.signup('bob');
  const to = [{ user: 'bob', device: 1 }];
  const devices: RelayWs[] = [];
  for (const d of [1, 2, 3]) {
    const h = new RelayHttp(relay.url);
    const token = d === 1 ? await h.signup('mallory', PASSWORD, 1) : await h.login('mallory', PASSWORD, d);
    const ws = await RelayWs.connect(relay.wsUrl, token);
    t.after(() => ws.terminate());
    await ws.next('hello');
    devices.push(ws);
  }
  const answers: string[] = [];
  for (let i = 0; i < 3 * ACCOUNT_BURST; i++) {
    const f = await devices[i % 3]!.sendMessage(`m${i}`, to, 'AQID');
    answers.push(f.type === 'sent' ? 'sent' : f.code);
  }
  assert.equal(answers.filter((a) => a === 'sent').length, ACCOUNT_BURST, answers.join(','));
  // Each device's first refusal is the limit; its later sends to bob wait for that one to be sent
  // again (out_of_order, docs/RELAY.md "Order").
  assert.deepEqual(answers.slice(ACCOUNT_BURST, ACCOUNT_BURST + 3), ['rate_limited', 'rate_limited', 'rate_limited'], answers.join(','));
  assert.ok(answers.slice(ACCOUNT_BURST + 3).every((a) => a === 'out_of_order'), answers.join(','));
  // Only the accepted sends were stored.
  const bobWs = await RelayWs.connect(relay.wsUrl, bob.token);
  t.after(() => bobWs.terminate());
  await bobWs.next('hello');
  await bobWs.next('drained');
  assert.equal(bobWs.frames.filter((f) => f.type === 'message').length, ACCOUNT_BURST);
});

test('a password guesser cannot reset the per-account login limit by making the relay see many other names', { timeout: 60_000 }, async (t) => {
  const MAX_KEYS = 20;
  const relay = await startRelayProcess({
    args: [...RELAY_TEST_ARGS, '--rate-limit-account', '1', '--rate-limit-max-keys', String(MAX_KEYS)], // burst 2, 1 a minute
  });
  t.after(() => relay.stop());
  const http = new RelayHttp(relay.url);
  assert.equal((await http.register('alice', PASSWORD)).status, 201);
  const guess = (username: string, password: string) => http.request('POST', '/v1/sessions', { username, password }, { token: null });
  const first = [];
  for (let i = 0; i < 3; i++) first.push((await guess('alice', `guess ${i}`)).status);
  assert.deepEqual(first, [401, 401, 429]);
  // Five times the limiter's room in other names (these cost the attacker nothing but requests).
  for (let i = 0; i < 5 * MAX_KEYS; i++) await guess(`other_${i}`, 'whatever password');
  assert.equal((await guess('alice', 'guess after the flood')).status, 429);
  assert.equal((await guess('alice', PASSWORD)).status, 429, 'even the right password waits: the bucket was not forgotten');
});
