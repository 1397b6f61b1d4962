// The browser's HTTP transport (fetch) carries the core's relay requests as node:http(s) does:
// checked here in Node, whose global fetch is the one the page has.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { httpTransport } from './fetch-http.js';

describe('the fetch transport', () => {
  let server: http.Server;
  let base: string;
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        if (req.url === '/slow') return; // never answers
        if (req.url === '/busy') {
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7', 'fastchat-relay-id': 'r1' });
          res.end('{"error":{"code":"rate_limited","message":"slow down"}}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'fastchat-relay-id': req.url === '/other' ? 'r2' : 'r1' });
        res.end(JSON.stringify({ echo: Buffer.concat(chunks).toString('utf8') }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the method, headers and body, and gives back the status, headers and body', async () => {
    const body = new TextEncoder().encode('{"a":1}');
    const a = await httpTransport.send({ url: new URL('/v1/x', base), method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(body.length), authorization: 'Bearer t' }, body, fresh: false, timeoutMs: 5000 });
    assert.equal(a.status, 200);
    assert.equal(a.header('fastchat-relay-id'), 'r1');
    assert.equal(a.header('no-such-header'), undefined);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(a.body)), { echo: '{"a":1}' });
    const got = seen.at(-1)!;
    assert.equal(got.method, 'POST');
    assert.equal(got.headers.authorization, 'Bearer t');
    assert.equal(got.body, '{"a":1}');
  });

  it('refuses a CA file, which only the CLI can use', async () => {
    await assert.rejects(httpTransport.send({ url: new URL('/v1/x', base), method: 'GET', headers: {}, ca: '/tmp/cert.pem', fresh: false, timeoutMs: 5000 }), /CA file cannot be used from a browser/);
  });

  it('gives up on a server that does not answer in time', async () => {
    await assert.rejects(httpTransport.send({ url: new URL('/slow', base), method: 'GET', headers: {}, fresh: false, timeoutMs: 300 }), /abort|timeout/i);
  });

  it('carries relay-http requests, with their relay id check and error answers, when resolved for a browser', async () => {
    // package.json "imports" picks fetch-http.js under the "browser" condition, as the page's bundle does.
    const relayHttp = fileURLToPath(new URL('../relay-http.js', import.meta.url));
    const script = `
      const { request, RelayError, WrongRelay } = await import(${JSON.stringify(relayHttp)});
      const t = { url: ${JSON.stringify(base)}, relayId: 'r1' };
      const ok = await request(t, 'POST', '/v1/echo', { hi: 1 });
      const busy = await request(t, 'GET', '/busy').catch((e) => e);
      const other = await request(t, 'GET', '/other').catch((e) => e);
      console.log(JSON.stringify({ ok, busy: [busy instanceof RelayError, busy.code, busy.retryAfter], other: other instanceof WrongRelay }));`;
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    // Not spawnSync: the server answering it runs in this process.
    const r = await promisify(execFile)(process.execPath, ['--conditions=browser', '--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 30_000 });
    assert.deepEqual(JSON.parse(r.stdout), { ok: { echo: '{"hi":1}' }, busy: [true, 'rate_limited', 7], other: true });
    // It went through fetch: node:http sends no user-agent, fetch does.
    assert.ok(seen.some((s) => s.url === '/v1/echo' && typeof s.headers['user-agent'] === 'string'), 'the request came from fetch');
  });
});
