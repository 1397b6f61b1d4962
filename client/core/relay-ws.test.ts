// RelaySocket's acks against a minimal relay on 127.0.0.1 (a `ws` server that says hello and
// records every frame it reads): the acks of one turn go out as `acks` frames of at most hello's
// `maxAcks` ids, before any later frame; a relay whose hello has no `maxAcks` gets one `ack` per id.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { RelaySocket } from './relay-ws.js';

async function minimalRelay(t: TestContext, hello: Record<string, unknown>): Promise<{ url: string; frames: unknown[]; next(): Promise<unknown> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1/ws' });
  await new Promise((r) => wss.once('listening', r));
  t.after(() => {
    for (const ws of wss.clients) ws.terminate();
    return new Promise((r) => wss.close(() => r(undefined)));
  });
  const frames: unknown[] = [];
  let wake: (() => void) | undefined;
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      if (f.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
      frames.push(f);
      wake?.();
    });
    ws.send(JSON.stringify({ type: 'hello', user: 'bob', device: 1, oneTimePreKeys: 10, queued: 0, ...hello }));
  });
  const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  let read = 0;
  const next = async (): Promise<unknown> => {
    const deadline = Date.now() + 5000;
    while (frames.length <= read) {
      if (Date.now() > deadline) throw new Error(`no frame ${read + 1} from the client within 5 s`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
    return frames[read++];
  };
  return { url, frames, next };
}

test('the acks of one turn go out as acks frames of at most maxAcks ids, before any later frame', async (t) => {
  const relay = await minimalRelay(t, { maxAcks: 2 });
  const { socket } = await RelaySocket.connect({ url: relay.url, token: 't' }, () => {});
  t.after(() => socket.close());
  for (const id of ['1', '2', '3', '4', '5']) socket.ack(id);
  assert.deepEqual(await relay.next(), { type: 'acks', ids: ['1', '2'] });
  assert.deepEqual(await relay.next(), { type: 'acks', ids: ['3', '4'] });
  assert.deepEqual(await relay.next(), { type: 'acks', ids: ['5'] });
  // An ack made before a frame goes before it, in the same turn.
  socket.ack('6');
  await socket.roundTrip();
  assert.deepEqual(await relay.next(), { type: 'acks', ids: ['6'] });
  assert.deepEqual(await relay.next(), { type: 'ping' });
  assert.equal(relay.frames.length, 5);
});

test('a relay whose hello has no maxAcks gets one ack frame per id', async (t) => {
  const relay = await minimalRelay(t, {});
  const { socket } = await RelaySocket.connect({ url: relay.url, token: 't' }, () => {});
  t.after(() => socket.close());
  for (const id of ['7', '8']) socket.ack(id);
  assert.deepEqual(await relay.next(), { type: 'ack', id: '7' });
  assert.deepEqual(await relay.next(), { type: 'ack', id: '8' });
});
