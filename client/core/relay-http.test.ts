import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { closeAgents, isUnreachable, request, type RelayTarget } from './relay-http.js';

// A server that, like a relay whose keep-alive timeout passed while the client was busy, drops
// the first request that arrives on a reused keep-alive connection without answering it.
describe('relay HTTP requests over a stale keep-alive socket', () => {
  let server: http.Server;
  let target: RelayTarget;
  let dropNextReuse = true;
  const seen: string[] = [];
  const served = new WeakMap<object, number>();
  before(async () => {
    server = http.createServer((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      seen.push(`${req.method} ${n > 1 ? 'reused' : 'new'}`);
      if (n > 1 && dropNextReuse) {
        dropNextReuse = false;
        req.socket.destroy();
        return;
      }
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    target = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  });
  beforeEach(() => {
    closeAgents();
    dropNextReuse = true;
    seen.length = 0;
  });
  after(async () => {
    closeAgents();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends an idempotent POST again on a fresh connection when the reused socket is dropped', async () => {
    assert.deepEqual(await request(target, 'POST', '/v1/messages', { id: 'a' }, { idempotent: true }), { ok: true });
    assert.deepEqual(await request(target, 'POST', '/v1/messages', { id: 'b' }, { idempotent: true }), { ok: true });
    assert.deepEqual(seen, ['POST new', 'POST reused', 'POST new']);
  });

  it('sends a GET again the same way without being told it is idempotent', async () => {
    await request(target, 'GET', '/v1/presence');
    assert.deepEqual(await request(target, 'GET', '/v1/presence'), { ok: true });
    assert.deepEqual(seen, ['GET new', 'GET reused', 'GET new']);
  });

  it('does not resend a POST that is not idempotent, and reports the relay unreachable', async () => {
    await request(target, 'POST', '/v1/sessions', {});
    await assert.rejects(request(target, 'POST', '/v1/sessions', {}), (e: unknown) => isUnreachable(e));
    assert.deepEqual(seen, ['POST new', 'POST reused']);
  });

  it('retries only once: a drop of the fresh connection too is reported as unreachable', async () => {
    // A second server on which every request is dropped, after the first one on a socket.
    const hostile = http.createServer((req, res) => {
      if (served.has(req.socket) || !req.headers.connection?.includes('keep-alive')) req.socket.destroy();
      else {
        served.set(req.socket, 1);
        res.end('{}');
      }
    });
    await new Promise<void>((r) => hostile.listen(0, '127.0.0.1', r));
    try {
      const t = { url: `http://127.0.0.1:${(hostile.address() as AddressInfo).port}` };
      await request(t, 'GET', '/x');
      await assert.rejects(request(t, 'GET', '/x'), (e: unknown) => isUnreachable(e));
    } finally {
      closeAgents();
      hostile.closeAllConnections();
      await new Promise<void>((r) => hostile.close(() => r()));
    }
  });
});
