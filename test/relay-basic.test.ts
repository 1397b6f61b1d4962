// The real relay process end to end: register, login, publish and fetch keys, then a message
// sent over one socket is delivered over another, acknowledged, redelivered after a reconnect
// when it was not acknowledged, and gone once it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs, makeBundle } from './util/relay-client.js';

test('a real relay process registers, logs in, serves keys and delivers, redelivers and deletes a message', async (t) => {
  const relay = await startRelayProcess();
  t.after(() => relay.stop());
  assert.match(relay.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(relay.stdout.filter((l) => l.startsWith('fastchat relay listening on ')).length, 1);

  const alice = new RelayHttp(relay.url);
  const bob = new RelayHttp(relay.url);
  assert.equal((await alice.register('Alice', 'password-alice')).status, 201);
  assert.equal((await alice.register('alice', 'password-other')).status, 409);
  await alice.login('alice', 'password-alice');
  await bob.signup('bob', 'password-bob');

  const keys = await makeBundle({ oneTimePreKeys: 2 });
  assert.deepEqual((await bob.putKeys(keys.body)).body, { oneTimePreKeys: 2 });
  const fetched = await alice.fetchKeys('bob');
  assert.equal(fetched.status, 200);
  assert.equal(fetched.body.devices[0].oneTimePreKey.id, 1);

  const wa = await RelayWs.connect(relay.wsUrl, alice.token);
  t.after(() => wa.terminate());
  assert.deepEqual(await wa.next('hello'), { type: 'hello', user: 'alice', device: 1, oneTimePreKeys: 0, queued: 0, maxAcks: 1000 });
  await wa.next('drained');

  const sent = await wa.sendMessage('c1', [{ user: 'bob', device: 1 }], 'Y2lwaGVydGV4dA');
  assert.equal(sent.type, 'sent');
  assert.ok(Date.parse(sent.storedAt) > 0);
  // Resubmitting the same client id is a no-op with the same ack.
  assert.deepEqual(await wa.sendMessage('c1', [{ user: 'bob', device: 1 }], 'Y2lwaGVydGV4dA'), sent);

  // Bob connects, gets the message but does not ack it.
  const wb1 = await RelayWs.connect(relay.wsUrl, bob.token);
  assert.equal((await wb1.next('hello')).oneTimePreKeys, 1);
  const m1 = await wb1.next('message');
  assert.deepEqual({ ...m1, id: undefined, sentAt: undefined }, { type: 'message', id: undefined, clientId: 'c1', from: { user: 'alice', device: 1 }, body: 'Y2lwaGVydGV4dA', sentAt: undefined });
  assert.equal(m1.sentAt, sent.storedAt);
  await wb1.next('drained');
  // Presence: alice sees bob once bob has written to her (docs/THREAT_MODEL.md "Presence").
  await wb1.sendMessage('b1', [{ user: 'alice', device: 1 }], 'aGk');
  assert.deepEqual(await wa.next('presence'), { type: 'presence', user: 'bob', online: true });
  await wb1.terminate();
  // Offline comes one --presence-grace-ms (5 s) after the close, as bob did not come back.
  assert.deepEqual(await wa.next('presence', 30_000), { type: 'presence', user: 'bob', online: false });

  // Reconnect: the unacknowledged message comes again; this time it is acked.
  const wb2 = await RelayWs.connect(relay.wsUrl, bob.token);
  await wb2.next('hello');
  const m2 = await wb2.next('message');
  assert.equal(m2.id, m1.id);
  wb2.ack(m2.id);
  await wb2.next('drained');
  // A live message arrives after drained.
  await wa.sendMessage('c2', [{ user: 'bob', device: 1 }], 'bGl2ZQ');
  const live = await wb2.next('message');
  assert.equal(live.clientId, 'c2');
  wb2.ack(live.id);
  wb2.send({ type: 'ping' });
  await wb2.next('pong'); // frames are handled in order, so both acks are queued for commit by now
  await wb2.close();

  const wb3 = await RelayWs.connect(relay.wsUrl, bob.token);
  t.after(() => wb3.terminate());
  await wb3.next('hello');
  await wb3.next('drained');
  assert.equal(wb3.frames.filter((f) => f.type === 'message').length, 0);

  const stopped = await relay.stop();
  assert.equal(stopped.code, 0);
  assert.equal((await wb3.closed).code, 1001);
});

test('a second connection of the same device replaces the first, which is closed with 4002', async (t) => {
  const relay = await startRelayProcess();
  t.after(() => relay.stop());
  const c = new RelayHttp(relay.url);
  await c.signup('carol');
  const first = await RelayWs.connect(relay.wsUrl, c.token);
  await first.next('hello');
  const second = await RelayWs.connect(relay.wsUrl, c.token);
  await second.next('hello');
  assert.equal((await first.closed).code, 4002);
  second.send({ type: 'ping' });
  assert.equal((await second.next('pong')).type, 'pong');
  await second.close();
});

test('a WebSocket without a valid token is closed with 4001 after an unauthorized error frame', async (t) => {
  const relay = await startRelayProcess();
  t.after(() => relay.stop());
  const ws = await RelayWs.connect(relay.wsUrl, 'A'.repeat(43));
  const err = await ws.next('error');
  assert.equal(err.code, 'unauthorized');
  assert.equal((await ws.closed).code, 4001);
});
