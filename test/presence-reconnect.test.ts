// Presence across reconnects, against a real relay process at its default grace
// (--presence-grace-ms 5000, docs/RELAY.md "Presence"): a reconnect that replaces a socket sends
// the user's audience no presence frame at all, and a user who really leaves is announced offline.
//
// No assertion here waits on a duration: every check is on the order of frames on the viewer's
// one socket (a later presence change, of another user, is the barrier).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RelayHttp, RelayWs } from './util/relay-client.js';
import { startRelayProcess, waitForSockets } from './util/relay-process.js';
import { RELAY_TEST_ARGS } from './util/fault.js';

const B = 'aGVsbG8';

test('a reconnect sends the audience no presence frame; leaving for good is announced offline', { timeout: 120_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--log-level', 'warn'] });
  t.after(() => relay.stop());
  const sockets: RelayWs[] = [];
  t.after(() => Promise.all(sockets.map((s) => s.terminate())));
  const open = async (token: string): Promise<RelayWs> => {
    const ws = await RelayWs.connect(relay.wsUrl, token);
    sockets.push(ws);
    await ws.next('hello');
    return ws;
  };
  const alice = new RelayHttp(relay.url);
  await alice.signup('alice', 'password123', 1);
  const bob1 = new RelayHttp(relay.url);
  await bob1.signup('bob', 'password123', 1);
  const bob2 = new RelayHttp(relay.url);
  await bob2.login('bob', 'password123', 2);

  const viewer = await open(alice.token!);
  let bob = await open(bob1.token!);
  // bob writes to alice: alice may see him, and is told at once that he is online.
  assert.equal((await bob.sendMessage('m1', [{ user: 'alice', device: 1 }], B)).type, 'sent');
  assert.deepEqual(await viewer.next('presence'), { type: 'presence', user: 'bob', online: true });
  await waitForSockets(relay.url, 2);

  // 1. bob's only socket closes, the relay processes the close (its count drops), and he comes back.
  await bob.close();
  await waitForSockets(relay.url, 1);
  bob = await open(bob1.token!);
  // 2. The same device opens a second socket: it replaces the first (4002).
  const replacing = await open(bob1.token!);
  assert.equal((await bob.closed).code, 4002);
  bob = replacing;
  // 3. Another device of bob's comes and goes while the first stays.
  const other = await open(bob2.token!);
  await waitForSockets(relay.url, 3);
  await other.close();
  await waitForSockets(relay.url, 2);

  // A barrier: carol writes to alice, and alice hears carol come online. Every frame the steps
  // above caused was sent before it, on the same socket: none of them is about bob.
  const carol = new RelayHttp(relay.url);
  await carol.signup('carol', 'password123', 1);
  const carolWs = await open(carol.token!);
  assert.equal((await carolWs.sendMessage('c1', [{ user: 'alice', device: 1 }], B)).type, 'sent');
  await viewer.next((f) => f.type === 'presence' && f.user === 'carol');
  assert.deepEqual(viewer.frames.filter((f) => f.type === 'presence'), [], 'a reconnect told alice something');

  // bob leaves for good: alice's next presence frame is that he is offline.
  await bob.close();
  assert.deepEqual(await viewer.next('presence', 60_000), { type: 'presence', user: 'bob', online: false });
  assert.deepEqual((await alice.request('GET', '/v1/presence')).body.online, ['alice', 'carol']);
});
