// Linking channels and device tickets on a real relay process (docs/RELAY.md "Linking"): the
// relay side of `fastchat device link` / `device approve`, with opaque payloads. What the relay
// promises: a channel is seen and answered only by the account its request names, answered once,
// read by the holder of its secret (as often as it asks) until it expires, and then gone; a ticket logs in exactly the
// device it was bound to, once, before it expires.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concat, lp, toBase64url, u8, utf8 } from '../crypto/encoding.js';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp } from './util/relay-client.js';
import { RELAY_TEST_ARGS } from './util/fault.js';
import { until } from './util/until.js';

/** A stand-in link request: the relay reads its header and user only (D.9). */
const request = (user: string) => toBase64url(concat(u8(1), u8(0x52), lp(utf8(user)), new Uint8Array(200).fill(1)));
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

test('a channel is read and answered only by its account, answered once and taken with its secret until it expires; a ticket logs in the next device once', { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: RELAY_TEST_ARGS });
  t.after(() => relay.stop());
  const alice = new RelayHttp(relay.url);
  await alice.signup('alice');
  const bob = new RelayHttp(relay.url);
  await bob.signup('bob');
  const anon = new RelayHttp(relay.url);

  const opened = await anon.request('POST', '/v1/link', { channel: 'ab12cd', request: request('alice') });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  assert.match(opened.body.secret, SECRET_RE);
  const secret = opened.body.secret as string;
  assert.equal((await anon.request('POST', '/v1/link', { channel: 'AB12CD', request: request('alice') })).body.error.code, 'link_conflict', 'a live channel name is not taken over');
  assert.equal((await anon.request('POST', '/v1/link', { channel: 'zz99zz', request: request('nobody') })).body.error.code, 'unknown_user');
  assert.equal((await anon.request('POST', '/v1/link', { channel: 'ab12c', request: request('alice') })).body.error.code, 'bad_request');
  assert.equal((await anon.request('POST', '/v1/link', { channel: 'zz99zz', request: toBase64url(new Uint8Array(40)) })).body.error.code, 'bad_request');

  assert.equal((await anon.request('GET', '/v1/link/ab12cd')).status, 401);
  assert.equal((await bob.request('GET', '/v1/link/ab12cd')).body.error.code, 'link_not_found', "a stranger account does not see alice's request");
  assert.equal((await bob.request('PUT', '/v1/link/ab12cd', { message: 'AAAA' })).body.error.code, 'link_not_found', 'nor answer it');
  assert.deepEqual((await alice.request('GET', '/v1/link/ab12cd')).body, { request: request('alice') });

  const take = (s = secret) => anon.request('POST', '/v1/link/ab12cd/take', { secret: s });
  assert.deepEqual([(await take()).status, (await take()).body], [202, { waiting: true }]);
  assert.deepEqual((await alice.request('PUT', '/v1/link/ab12cd', { message: 'c2VhbGVk' })).body, { stored: true });
  assert.equal((await alice.request('PUT', '/v1/link/ab12cd', { message: 'b3RoZXI' })).body.error.code, 'link_conflict', 'a replayed approve is refused');
  assert.equal((await alice.request('GET', '/v1/link/ab12cd')).body.error.code, 'link_conflict', 'a second approve is told so before it asks for a ticket');
  assert.equal((await take('A'.repeat(43))).body.error.code, 'link_not_found', 'another secret takes nothing');
  assert.deepEqual((await alice.request('PUT', '/v1/link/ab12cd', { message: 'c2VhbGVk' })).body, { stored: true }, 'the same answer again (an approver that lost the reply) stands');
  assert.deepEqual((await take()).body, { message: 'c2VhbGVk' });
  assert.deepEqual((await take()).body, { message: 'c2VhbGVk' }, 'a new device that lost the reply takes it again');
  assert.equal((await take('A'.repeat(43))).body.error.code, 'link_not_found', 'another secret still takes nothing');
  assert.equal((await alice.request('PUT', '/v1/link/ab12cd', { message: 'b3RoZXI' })).body.error.code, 'link_conflict', 'the code is spent');

  const issued = await alice.request('POST', '/v1/devices/tickets');
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  assert.equal(issued.body.device, 2);
  assert.equal((await anon.request('POST', '/v1/devices/tickets')).status, 401);
  const redeemed = await anon.request('POST', '/v1/sessions/ticket', { ticket: issued.body.ticket });
  assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
  assert.deepEqual([redeemed.body.username, redeemed.body.deviceId], ['alice', 2]);
  const device2 = new RelayHttp(relay.url);
  device2.token = redeemed.body.token;
  assert.equal((await device2.request('GET', '/v1/devices/alice')).status, 200, 'the new token works');
  assert.equal((await anon.request('POST', '/v1/sessions/ticket', { ticket: issued.body.ticket })).body.error.code, 'bad_ticket', 'a ticket is redeemed once');
  assert.equal((await anon.request('POST', '/v1/sessions/ticket', { ticket: 'B'.repeat(43) })).body.error.code, 'bad_ticket');
  assert.equal((await alice.request('POST', '/v1/devices/tickets')).body.device, 3, 'the next ticket takes the next id');
});

test('a channel and a ticket are refused once --link-ttl-seconds has passed', { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--link-ttl-seconds', '1'] });
  t.after(() => relay.stop());
  const alice = new RelayHttp(relay.url);
  await alice.signup('alice');
  const anon = new RelayHttp(relay.url);
  // The ticket first: once the channel opened after it has expired, so has the ticket.
  const ticket = (await alice.request('POST', '/v1/devices/tickets')).body.ticket as string;
  const opened = await anon.request('POST', '/v1/link', { channel: 'ab12cd', request: request('alice') });
  assert.equal((await alice.request('GET', '/v1/link/ab12cd')).status, 200);
  assert.deepEqual((await alice.request('PUT', '/v1/link/ab12cd', { message: 'c2VhbGVk' })).body, { stored: true });
  assert.deepEqual((await anon.request('POST', '/v1/link/ab12cd/take', { secret: opened.body.secret })).body, { message: 'c2VhbGVk' });
  // Bounded wait for the channel to expire (the relay's clock, 1 s).
  await until(async () => (await alice.request('GET', '/v1/link/ab12cd')).status === 404, 'the channel to expire', { timeoutMs: 20_000, everyMs: 200 });
  assert.equal((await alice.request('PUT', '/v1/link/ab12cd', { message: 'AAAA' })).body.error.code, 'link_not_found');
  assert.equal((await anon.request('POST', '/v1/link/ab12cd/take', { secret: opened.body.secret })).body.error.code, 'link_not_found', 'a taken message is gone with its channel');
  assert.equal((await anon.request('POST', '/v1/sessions/ticket', { ticket })).body.error.code, 'bad_ticket', 'an expired ticket logs nobody in');
});

test('a ticket redeemed with a session the new device drew answers that session again with the same login until the ticket expires, and no other session', { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--link-ttl-seconds', '3'] });
  t.after(() => relay.stop());
  const alice = new RelayHttp(relay.url);
  await alice.signup('alice');
  const anon = new RelayHttp(relay.url);
  const ticket = (await alice.request('POST', '/v1/devices/tickets')).body.ticket as string;
  const session = 'S'.repeat(42) + 'A';
  const redeem = (s?: string) => anon.request('POST', '/v1/sessions/ticket', s === undefined ? { ticket } : { ticket, session: s });
  assert.equal((await redeem('short')).body.error.code, 'bad_request', 'a session is a 43-character token');
  const first = await redeem(session);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.deepEqual([first.body.token, first.body.username, first.body.deviceId], [session, 'alice', 2]);
  // The reply was lost (the laptop slept): the same pair again is the same login, not a second device.
  assert.deepEqual((await redeem(session)).body, first.body);
  assert.equal((await redeem('T'.repeat(43))).body.error.code, 'bad_ticket', 'another session does not log in with a redeemed ticket');
  assert.equal((await redeem()).body.error.code, 'bad_ticket', 'nor does an older client without a session');
  const device2 = new RelayHttp(relay.url);
  device2.token = session;
  assert.equal((await device2.request('GET', '/v1/devices/alice')).status, 200, 'the session works');
  assert.equal((await alice.request('POST', '/v1/devices/tickets')).body.device, 3, 'the next ticket takes the next id');
  // Bounded wait until the ticket would have expired (the relay's clock, 3 s): then the same pair is refused too.
  await until(async () => (await redeem(session)).body.error?.code === 'bad_ticket', 'a redeemed ticket to be answered again only until it expires', { timeoutMs: 20_000 });
  assert.equal((await device2.request('GET', '/v1/devices/alice')).status, 200, 'the session outlives its ticket');
});
