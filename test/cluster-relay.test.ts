// A relay of three nodes on one PostgreSQL database and one nats-server (test/util/cluster.ts),
// spoken to over real HTTP and WebSockets: what one node does, the others must see. Every user
// here connects to a different node than the one it writes to.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startCluster, type Cluster } from './util/cluster.js';
import { FASTCHAT_BIN } from './util/paths.js';
import { RelayHttp, RelayWs, makeBundle } from './util/relay-client.js';
import { RELAY_TEST_ARGS, waitFor, within } from './util/fault.js';
import { TEST_RELAY_ENV } from './util/relay-process.js';
import { concat, lp, toBase64url, u8, utf8 } from '../crypto/encoding.js';

const B = 'aGVsbG8'; // "hello", base64url

describe('a relay of three nodes', { timeout: 240_000 }, () => {
  let c: Cluster;
  // The periodic re-check is an hour: a socket closed within the test was closed by the bus.
  before(async () => {
    c = await startCluster(3, { args: [...RELAY_TEST_ARGS, '--auth-recheck-seconds', '3600'] });
  });
  after(() => c?.stop());

  const user = async (name: string, node: number, device = 1) => {
    const http = new RelayHttp(c.nodes[node]!.url);
    await http.signup(name, 'password123', device);
    const ws = await RelayWs.connect(c.nodes[node]!.wsUrl, http.token!);
    await ws.next('hello');
    await ws.next('drained');
    return { http, ws, node };
  };

  test('a message sent through one node reaches a device connected to another, live, and its ack deletes it there', async () => {
    const alice = await user('alice1', 0);
    const bob = await user('bob1', 1);
    const carol = await user('carol1', 2);
    try {
      assert.equal((await alice.ws.sendMessage('m1', [{ user: 'bob1', device: 1 }], B)).type, 'sent');
      const m = await bob.ws.next('message');
      assert.deepEqual([m.clientId, m.from], ['m1', { user: 'alice1', device: 1 }]);
      bob.ws.ack(m.id);
      // A group send through node 2 to devices on nodes 0 and 1: stored once, pushed to both.
      assert.equal((await carol.ws.sendMessage('g1', [{ user: 'alice1', device: 1 }, { user: 'bob1', device: 1 }], B)).type, 'sent');
      const [a, b] = await Promise.all([alice.ws.next('message'), bob.ws.next('message')]);
      assert.equal(a.clientId, 'g1');
      assert.equal(b.clientId, 'g1');
      alice.ws.ack(a.id);
      bob.ws.ack(b.id);
      await waitFor(async () => (await queueDepth(c).catch(() => -1)) === 0, 20_000, 'the acks on nodes 0 and 1 deleted every delivery');
    } finally {
      await Promise.all([alice.ws.terminate(), bob.ws.terminate(), carol.ws.terminate()]);
    }
  });

  test('a device that connects to a second node replaces its connection on the first (4002), and the newer one gets the queue', async () => {
    const dan = await user('dan1', 0);
    const erin = await user('erin1', 1);
    try {
      const token = dan.http.token!;
      const again = await RelayWs.connect(c.nodes[2]!.wsUrl, token);
      await again.next('hello');
      const closed = await within(dan.ws.closed, 10_000, 'the older connection on node 0 closes');
      assert.equal(closed.code, 4002);
      assert.equal((await erin.ws.sendMessage('d1', [{ user: 'dan1', device: 1 }], B)).type, 'sent');
      assert.equal((await again.next('message')).clientId, 'd1');
      await again.terminate();
    } finally {
      await Promise.all([dan.ws.terminate(), erin.ws.terminate()]);
    }
  });

  test('presence crosses nodes: a correspondent on another node sees a user come and go', async () => {
    const fay = await user('fay1', 0);
    const gus = await user('gus1', 1);
    try {
      // gus writes to fay: fay may now see gus.
      assert.equal((await gus.ws.sendMessage('p1', [{ user: 'fay1', device: 1 }], B)).type, 'sent');
      await fay.ws.next((f) => f.type === 'presence' && f.user === 'gus1' && f.online === true);
      const seen = await fay.http.request('GET', '/v1/presence');
      assert.deepEqual(seen.body.online, ['fay1', 'gus1']);
      await gus.ws.close();
      // Offline comes one grace (--presence-grace-ms, 5 s) after the close.
      await fay.ws.next((f) => f.type === 'presence' && f.user === 'gus1' && f.online === false, 30_000);
      const gusAgain = await RelayWs.connect(c.nodes[2]!.wsUrl, gus.http.token!);
      await fay.ws.next((f) => f.type === 'presence' && f.user === 'gus1' && f.online === true, 10_000);
      await gusAgain.terminate();
    } finally {
      await Promise.all([fay.ws.terminate(), gus.ws.terminate()]);
    }
  });

  test('a user who reconnects to another node, and whose device then moves to a third, sends its audience no presence frame; leaving is announced', async () => {
    const hal = await user('hal1', 0);
    const ivy = await user('ivy1', 1);
    const sockets = [hal.ws, ivy.ws];
    try {
      assert.equal((await ivy.ws.sendMessage('i1', [{ user: 'hal1', device: 1 }], B)).type, 'sent');
      await hal.ws.next((f) => f.type === 'presence' && f.user === 'ivy1' && f.online === true);
      // ivy's socket on node 1 closes and she comes back on node 2, then her device opens a socket
      // on node 0, which replaces the one on node 2 (4002).
      await ivy.ws.close();
      const onTwo = await RelayWs.connect(c.nodes[2]!.wsUrl, ivy.http.token!);
      sockets.push(onTwo);
      await onTwo.next('hello');
      const onZero = await RelayWs.connect(c.nodes[0]!.wsUrl, ivy.http.token!);
      sockets.push(onZero);
      await onZero.next('hello');
      assert.equal((await within(onTwo.closed, 10_000, 'the socket on node 2 is replaced')).code, 4002);
      // The barrier: jon (node 2) writes to hal, and hal hears him come online. No frame about ivy
      // came before it.
      const jon = await user('jon1', 2);
      sockets.push(jon.ws);
      assert.equal((await jon.ws.sendMessage('j1', [{ user: 'hal1', device: 1 }], B)).type, 'sent');
      await hal.ws.next((f) => f.type === 'presence' && f.user === 'jon1', 10_000);
      assert.deepEqual(hal.ws.frames.filter((f) => f.type === 'presence'), [], 'a reconnect told hal something');
      // ivy leaves for good: offline, after the grace.
      await onZero.close();
      assert.deepEqual(await hal.ws.next('presence', 30_000), { type: 'presence', user: 'ivy1', online: false });
    } finally {
      await Promise.all(sockets.map((s) => s.terminate()));
    }
  });

  test('100 concurrent bundle fetches over the three nodes against 50 one-time prekeys hand out 50 distinct keys, never one twice', async () => {
    const hal = new RelayHttp(c.nodes[0]!.url);
    await hal.signup('hal1', 'password123');
    const bundle = await makeBundle({ oneTimePreKeys: 50, firstId: 1 });
    assert.equal((await hal.putKeys(bundle.body)).status, 200);
    const fetchers: RelayHttp[] = [];
    for (let i = 0; i < 10; i++) {
      const f = new RelayHttp(c.nodes[i % 3]!.url);
      await f.signup(`fetch1_${i}`, 'password123');
      fetchers.push(f);
    }
    const results = await within(
      Promise.all(Array.from({ length: 100 }, (_, i) => {
        const f = fetchers[i % fetchers.length]!;
        // Each fetcher goes through every node in turn.
        const node = c.nodes[(i + Math.floor(i / fetchers.length)) % 3]!;
        return new RelayHttp(node.url).request('GET', '/v1/keys/hal1', undefined, { token: f.token! });
      })),
      60_000,
      '100 fetches',
    );
    const ids: number[] = [];
    for (const r of results) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const k = r.body.devices[0].oneTimePreKey;
      if (k) ids.push(k.id);
    }
    assert.equal(ids.length, 50, 'every key was handed out');
    assert.equal(new Set(ids).size, 50, `a key was handed out twice: ${ids.sort((a, b) => a - b).join(',')}`);
  });

  test("a password change on one node closes the account's sockets on the others at once", async () => {
    const ida = await user('ida1', 0);
    const other = await RelayWs.connect(c.nodes[2]!.wsUrl, await new RelayHttp(c.nodes[2]!.url).login('ida1', 'password123', 2));
    await other.next('hello');
    try {
      const changed = await ida.http.request('POST', '/v1/password', { oldPassword: 'password123', newPassword: 'password456' });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      const [a, b] = await within(Promise.all([ida.ws.closed, other.closed]), 10_000, 'both sockets close (the re-check is an hour away)');
      assert.equal(a.code, 4001);
      assert.equal(b.code, 4001);
    } finally {
      await Promise.all([ida.ws.terminate(), other.terminate()]);
    }
  });

  test("a ban made with `relay users ban --bus` closes the account's sockets on every node at once", async () => {
    const jo = await user('jo1', 1);
    const jo2 = await RelayWs.connect(c.nodes[2]!.wsUrl, await new RelayHttp(c.nodes[2]!.url).login('jo1', 'password123', 2));
    await jo2.next('hello');
    try {
      const r = spawnSync(process.execPath, [FASTCHAT_BIN, 'relay', 'users', 'ban', 'jo1', '--store', c.store, '--bus', c.nats.url, '--json'], { encoding: 'utf8', env: { ...process.env, ...TEST_RELAY_ENV } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).banned, true);
      const [a, b] = await within(Promise.all([jo.ws.closed, jo2.closed]), 10_000, 'both sockets close (the re-check is an hour away)');
      assert.equal(a.code, 1008);
      assert.equal(b.code, 1008);
      assert.equal((await new RelayHttp(c.nodes[0]!.url).request('POST', '/v1/sessions', { username: 'jo1', password: 'password123' })).body.error.code, 'banned');
    } finally {
      await Promise.all([jo.ws.terminate(), jo2.terminate()]);
    }
  });

  test('linking a device across three nodes: the channel opened on one is answered once on another and taken on a third; the ticket from one logs in on another, once', async () => {
    const owner = new RelayHttp(c.nodes[1]!.url);
    await owner.signup('linker', 'password123');
    const node = (i: number) => new RelayHttp(c.nodes[i]!.url);
    const request = toBase64url(concat(u8(1), u8(0x52), lp(utf8('linker')), new Uint8Array(200).fill(3)));
    const opened = await node(0).request('POST', '/v1/link', { channel: 'kx7p2m', request });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    assert.equal((await node(2).request('POST', '/v1/link', { channel: 'kx7p2m', request })).body.error.code, 'link_conflict');
    assert.deepEqual((await owner.request('GET', '/v1/link/kx7p2m')).body, { request });
    // Two answers at once through two nodes: exactly one is stored.
    const answers = await Promise.all([1, 2].map((i) => node(i).request('PUT', '/v1/link/kx7p2m', { message: `bWVzc2FnZS0${i}` }, { token: owner.token! })));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409]);
    // Taken on two nodes at once (a new device asking again after a lost reply): the one stored answer on both.
    const stored = `bWVzc2FnZS0${answers.findIndex((a) => a.status === 200) + 1}`;
    const takes = await Promise.all([0, 2].map((i) => node(i).request('POST', '/v1/link/kx7p2m/take', { secret: opened.body.secret })));
    assert.deepEqual(takes.map((x) => [x.status, x.body.message]), [[200, stored], [200, stored]], 'the stored answer, on every node, until it expires');
    assert.equal((await node(1).request('POST', '/v1/link/kx7p2m/take', { secret: 'A'.repeat(43) })).body.error.code, 'link_not_found', 'not for another secret');
    const ticket = (await node(2).request('POST', '/v1/devices/tickets', undefined, { token: owner.token! })).body;
    assert.equal(ticket.device, 2);
    const redeems = await Promise.all([0, 1].map((i) => node(i).request('POST', '/v1/sessions/ticket', { ticket: ticket.ticket })));
    assert.deepEqual(redeems.map((x) => x.status).sort(), [200, 401], 'redeemed once across nodes');
    assert.deepEqual(redeems.find((x) => x.status === 200)!.body.deviceId, 2);
    // A new device that lost its redeem's reply asks again with the same session, here on two nodes
    // at once: the same login on both; another session gets nothing from the same ticket.
    const next = (await node(0).request('POST', '/v1/devices/tickets', undefined, { token: owner.token! })).body;
    const session = 'Q'.repeat(43);
    const again = await Promise.all([1, 2].map((i) => node(i).request('POST', '/v1/sessions/ticket', { ticket: next.ticket, session })));
    assert.deepEqual(again.map((x) => x.status), [200, 200], JSON.stringify(again.map((x) => x.body)));
    assert.deepEqual(again[0]!.body, again[1]!.body);
    assert.deepEqual([again[0]!.body.token, again[0]!.body.deviceId], [session, next.device]);
    assert.equal((await node(0).request('POST', '/v1/sessions/ticket', { ticket: next.ticket, session: 'R'.repeat(43) })).body.error.code, 'bad_ticket');
  });

  test('/healthz names the store and the bus and says 503 while the bus is down', async () => {
    const h = await (await fetch(`${c.nodes[0]!.url}/healthz`)).json() as any;
    assert.deepEqual([h.ok, h.store, h.bus], [true, { engine: 'postgres', up: true }, { kind: 'nats', up: true }]);
    await c.nats.kill();
    try {
      await waitFor(async () => (await fetch(`${c.nodes[0]!.url}/healthz`)).status === 503, 20_000, 'healthz says 503 without NATS');
      const down = await (await fetch(`${c.nodes[0]!.url}/healthz`)).json() as any;
      assert.deepEqual(down.bus, { kind: 'nats', up: false });
    } finally {
      await c.nats.restart();
    }
    await waitFor(async () => (await fetch(`${c.nodes[0]!.url}/healthz`)).status === 200, 30_000, 'healthz is 200 again once NATS is back');
  });
});

async function queueDepth(c: Cluster): Promise<number> {
  const text = await (await fetch(`${c.nodes[0]!.url}/metrics`)).text();
  return Number(/^fastchat_queue_depth (\d+)$/m.exec(text)?.[1] ?? NaN);
}

describe('limits shared by the nodes of a relay', { timeout: 120_000 }, () => {
  let c: Cluster;
  before(async () => {
    // Per account: burst 4 (twice the per-minute 2); per requester and target: 3; 2 devices.
    c = await startCluster(3, { args: ['--rate-limit-address', '1000', '--rate-limit-account', '2', '--rate-limit-bundles-per-target', '3', '--max-devices', '2'] });
  });
  after(() => c?.stop());

  test('password guesses spread over three nodes share one per-account limit', async () => {
    await new RelayHttp(c.nodes[0]!.url).register('kim1', 'password123');
    const codes: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await new RelayHttp(c.nodes[i % 3]!.url).request('POST', '/v1/sessions', { username: 'kim1', password: `guess${i}xyz` });
      codes.push(r.body.error.code);
    }
    // register took one token of its own bucket (register:kim1), not of login:kim1.
    assert.deepEqual(codes, ['bad_credentials', 'bad_credentials', 'bad_credentials', 'bad_credentials', 'rate_limited', 'rate_limited', 'rate_limited']);
  });

  test('bundle fetches of one target spread over three nodes share one per-target limit', async () => {
    const lee = new RelayHttp(c.nodes[0]!.url);
    await lee.signup('lee1', 'password123');
    assert.equal((await lee.putKeys((await makeBundle({ oneTimePreKeys: 10 })).body)).status, 200);
    const max = new RelayHttp(c.nodes[1]!.url);
    await max.signup('max1', 'password123');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await new RelayHttp(c.nodes[i % 3]!.url).request('GET', '/v1/keys/lee1', undefined, { token: max.token! })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
    assert.equal((await lee.request('GET', '/v1/keys/count')).body.oneTimePreKeys, 7, 'the refused fetches handed nothing out');
  });

  test('logins of new devices on three nodes at once cannot pass the device cap together', async () => {
    await new RelayHttp(c.nodes[0]!.url).register('ned1', 'password123');
    const tries = await Promise.all([1, 2, 3, 4, 5, 6].map((d) => new RelayHttp(c.nodes[d % 3]!.url).request('POST', '/v1/sessions', { username: 'ned1', password: 'password123', deviceId: d })));
    const ok = tries.filter((r) => r.status === 200).length;
    assert.equal(ok, 2, tries.map((r) => r.body.error?.code ?? 'ok').join(','));
    assert.ok(tries.every((r) => r.status === 200 || r.body.error.code === 'too_many_devices' || r.body.error.code === 'rate_limited'));
  });
});
