// The per-device send limit wired into both transports, in-process with a fake clock.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../server.js';
import { RelayHttp, RelayWs } from '../../test/util/relay-client.js';

const BODY = 'AQID';

async function relay(t: TestContext) {
  let clock = 1_700_000_000_000;
  const r = await startRelay(
    { port: 0, db: ':memory:', argon2MemoryKiB: 256, argon2Time: 1, logLevel: 'silent', rateLimitSend: { burst: 5, perSecond: 1 } },
    { now: () => clock },
  );
  t.after(() => r.close());
  const wsUrl = `${r.url.replace('http', 'ws')}/v1/ws`;
  const user = async (name: string, device = 1) => {
    const http = new RelayHttp(r.url);
    await http.signup(name, 'password123', device);
    const ws = await RelayWs.connect(wsUrl, http.token!);
    t.after(() => ws.terminate());
    await ws.next('hello');
    await ws.next('drained');
    return { http, ws };
  };
  const queued = async (user: string, device = 1) => (await r.ctx.store.pending({ user, device }, 0, 1000)).map((m) => m.clientId);
  return { r, user, queued, advance: (ms: number) => (clock += ms) };
}

test('WebSocket sends and POST /v1/messages of one device share one bucket, and refusals store nothing', async (t) => {
  const { user, queued, advance } = await relay(t);
  const a = await user('alice');
  await user('bob');
  const to = [{ user: 'bob', device: 1 }];
  for (let i = 0; i < 3; i++) assert.equal((await a.ws.sendMessage(`w${i}`, to, BODY)).type, 'sent');
  for (let i = 0; i < 2; i++) assert.equal((await a.http.request('POST', '/v1/messages', { id: `h${i}`, to, body: BODY })).status, 200);

  const w = await a.ws.sendMessage('w-over', to, BODY);
  assert.deepEqual({ type: w.type, code: w.code, id: w.id, retryAfter: w.retryAfter }, { type: 'error', code: 'rate_limited', id: 'w-over', retryAfter: 1 });
  assert.match(w.message, /too many messages/);
  const h = await a.http.request('POST', '/v1/messages', { id: 'h-over', to, body: BODY });
  assert.equal(h.status, 429);
  assert.equal(h.body.error.code, 'rate_limited');
  assert.equal(h.headers.get('retry-after'), '1');
  assert.deepEqual(await queued('bob'), ['w0', 'w1', 'w2', 'h0', 'h1']);

  advance(1000);
  assert.equal((await a.ws.sendMessage('w-over', to, BODY)).type, 'sent');
  assert.equal((await a.ws.sendMessage('w-again', to, BODY)).code, 'rate_limited');
  assert.deepEqual(await queued('bob'), ['w0', 'w1', 'w2', 'h0', 'h1', 'w-over']);
});

test('each device has its own bucket: another device of the same account, or another account, is not slowed', async (t) => {
  const { user, queued } = await relay(t);
  const a1 = await user('alice', 1);
  const a2 = await user('alice', 2);
  const c = await user('carol');
  await user('bob');
  const to = [{ user: 'bob', device: 1 }];
  for (let i = 0; i < 5; i++) await a1.ws.sendMessage(`a1-${i}`, to, BODY);
  assert.equal((await a1.ws.sendMessage('a1-over', to, BODY)).code, 'rate_limited');
  assert.equal((await a2.ws.sendMessage('a2', to, BODY)).type, 'sent');
  assert.equal((await c.http.request('POST', '/v1/messages', { id: 'c', to, body: BODY })).status, 200);
  assert.deepEqual((await queued('bob')).slice(-2), ['a2', 'c']);
});

test('a send costs one token per recipient device, and a fan-out above the burst costs the whole burst', async (t) => {
  const { user, queued, advance } = await relay(t);
  const a = await user('alice');
  for (const n of ['bob', 'carol', 'dave']) await user(n);
  const three = ['bob', 'carol', 'dave'].map((u) => ({ user: u, device: 1 }));
  assert.equal((await a.ws.sendMessage('g1', three, BODY)).type, 'sent'); // 5 - 3 = 2 left
  const e = await a.ws.sendMessage('g2', three, BODY);
  assert.equal(e.code, 'rate_limited');
  assert.equal(e.retryAfter, 1);
  // Over HTTP: on this WebSocket bob now waits for g2 to be sent again (docs/RELAY.md "Order").
  assert.equal((await a.http.request('POST', '/v1/messages', { id: 'one', to: [three[0]!], body: BODY })).status, 200);
  assert.deepEqual(await queued('carol'), ['g1']);

  advance(10_000); // full again: 5
  const six = [...three, ...three.map((x) => ({ ...x, device: 2 }))];
  const big = await a.http.request('POST', '/v1/messages', { id: 'g6', to: six, body: BODY });
  assert.equal(big.body.error.code, 'unknown_device', 'charged as the burst, then judged as usual'); // devices 2 do not exist
  assert.equal((await a.http.request('POST', '/v1/messages', { id: 'after', to: [three[0]!], body: BODY })).body.error.code, 'rate_limited');
});
