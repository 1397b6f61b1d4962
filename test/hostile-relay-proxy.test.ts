// The hostile relay fixture (test/util/hostile-relay.ts) does what it says: with no hook it is an
// honest relay, and each verdict changes exactly what it claims, checked against the real relay
// behind it (connected to directly) and raw clients on the other side.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fakeId, startHostileRelay, type HostileRelay, type MessageFrame } from './util/hostile-relay.js';
import { RELAY_TEST_ARGS } from './util/fault.js';
import { RelayHttp, RelayWs, makeBundle, uniqueUser } from './util/relay-client.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';

const to = (user: string) => [{ user, device: 1 }];

describe('the hostile relay proxy', () => {
  let relay: RelayProcess;
  let hostile: HostileRelay;
  const open: RelayWs[] = [];

  before(async () => {
    relay = await startRelayProcess({ args: RELAY_TEST_ARGS });
    hostile = await startHostileRelay(relay.url);
  });
  after(async () => {
    for (const ws of open) await ws.terminate();
    await hostile?.close();
    await relay?.stop();
  });

  /** A fresh account logged in through the proxy, with its socket (hello and drained consumed). */
  async function user(prefix: string): Promise<{ name: string; http: RelayHttp; ws: RelayWs }> {
    const name = uniqueUser(prefix);
    const http = new RelayHttp(hostile.url);
    await http.signup(name);
    const ws = await RelayWs.connect(hostile.wsUrl, http.token);
    open.push(ws);
    assert.equal((await ws.next('hello')).user, name);
    await ws.next('drained');
    return { name, http, ws };
  }

  /** What the relay behind the proxy holds for an account, read over a direct connection. */
  async function queuedAtRelay(http: RelayHttp): Promise<unknown[]> {
    const direct = await RelayWs.connect(relay.wsUrl, http.token);
    open.push(direct);
    await direct.next('hello');
    await direct.next('drained');
    return direct.frames.filter((f) => f.type === 'message');
  }

  async function next(ws: RelayWs): Promise<MessageFrame> {
    const m = (await ws.next('message')) as MessageFrame;
    ws.ack(m.id);
    return m;
  }

  it('passes traffic unchanged without hooks, over HTTP and WebSocket', async () => {
    const a = await user('pa');
    const b = await user('pb');
    const keys = await makeBundle({ oneTimePreKeys: 1 });
    assert.equal((await b.http.putKeys(keys.body)).status, 200);
    assert.equal((await a.http.fetchKeys(b.name)).body.devices[0].oneTimePreKey.id, 1);
    assert.equal((await a.ws.sendMessage('p1', to(b.name), 'Ym9keQ')).type, 'sent');
    const posted = await a.http.request('POST', '/v1/messages', { id: 'p2', to: to(b.name), body: 'dHdv' });
    assert.equal(posted.status, 200);
    const got = [await next(b.ws), await next(b.ws)];
    assert.deepEqual(got.map((m) => [m.clientId, m.from.user, m.body]), [['p1', a.name, 'Ym9keQ'], ['p2', a.name, 'dHdv']]);
    assert.deepEqual(hostile.sentBy(a.name, b.name).map((f) => f.id), ['p1', 'p2']);
  });

  it('passes the upgrade request as it came: a bad token, or a good one in the URL, is refused as the relay refuses it', async () => {
    const a = await user('ta');
    for (const [url, token] of [
      [hostile.wsUrl, 'not-a-token'],
      [`${hostile.wsUrl}?token=${encodeURIComponent(a.http.token!)}`, null],
    ] as const) {
      const ws = await RelayWs.connect(url, token);
      open.push(ws);
      assert.equal((await ws.next('error')).code, 'unauthorized', url);
      assert.equal((await ws.closed).code, 4001, url);
    }
  });

  it('drops a delivery for good, and holds one until released, after a later one (reorder)', async () => {
    const a = await user('da');
    const b = await user('db');
    const off = hostile.onDeliver((f) => (f.body === 'ZHJvcA' ? 'drop' : f.body === 'aG9sZA' ? 'hold' : undefined));
    await a.ws.sendMessage('d1', to(b.name), 'ZHJvcA');
    await a.ws.sendMessage('d2', to(b.name), 'aG9sZA');
    await a.ws.sendMessage('d3', to(b.name), 'bGFzdA');
    assert.equal((await next(b.ws)).clientId, 'd3');
    off();
    assert.equal(hostile.release((h) => h.to.user === b.name), 1);
    assert.equal((await next(b.ws)).clientId, 'd2');
    await b.ws.close();
    assert.deepEqual(await queuedAtRelay(b.http), [], 'the relay itself forgot both');
  });

  it('duplicates, relabels and tampers with deliveries, and swallows the acks of frames it made', async () => {
    const a = await user('ra');
    const b = await user('rb');
    const off = hostile.onDeliver((f, rcpt) =>
      rcpt.user === b.name ? { deliver: [f, { ...f, id: fakeId(), clientId: 'copy' }, { ...f, id: fakeId(), from: { user: 'mallory', device: 7 }, body: 'dGFtcGVyZWQ' }] } : undefined,
    );
    await a.ws.sendMessage('r1', to(b.name), 'b3JpZ2luYWw');
    const got = [await next(b.ws), await next(b.ws), await next(b.ws)];
    off();
    assert.deepEqual(got.map((m) => [m.clientId, m.from.user, m.from.device, m.body]), [
      ['r1', a.name, 1, 'b3JpZ2luYWw'],
      ['copy', a.name, 1, 'b3JpZ2luYWw'],
      ['r1', 'mallory', 7, 'dGFtcGVyZWQ'],
    ]);
    b.ws.send({ type: 'ping' });
    await b.ws.next('pong'); // the proxy handles a socket's frames in order: the acks came first
    const acksUp = hostile.log.filter((s) => s.dir === 'up' && s.frame.type === 'ack' && s.conn?.user === b.name).map((s) => s.frame.id);
    assert.equal(acksUp.length, 3, 'the client acked all three');
  });

  it('injects a frame into a connected socket, and into the next socket of a device that is offline', async () => {
    const b = await user('ib');
    hostile.inject({ user: b.name, device: 1 }, { type: 'message', id: fakeId(), clientId: 'inj1', from: { user: 'nobody', device: 1 }, body: 'aW5q', sentAt: new Date().toISOString() });
    assert.equal((await next(b.ws)).clientId, 'inj1');
    await b.ws.close();
    hostile.inject({ user: b.name, device: 1 }, { type: 'message', id: fakeId(), clientId: 'inj2', from: { user: 'nobody', device: 1 }, body: 'aW5q', sentAt: new Date().toISOString() });
    const again = await RelayWs.connect(hostile.wsUrl, b.http.token);
    open.push(again);
    await again.next('hello');
    assert.equal((await next(again)).clientId, 'inj2');
  });

  it('lies about acks: `sent` (or HTTP 200) for a message the relay never stored', async () => {
    const a = await user('la');
    const b = await user('lb');
    const off = hostile.onSend((f) => (f.id.startsWith('lie') ? 'lie' : undefined));
    assert.equal((await a.ws.sendMessage('lie1', to(b.name), 'bGll')).type, 'sent');
    assert.equal((await a.http.request('POST', '/v1/messages', { id: 'lie2', to: to(b.name), body: 'bGll' })).status, 200);
    await a.ws.sendMessage('true1', to(b.name), 'dHJ1ZQ');
    off();
    assert.equal((await next(b.ws)).clientId, 'true1');
    await b.ws.close();
    assert.deepEqual(await queuedAtRelay(b.http), [], 'the relay stored neither lie');
  });

  it('redirects a send to another recipient', async () => {
    const a = await user('xa');
    const b = await user('xb');
    const c = await user('xc');
    const off = hostile.onSend((f) => (f.id === 'x1' ? { store: { ...f, to: to(c.name) } } : undefined));
    assert.equal((await a.ws.sendMessage('x1', to(b.name), 'eA')).type, 'sent');
    off();
    assert.equal((await next(c.ws)).clientId, 'x1');
    await a.ws.sendMessage('x2', to(b.name), 'eQ');
    assert.equal((await next(b.ws)).clientId, 'x2', 'b got nothing before x2');
  });

  it('substitutes key-directory answers and knows who asked', async () => {
    const a = await user('ka');
    const b = await user('kb');
    const honest = await makeBundle({ oneTimePreKeys: 3 });
    await b.http.putKeys(honest.body);
    const fake = await makeBundle({ oneTimePreKeys: 1 });
    const asked: string[] = [];
    const off = hostile.onKeys((ctx) => {
      asked.push(`${ctx.kind}:${ctx.requester?.user}`);
      return { ...ctx.answer, devices: ctx.answer.devices.map((d) => ({ ...d, identity: fake.body.identity, ...(ctx.kind === 'bundle' ? { oneTimePreKey: null } : {}) })) };
    });
    const bundle = (await a.http.fetchKeys(b.name)).body.devices[0];
    const identity = (await a.http.request('GET', `/v1/keys/${b.name}/identity`)).body.devices[0];
    off();
    assert.deepEqual([bundle.identity, bundle.oneTimePreKey, identity.identity], [fake.body.identity, null, fake.body.identity]);
    assert.deepEqual(asked, [`bundle:${a.name}`, `identity:${a.name}`]);
    // The stripped prekey was still taken from the relay: the next honest fetch gets id 2.
    assert.equal((await a.http.fetchKeys(b.name)).body.devices[0].oneTimePreKey.id, 2);
  });

  it('serves a blob with extra bytes, with a changed status and headers, or as an endless stream', async () => {
    const a = await user('ba');
    const b = await user('bb');
    const bytes = Buffer.alloc(300, 7);
    const up = await a.http.request('POST', `/v1/blobs?to=${b.name}`, undefined, { raw: bytes, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(up.status, 201);
    const id = up.body.id as string;
    const get = (range?: string) => fetch(`${hostile.url}/v1/blobs/${id}`, { headers: { authorization: `Bearer ${b.http.token}`, ...(range ? { range } : {}) } });
    const off = hostile.onBlob((ctx) => (ctx.range ? { status: 206, headers: { 'content-range': 'bytes 0-0/1' } } : { body: Buffer.concat([ctx.body, Buffer.alloc(50, 9)]) }));
    const extended = await get();
    assert.deepEqual([extended.status, (await extended.arrayBuffer()).byteLength], [200, 350]);
    const ranged = await get('bytes=10-');
    assert.deepEqual([ranged.status, ranged.headers.get('content-range'), (await ranged.arrayBuffer()).byteLength], [206, 'bytes 0-0/1', 290]);
    off();
    let made = 0;
    const offEndless = hostile.onBlob(() => ({
      body: (async function* () {
        for (; made < 10_000; made++) yield Buffer.alloc(64 * 1024);
      })(),
    }));
    const endless = await get();
    const reader = endless.body!.getReader();
    let read = 0;
    while (read < 1024 * 1024) read += (await reader.read()).value!.byteLength;
    await reader.cancel();
    offEndless();
    assert.ok(read >= 1024 * 1024 && made < 10_000, `read ${read}, made ${made}`);
    assert.equal((await get()).status, 200, 'honest again without the hook');
  });
});
