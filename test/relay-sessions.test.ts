// Bearer tokens against someone who holds one they should not: a token copied from a proxy's URL
// log, or stolen from a device. Against a real relay process whose periodic socket re-check is
// set to an hour (--auth-recheck-seconds 3600), so a socket that closes here was closed by the
// revocation itself, not by the re-check that catches bans made from another process.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs } from './util/relay-client.js';
import { RELAY_TEST_ARGS, within } from './util/fault.js';

const PASSWORD = 'correct horse battery';
/** Long enough for a loaded machine, far shorter than the re-check. */
const CLOSE_WAIT_MS = 15_000;

async function relayFor(t: TestContext, extra: string[] = []): Promise<RelayProcess> {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--auth-recheck-seconds', '3600', ...extra] });
  t.after(() => relay.stop());
  return relay;
}

/** A logged-in device with an open socket (hello received). */
async function device(relay: RelayProcess, t: TestContext, user: string, deviceId: number, password = PASSWORD): Promise<{ http: RelayHttp; token: string; ws: RelayWs }> {
  const http = new RelayHttp(relay.url);
  const token = deviceId === 1 ? await http.signup(user, password, 1) : await http.login(user, password, deviceId);
  const ws = await RelayWs.connect(relay.wsUrl, token);
  t.after(() => ws.terminate());
  await ws.next('hello');
  return { http, token, ws };
}

test('a valid token in the WebSocket URL is refused, so a URL in a proxy log never opens a session', async (t) => {
  const relay = await relayFor(t);
  const alice = new RelayHttp(relay.url);
  const token = await alice.signup('alice', PASSWORD);
  const ws = await RelayWs.connect(`${relay.wsUrl}?token=${token}`, null);
  t.after(() => ws.terminate());
  const err = await ws.next('error');
  assert.equal(err.code, 'unauthorized');
  assert.equal((await ws.closed).code, 4001);
  assert.ok(!ws.frames.some((f) => f.type === 'hello'), 'no hello: the URL token opened nothing');
  // Also refused when a valid header comes with it: the client must stop putting it in URLs.
  const both = await RelayWs.connect(`${relay.wsUrl}?token=${token}`, token);
  t.after(() => both.terminate());
  assert.equal((await both.closed).code, 4001);
  // The header alone works.
  const ok = await RelayWs.connect(relay.wsUrl, token);
  t.after(() => ok.terminate());
  assert.equal((await ok.next('hello')).user, 'alice');
});

test('logout closes the socket its token opened at once, not at the periodic re-check', async (t) => {
  const relay = await relayFor(t);
  const a = await device(relay, t, 'alice', 1);
  const other = await device(relay, t, 'alice', 2);
  assert.equal((await a.http.request('DELETE', '/v1/sessions')).status, 204);
  const closed = await within(a.ws.closed, CLOSE_WAIT_MS, 'the logged-out socket to close');
  assert.equal(closed.code, 4001);
  // Another device of the account keeps its session and socket.
  other.ws.send({ type: 'ping' });
  await other.ws.next('pong');
  assert.equal((await other.http.request('GET', '/v1/keys/count')).status, 200);
});

test('log out everywhere revokes every token of the account and closes all its sockets at once', async (t) => {
  const relay = await relayFor(t);
  const phone = await device(relay, t, 'alice', 1);
  const laptop = await device(relay, t, 'alice', 2);
  const stolen = await device(relay, t, 'alice', 3); // a thief's session of the same account
  const bob = await device(relay, t, 'bob', 1);
  const r = await phone.http.request('DELETE', '/v1/sessions/all');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { revoked: 3 });
  for (const d of [phone, laptop, stolen]) {
    assert.equal((await within(d.ws.closed, CLOSE_WAIT_MS, 'a socket of the account to close')).code, 4001);
    assert.equal((await d.http.request('GET', '/v1/keys/count')).status, 401);
  }
  bob.ws.send({ type: 'ping' });
  await bob.ws.next('pong');
});

test('a password change revokes every token, closes their sockets at once and gives the caller a new token; the old password stops working', async (t) => {
  const relay = await relayFor(t);
  const owner = await device(relay, t, 'alice', 1);
  const thief = await device(relay, t, 'alice', 2);
  const changed = await owner.http.request('POST', '/v1/password', { oldPassword: PASSWORD, newPassword: 'a brand new password' });
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  assert.equal(changed.body.revoked, 2);
  assert.equal(changed.body.username, 'alice');
  assert.equal(changed.body.deviceId, 1);
  assert.notEqual(changed.body.token, owner.token);
  for (const d of [thief, owner]) assert.equal((await within(d.ws.closed, CLOSE_WAIT_MS, 'a socket of the account to close')).code, 4001);
  assert.equal((await thief.http.request('GET', '/v1/keys/count')).status, 401);
  assert.equal((await owner.http.request('GET', '/v1/keys/count')).status, 401, 'the caller\'s old token is revoked too');
  assert.equal((await owner.http.request('GET', '/v1/keys/count', undefined, { token: changed.body.token })).status, 200);
  const oldLogin = await new RelayHttp(relay.url).request('POST', '/v1/sessions', { username: 'alice', password: PASSWORD, deviceId: 2 });
  assert.equal(oldLogin.status, 401);
  await new RelayHttp(relay.url).login('alice', 'a brand new password', 2);
});

test('a token thief cannot change the password without the current one, nor guess it faster than login allows', async (t) => {
  const relay = await relayFor(t, ['--rate-limit-account', '2']); // burst 4, then 2 a minute
  const owner = await device(relay, t, 'alice', 1);
  const thief = new RelayHttp(relay.url);
  thief.token = owner.token;
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    statuses.push((await thief.request('POST', '/v1/password', { oldPassword: `guess number ${i}`, newPassword: 'the thief password' })).status);
  }
  // The owner's login took one of the burst of 4.
  assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429]);
  // The guesses spent the account's login budget: a login is refused too, even with the right password.
  assert.equal((await new RelayHttp(relay.url).request('POST', '/v1/sessions', { username: 'alice', password: PASSWORD })).status, 429);
  // Nothing changed: the owner's socket and token still work.
  owner.ws.send({ type: 'ping' });
  await owner.ws.next('pong');
  assert.equal((await owner.http.request('GET', '/v1/keys/count')).status, 200);
});
