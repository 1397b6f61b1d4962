// The WebSocket endpoint in-process (startRelay on 127.0.0.1:0 with an in-memory database).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { startRelay } from '../server.js';
import { createLogger } from '../log.js';
import type { RelayOptions } from '../config.js';
import type { Hub } from './hub.js';
import { RelayHttp, RelayWs, makeBundle } from '../../test/util/relay-client.js';
import { MAX_ACKS } from '../schemas.js';

async function relay(t: TestContext, opts: RelayOptions = {}) {
  const r = await startRelay({ port: 0, db: ':memory:', argon2MemoryKiB: 256, argon2Time: 1, logLevel: 'silent', ...opts });
  t.after(() => r.close());
  const wsUrl = `${r.url.replace('http', 'ws')}/v1/ws`;
  const user = async (name: string, device = 1) => {
    const h = new RelayHttp(r.url);
    await h.signup(name, 'password123', device);
    const ws = await RelayWs.connect(wsUrl, h.token);
    t.after(() => ws.terminate());
    await ws.next('hello');
    await ws.next('drained');
    return { http: h, ws };
  };
  return { r, wsUrl, user };
}

test('malformed JSON gets a bad_request error frame and close 1007; the relay keeps serving', async (t) => {
  const { user } = await relay(t);
  const a = await user('alice');
  a.ws.sendRaw('{"type":');
  assert.equal((await a.ws.next('error')).code, 'bad_request');
  assert.equal((await a.ws.closed).code, 1007);
  const b = await user('bob');
  b.ws.send({ type: 'ping' });
  await b.ws.next('pong');
});

test('binary frames are refused like malformed JSON (1007)', async (t) => {
  const { user } = await relay(t);
  const a = await user('alice');
  a.ws.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await a.ws.closed).code, 1007);
});

test('unknown types and wrong field types get bad_request frames, and repeated ones close with 1008', async (t) => {
  const { user } = await relay(t, { wsMaxBadFrames: 3 });
  const a = await user('alice');
  a.ws.send({ type: 'nope' });
  assert.equal((await a.ws.next('error')).code, 'bad_request');
  a.ws.send({ type: 'send', id: 'x1', to: 'bob', body: 'aGk' });
  const e = await a.ws.next('error');
  assert.equal(e.code, 'bad_request');
  assert.equal(e.id, 'x1');
  a.ws.send({ type: 'ping' });
  await a.ws.next('pong');
  a.ws.send({ type: 'ack', id: 5 });
  await a.ws.next('error');
  assert.equal((await a.ws.closed).code, 1008);
});

test('a frame over maxFrameBytes closes the socket with 1009', async (t) => {
  const { user } = await relay(t, { maxFrameBytes: 4096 });
  const a = await user('alice');
  a.ws.sendRaw('x'.repeat(5000));
  assert.equal((await a.ws.closed).code, 1009);
});

test('a sender cannot choose who a message is from: a from field is refused and delivery uses the connection', async (t) => {
  const { user } = await relay(t);
  const a = await user('alice');
  const b = await user('bob');
  a.ws.send({ type: 'send', id: 's1', from: { user: 'bob', device: 1 }, to: [{ user: 'bob', device: 1 }], body: 'aGk' });
  assert.equal((await a.ws.next('error')).id, 's1');
  assert.equal((await a.ws.sendMessage('s2', [{ user: 'bob', device: 1 }], 'aGk')).type, 'sent');
  const m = await b.ws.next('message');
  assert.deepEqual(m.from, { user: 'alice', device: 1 });
});

test('unknown recipients, oversized bodies and full queues are refused to the sender with typed errors', async (t) => {
  const { user } = await relay(t, { queueMaxMessages: 2, maxMessageBytes: 100 });
  const a = await user('alice');
  await user('bob');
  assert.equal((await a.ws.sendMessage('u1', [{ user: 'ghost', device: 1 }], 'aGk')).code, 'unknown_user');
  assert.equal((await a.ws.sendMessage('u2', [{ user: 'bob', device: 7 }], 'aGk')).code, 'unknown_device');
  assert.equal((await a.ws.sendMessage('u3', [{ user: 'bob', device: 1 }], 'A'.repeat(200))).code, 'payload_too_large');
  assert.equal((await a.ws.sendMessage('u4', [{ user: 'bob', device: 1 }], 'not base64!')).code, 'bad_request');
  // bob is connected but never acks: his queue fills.
  assert.equal((await a.ws.sendMessage('q1', [{ user: 'bob', device: 1 }], 'aGk')).type, 'sent');
  assert.equal((await a.ws.sendMessage('q2', [{ user: 'bob', device: 1 }], 'aGk')).type, 'sent');
  const full = await a.ws.sendMessage('q3', [{ user: 'bob', device: 1 }], 'aGk');
  assert.equal(full.type, 'error');
  assert.equal(full.code, 'queue_full');
});

test('a group send is stored once, pushed to every recipient device, and one ack removes only that copy', async (t) => {
  const { r, user } = await relay(t);
  const a = await user('alice');
  const b1 = await user('bob', 1);
  const b2 = await user('bob', 2);
  const c = await user('carol');
  await a.ws.sendMessage('g1', [{ user: 'bob', device: 1 }, { user: 'bob', device: 2 }, { user: 'carol', device: 1 }], 'Z3JvdXA');
  const got = await Promise.all([b1.ws.next('message'), b2.ws.next('message'), c.ws.next('message')]);
  assert.deepEqual(got.map((m) => m.body), ['Z3JvdXA', 'Z3JvdXA', 'Z3JvdXA']);
  b1.ws.ack(got[0]!.id);
  b1.ws.send({ type: 'ping' });
  await b1.ws.next('pong');
  // Frames are handled in order, so the ack is taken; an ack-only turn's commit waits up to
  // ackCommitDelayMs (delivery/submitter.ts): commit it now.
  await r.ctx.submitter.commitAcks();
  assert.equal(await r.ctx.store.queueDepth(), 2);
});

test('a device that acked and reconnects at once is not pushed what it acked, though the ack still waited for its commit', async (t) => {
  // A delay no test waits out: only the new connection's start can commit the ack.
  const { r, wsUrl, user } = await relay(t, { ackCommitDelayMs: 60_000 });
  const a = await user('alice');
  const b = await user('bob');
  await a.ws.sendMessage('m1', [{ user: 'bob', device: 1 }], 'aGk');
  b.ws.ack((await b.ws.next('message')).id);
  b.ws.send({ type: 'ping' });
  await b.ws.next('pong');
  assert.equal(await r.ctx.store.queueDepth(), 1, 'the ack waits for its commit');
  await b.ws.close();
  const again = await RelayWs.connect(wsUrl, b.http.token);
  t.after(() => again.terminate());
  assert.equal((await again.next('hello')).queued, 0);
  await again.next('drained');
  assert.equal(again.frames.filter((f) => f.type === 'message').length, 0);
});

test('one acks frame removes every copy it names, only of its own device; hello says how many it may name', async (t) => {
  const { r, wsUrl, user } = await relay(t);
  const a = await user('alice');
  const h = new RelayHttp(r.url);
  await h.signup('bob', 'password123', 1);
  const b = await RelayWs.connect(wsUrl, h.token);
  t.after(() => b.terminate());
  const hello = await b.next('hello');
  assert.equal(hello.maxAcks, MAX_ACKS);
  await b.next('drained');
  const c = await user('carol');
  for (const id of ['m1', 'm2', 'm3']) await a.ws.sendMessage(id, [{ user: 'bob', device: 1 }, { user: 'carol', device: 1 }], 'aGk');
  const bobs = [await b.next('message'), await b.next('message'), await b.next('message')];
  const carols = [await c.ws.next('message'), await c.ws.next('message'), await c.ws.next('message')];
  const settle = async (ws: RelayWs): Promise<void> => {
    ws.send({ type: 'ping' });
    await ws.next('pong');
    await r.ctx.submitter.commitAcks(); // the acks are taken; their commit may wait (delivery/submitter.ts)
  };
  // carol naming bob's copies (and an id nobody has) removes nothing of bob's.
  c.ws.send({ type: 'acks', ids: [bobs[0]!.id, bobs[1]!.id, '999999'] });
  await settle(c.ws);
  assert.equal(await r.ctx.store.queueDepth(), 6);
  b.send({ type: 'acks', ids: [bobs[0]!.id, bobs[2]!.id, bobs[0]!.id] });
  await settle(b);
  assert.equal(await r.ctx.store.queueDepth(), 4);
  assert.equal(await r.ctx.store.queuedFor({ user: 'bob', device: 1 }), 1);
  c.ws.send({ type: 'acks', ids: carols.map((m) => m.id) });
  await settle(c.ws);
  assert.equal(await r.ctx.store.queueDepth(), 1);
  // Over the limit: refused as a bad frame, nothing removed.
  b.send({ type: 'acks', ids: [bobs[1]!.id, ...Array.from({ length: MAX_ACKS }, (_, i) => String(i + 10_000))] });
  assert.equal((await b.next('error')).code, 'bad_request');
  await settle(b);
  assert.equal(await r.ctx.store.queueDepth(), 1);
});

test('sends prekeys_low to a connected device when a fetch leaves it below the threshold', async (t) => {
  const { user } = await relay(t, { preKeysLowThreshold: 5 });
  const b = await user('bob');
  await b.http.putKeys((await makeBundle({ oneTimePreKeys: 5 })).body);
  const a = await user('alice');
  await a.http.fetchKeys('bob');
  assert.deepEqual(await b.ws.next('prekeys_low'), { type: 'prekeys_low', oneTimePreKeys: 4 });
});

test('a slow reader never makes the relay buffer more than the high-water mark plus one frame, and still gets everything in order', async (t) => {
  const hw = 64 * 1024;
  const { r, user } = await relay(t, { wsHighWaterBytes: hw });
  const a = await user('alice');
  const b = await user('bob');
  const sock = (b.ws.ws as any)._socket;
  sock.pause();
  const body = Buffer.alloc(40_000, 7).toString('base64url');
  const n = 200;
  for (let i = 0; i < n; i++) a.ws.send({ type: 'send', id: `bp${i}`, to: [{ user: 'bob', device: 1 }], body });
  await a.ws.next((f) => f.type === 'sent' && f.id === `bp${n - 1}`, 20_000);
  const hub = r.ctx.presence as Hub;
  const server = hub.all().find((c) => c.addr.user === 'bob')!;
  let max = 0;
  for (let i = 0; i < 20; i++) {
    max = Math.max(max, server.ws.bufferedAmount);
    await new Promise((res) => setTimeout(res, 10));
  }
  assert.ok(max <= hw + 60_000, `buffered ${max}`);
  // The pump really was paused by the reader (not merely fast enough to never buffer).
  assert.ok(max > 0 && (server as any).drainTimer !== null, `buffered ${max}`);
  sock.resume();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await b.ws.next('message', 20_000)).clientId);
  assert.deepEqual(ids, Array.from({ length: n }, (_, i) => `bp${i}`));
});

test('presence: a user is seen only by the users it has sent a message to; a stranger sees nothing', async (t) => {
  // No grace: bob's leaving and coming back below are each announced (test/presence-reconnect.test.ts has the grace).
  const { user } = await relay(t, { presenceGraceMs: 0 });
  const a = await user('alice');
  const b = await user('bob');
  const s = await user('stranger');
  const online = async (u: typeof a) => (await u.http.request('GET', '/v1/presence')).body.online;
  // Nobody has written to anybody yet: each sees only itself.
  assert.deepEqual([await online(a), await online(b), await online(s)], [['alice'], ['bob'], ['stranger']]);
  // bob writes to alice: alice hears at once that bob is online, and lists him.
  b.ws.send({ type: 'send', id: 'm1', to: [{ user: 'alice', device: 1 }], body: 'AAAA' });
  assert.deepEqual(await a.ws.next('presence'), { type: 'presence', user: 'bob', online: true });
  assert.deepEqual(await online(a), ['alice', 'bob']);
  assert.deepEqual(await online(b), ['bob'], 'alice never wrote to bob');
  // The stranger writing to alice shows the stranger to alice, not alice to the stranger.
  s.ws.send({ type: 'send', id: 's1', to: [{ user: 'alice', device: 1 }], body: 'AAAA' });
  assert.deepEqual(await a.ws.next('presence'), { type: 'presence', user: 'stranger', online: true });
  assert.deepEqual(await online(s), ['stranger']);
  await b.ws.close();
  assert.deepEqual(await a.ws.next('presence'), { type: 'presence', user: 'bob', online: false });
  const late = await user('bob');
  assert.deepEqual(await a.ws.next('presence'), { type: 'presence', user: 'bob', online: true });
  await late.ws.close();
  // Every presence change above went out before this round trip: the stranger heard none of them.
  s.ws.send({ type: 'ping' });
  await s.ws.next('pong');
  assert.deepEqual(s.ws.frames.filter((f) => f.type === 'presence'), []);
});

test('a live socket is closed within seconds when its account is banned or its token revoked', async (t) => {
  const { r, user } = await relay(t);
  const a = await user('alice');
  const b = await user('bob');
  await r.ctx.store.setBanned('alice', Date.now());
  await b.http.request('DELETE', '/v1/sessions');
  assert.equal((await a.ws.closed).code, 1008);
  assert.equal((await b.ws.closed).code, 4001);
});

test('close() flushes accepted writes, closes sockets with 1001 and the sender got its ack', async (t) => {
  const r = await startRelay({ port: 0, db: ':memory:', argon2MemoryKiB: 256, argon2Time: 1, logLevel: 'silent' });
  const h = new RelayHttp(r.url);
  await h.signup('alice');
  const ws = await RelayWs.connect(`${r.url.replace('http', 'ws')}/v1/ws`, h.token);
  t.after(() => ws.terminate());
  await ws.next('drained');
  ws.send({ type: 'send', id: 'last', to: [{ user: 'alice', device: 1 }], body: 'aGk' });
  await new Promise((res) => setTimeout(res, 20));
  await r.close();
  assert.equal((await ws.closed).code, 1001);
  assert.ok(ws.frames.some((f) => f.type === 'sent' && f.id === 'last'));
});

test('a backlog larger than one read, then live sends while it drains, arrive once each and in send order', async (t) => {
  const { r, user } = await relay(t, { pushBatch: 16 });
  const a = await user('alice');
  const h = new RelayHttp(r.url);
  await h.signup('bob');
  const to = [{ user: 'bob', device: 1 }];
  for (let i = 0; i < 100; i++) a.ws.send({ type: 'send', id: `q${i}`, to, body: 'aGk' });
  await a.ws.next((f) => f.type === 'sent' && f.id === 'q99');
  const b = await RelayWs.connect(`${r.url.replace('http', 'ws')}/v1/ws`, h.token);
  t.after(() => b.terminate());
  // Live sends race the backlog pages; some are committed while bob is still behind, some after.
  const live = (async () => {
    for (let i = 100; i < 300; i++) {
      a.ws.send({ type: 'send', id: `q${i}`, to, body: 'aGk' });
      if (i % 20 === 0) await new Promise((res) => setImmediate(res));
    }
  })();
  const ids: string[] = [];
  while (ids.length < 300) {
    const m = await b.next('message');
    ids.push(m.clientId);
    if (ids.length % 3 === 0) b.ack(m.id);
  }
  await live;
  assert.deepEqual(ids, Array.from({ length: 300 }, (_, i) => `q${i}`));
  b.send({ type: 'ping' });
  await b.next('pong');
  assert.equal(b.frames.filter((f) => f.type === 'message').length, 0);
});

/**
 * Calls of `spy` grouped by the turn of the event loop they were made in, each with its time and
 * the connection (or token) it was for.
 */
function turns<K>(): { record: (key: K) => void; batches: { at: number; keys: K[] }[] } {
  const batches: { at: number; keys: K[] }[] = [];
  let open: { at: number; keys: K[] } | null = null;
  return {
    batches,
    record(key) {
      if (!open) {
        open = { at: Date.now(), keys: [] };
        batches.push(open);
        setImmediate(() => {
          open = null;
        });
      }
      open.keys.push(key);
    },
  };
}

/** Every key of `keys` was visited within `boundMs` of `from`, and again at most `boundMs` apart. */
function assertEachVisited(batches: { at: number; keys: string[] }[], keys: string[], from: number, until: number, boundMs: number): void {
  for (const k of keys) {
    const times = batches.filter((b) => b.keys.includes(k)).map((b) => b.at);
    assert.ok(times.length >= Math.floor((until - from) / boundMs), `${k} visited ${times.length} times in ${until - from} ms`);
    let last = from;
    for (const at of [...times, until]) {
      assert.ok(at - last <= boundMs, `${k} not visited for ${at - last} ms (bound ${boundMs} ms)`);
      last = at;
    }
  }
}

test('the auth re-check reads a slice of the sockets per tick, and every socket within --auth-recheck-seconds', async (t) => {
  const periodMs = 1000;
  const { r, user } = await relay(t, { authRecheckMs: periodMs, rateLimitPerAddress: { burst: 100, perMinute: 100 } });
  const n = 30;
  for (let i = 0; i < n; i++) await user(`user${i}`);
  const hub = r.ctx.presence as Hub;
  const slots = hub.rechecks.slotCount;
  assert.equal(slots, 10);
  const seen = turns<string>();
  const store = r.ctx.store;
  const getSession = store.getSession.bind(store);
  store.getSession = (tokenHash, now) => {
    seen.record(Buffer.from(tokenHash).toString('hex'));
    return getSession(tokenHash, now);
  };
  t.after(() => {
    store.getSession = getSession;
  });
  const from = Date.now();
  await new Promise((res) => setTimeout(res, 3 * periodMs));
  const until = Date.now();
  // One turn reads at most n / slots sessions (all n of them in one turn before: a 150–620 ms
  // stall at 10,000 sockets), and every socket is read at least once per period.
  const most = Math.max(...seen.batches.map((b) => b.keys.length));
  assert.ok(most <= Math.ceil(n / slots), `${most} sessions read in one turn; at most ${Math.ceil(n / slots)} expected`);
  const tokens = hub.all().map((c) => Buffer.from(c.tokenHash).toString('hex'));
  assert.equal(tokens.length, n);
  // The period, plus room for timers running late on a loaded machine.
  assertEachVisited(seen.batches, tokens, from, until, periodMs + 600);
});

test('the keep-alive pings a slice of the sockets per tick, every socket once per interval, and drops one that stops answering', async (t) => {
  const periodMs = 1000;
  const { r, user } = await relay(t, { wsPingIntervalMs: periodMs, rateLimitPerAddress: { burst: 100, perMinute: 100 } });
  const n = 30;
  const users = [];
  for (let i = 0; i < n; i++) users.push(await user(`user${i}`));
  const hub = r.ctx.presence as Hub;
  const slots = hub.pings.slotCount;
  assert.equal(slots, 10);
  const seen = turns<string>();
  for (const c of hub.all()) {
    const heartbeat = c.heartbeat.bind(c);
    c.heartbeat = () => {
      seen.record(c.addr.user);
      heartbeat();
    };
  }
  const from = Date.now();
  await new Promise((res) => setTimeout(res, 3 * periodMs));
  const until = Date.now();
  const most = Math.max(...seen.batches.map((b) => b.keys.length));
  assert.ok(most <= Math.ceil(n / slots), `${most} sockets pinged in one turn; at most ${Math.ceil(n / slots)} expected`);
  assertEachVisited(seen.batches, users.map((_, i) => `user${i}`), from, until, periodMs + 600);
  // A peer that stops reading answers no ping: it is dropped at its second ping unanswered, within
  // two intervals (docs/RELAY.md), while the others stay.
  const dead = users[0]!;
  (dead.ws.ws as any)._socket.pause();
  const stoppedAt = Date.now();
  while (hub.all().some((c) => c.addr.user === 'user0')) {
    assert.ok(Date.now() - stoppedAt < 2 * periodMs + 1000, 'the silent socket is still open');
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal(hub.all().length, n - 1);
});

/** A socket opened the browser's way: no Authorization header, the token in the first frame. */
async function byFrame(t: TestContext, wsUrl: string, token: string | null): Promise<RelayWs> {
  const ws = await RelayWs.connect(wsUrl, null);
  t.after(() => ws.terminate());
  if (token !== null) ws.send({ type: 'auth', token });
  return ws;
}

test('a socket without the header authenticates with its first frame, and is then like any other: rate limited, re-checked', async (t) => {
  const { r, wsUrl, user } = await relay(t, { authRecheckMs: 200, rateLimitSend: { burst: 2, perSecond: 1 } });
  const b = await user('bob');
  const h = new RelayHttp(r.url);
  await h.signup('alice');
  const a = await byFrame(t, wsUrl, h.token);
  assert.deepEqual(await a.next('hello'), { type: 'hello', user: 'alice', device: 1, oneTimePreKeys: 0, queued: 0, maxAcks: MAX_ACKS });
  await a.next('drained');
  assert.equal((await a.sendMessage('f1', [{ user: 'bob', device: 1 }], 'aGk')).type, 'sent');
  assert.deepEqual((await b.ws.next('message')).from, { user: 'alice', device: 1 });
  assert.equal((await a.sendMessage('f2', [{ user: 'bob', device: 1 }], 'aGk')).type, 'sent');
  assert.equal((await a.sendMessage('f3', [{ user: 'bob', device: 1 }], 'aGk')).code, 'rate_limited');
  // The re-check reads the session again: a ban made on the database closes the socket.
  await r.ctx.store.setBanned('alice', Date.now());
  assert.equal((await a.closed).code, 1008);
});

test('without the header, a first frame that is not an auth frame, or a bad token in one, is refused with unauthorized and 4001, and nothing is pushed', async (t) => {
  const { r, wsUrl, user } = await relay(t);
  const b = await user('bob');
  // bob has a message waiting for a second device, so a push would have something to send.
  const h2 = new RelayHttp(r.url);
  await h2.login('bob', 'password123', 2);
  await b.ws.sendMessage('w1', [{ user: 'bob', device: 2 }], 'aGk');
  const cases: [string, (ws: RelayWs) => void][] = [
    ['ping first', (ws) => ws.send({ type: 'ping' })],
    ['send first', (ws) => ws.send({ type: 'send', id: 'x', to: [{ user: 'bob', device: 1 }], body: 'aGk' })],
    ['not json', (ws) => ws.sendRaw('{"type":"auth",')],
    ['binary', (ws) => ws.ws.send(Buffer.from(JSON.stringify({ type: 'auth', token: h2.token })), { binary: true })],
    ['an extra field', (ws) => ws.send({ type: 'auth', token: h2.token, device: 2 })],
    ['a wrong token', (ws) => ws.send({ type: 'auth', token: 'A'.repeat(43) })],
    ['not a token', (ws) => ws.send({ type: 'auth', token: 42 })],
  ];
  for (const [name, first] of cases) {
    const ws = await byFrame(t, wsUrl, null);
    first(ws);
    assert.equal((await ws.next('error')).code, 'unauthorized', name);
    assert.equal((await ws.closed).code, 4001, name);
    assert.deepEqual(ws.frames, [], `${name}: nothing but the error`);
  }
});

test('a socket without the header that sends nothing is closed as unauthorized at the auth deadline', async (t) => {
  const { wsUrl } = await relay(t, { wsAuthTimeoutMs: 300 });
  const opened = Date.now();
  const ws = await byFrame(t, wsUrl, null);
  const err = await ws.next('error', 5000);
  assert.equal(err.code, 'unauthorized');
  assert.equal((await ws.closed).code, 4001);
  const waited = Date.now() - opened;
  assert.ok(waited >= 250 && waited < 3000, `closed after ${waited} ms (deadline 300 ms)`);
});

test('an auth frame is accepted once: a second one, or one on a header-authenticated socket, or a frame before hello, closes with 1008', async (t) => {
  const { r, wsUrl } = await relay(t);
  const h = new RelayHttp(r.url);
  await h.signup('alice');
  const twice = await byFrame(t, wsUrl, h.token);
  await twice.next('drained');
  twice.send({ type: 'auth', token: h.token });
  assert.equal((await twice.next('error')).code, 'bad_request');
  assert.equal((await twice.closed).code, 1008);
  const header = await RelayWs.connect(wsUrl, h.token);
  t.after(() => header.terminate());
  await header.next('drained');
  header.send({ type: 'auth', token: h.token });
  assert.equal((await header.next('error')).code, 'bad_request');
  assert.equal((await header.closed).code, 1008);
  // A frame right behind the auth frame, before the hello: nothing but the auth frame is read.
  const eager = await byFrame(t, wsUrl, h.token);
  eager.send({ type: 'ping' });
  assert.equal((await eager.closed).code, 1008);
  assert.ok(!eager.frames.some((f) => f.type === 'hello' || f.type === 'pong'), JSON.stringify(eager.frames));
});

test('a token sent in an auth frame, good or bad, never reaches the relay log', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const r = await startRelay({ port: 0, db: ':memory:', argon2MemoryKiB: 256, argon2Time: 1, wsAuthTimeoutMs: 300 }, { log: createLogger('trace', sink) });
  t.after(() => r.close());
  const wsUrl = `${r.url.replace('http', 'ws')}/v1/ws`;
  const h = new RelayHttp(r.url);
  await h.signup('alice');
  const good = await byFrame(t, wsUrl, h.token);
  await good.next('drained');
  good.send({ type: 'auth', token: h.token }); // a second auth frame: refused, token and all
  await good.closed;
  const bad = 'B'.repeat(43);
  await (await byFrame(t, wsUrl, bad)).closed;
  const odd = await byFrame(t, wsUrl, null);
  odd.send({ type: 'auth', token: h.token, extra: 1 });
  await odd.closed;
  await (await byFrame(t, wsUrl, null)).closed; // silent until the deadline
  await r.close();
  assert.ok(lines.length > 0, 'the relay logged at trace level');
  const all = lines.join('');
  for (const secret of [h.token!, bad]) assert.ok(!all.includes(secret), 'a token is in the log');
});
