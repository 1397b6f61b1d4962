// Size limits and bad input against a real relay process: oversized WebSocket frames are closed
// with 1009 from the declared length, oversized HTTP bodies get 413 before they are read, bad JSON
// and unknown frames get typed answers, and a client cannot choose who a message is from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs } from './util/relay-client.js';
import { RELAY_TEST_ARGS, rawHttp, rssKiB, within } from './util/fault.js';


const MAX_FRAME = 32 * 1024;
const MAX_BODY = 32 * 1024;
const MAX_MESSAGE = 16 * 1024;

async function relayWithUsers(t: import('node:test').TestContext, names: string[]): Promise<{ relay: RelayProcess; http: Record<string, RelayHttp>; tokens: Record<string, string> }> {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--max-frame-bytes', String(MAX_FRAME), '--max-body-bytes', String(MAX_BODY), '--max-message-bytes', String(MAX_MESSAGE)] });
  t.after(() => relay.stop());
  const http: Record<string, RelayHttp> = {};
  const tokens: Record<string, string> = {};
  for (const n of names) {
    http[n] = new RelayHttp(relay.url);
    tokens[n] = await http[n].signup(n);
  }
  return { relay, http, tokens };
}

/**
 * Writes a WebSocket frame HEADER announcing `declared` payload bytes over a raw upgraded socket,
 * then only `sent` bytes of payload, and reports how the relay reacted. A server that buffers
 * before checking would wait for the rest; one that checks the declared length closes at once.
 */
function announceHugeFrame(port: number, token: string, declared: number, sent: number): Promise<{ closeCode: number | null; ms: number }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const key = randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const started = Date.now();
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ closeCode: null, ms: Date.now() - started });
    }, 5000);
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ closeCode: null, ms: Date.now() - started });
    });
    sock.on('connect', () => {
      sock.write(`GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.subarray(0, 12).toString().includes('101')) return reject(new Error(`upgrade refused: ${buf.toString().slice(0, 80)}`));
        upgraded = true;
        buf = buf.subarray(end + 4);
        // Masked text frame with a 64-bit length.
        const head = Buffer.alloc(14);
        head[0] = 0x81;
        head[1] = 0x80 | 127;
        head.writeBigUInt64BE(BigInt(declared), 2);
        randomBytes(4).copy(head, 10);
        sock.write(Buffer.concat([head, Buffer.alloc(sent, 0x20)]));
      }
      // Look for a close frame from the server (opcode 0x8) among whatever it sent (hello first).
      let i = 0;
      while (i + 2 <= buf.length) {
        const op = buf[i]! & 0x0f;
        let len = buf[i + 1]! & 0x7f;
        let off = i + 2;
        if (len === 126) {
          if (off + 2 > buf.length) return;
          len = buf.readUInt16BE(off);
          off += 2;
        } else if (len === 127) {
          if (off + 8 > buf.length) return;
          len = Number(buf.readBigUInt64BE(off));
          off += 8;
        }
        if (off + len > buf.length) return;
        if (op === 0x8) {
          clearTimeout(timer);
          const code = len >= 2 ? buf.readUInt16BE(off) : null;
          sock.destroy();
          return resolve({ closeCode: code, ms: Date.now() - started });
        }
        i = off + len;
      }
    });
  });
}

test('a frame over the frame limit is closed with 1009 and the relay keeps serving', async (t) => {
  const { relay, tokens } = await relayWithUsers(t, ['alice', 'bob']);
  const alice = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  t.after(() => alice.terminate());
  await alice.next('hello');
  alice.sendRaw('x'.repeat(MAX_FRAME + 1));
  assert.equal((await within(alice.closed, 5000, 'close after an oversized frame')).code, 1009);

  const bob = await RelayWs.connect(relay.wsUrl, tokens.bob!);
  t.after(() => bob.terminate());
  await bob.next('hello');
  bob.send({ type: 'ping' });
  await bob.next('pong');
});

test('an announced 1 GiB frame is refused from its header, before the payload is buffered', async (t) => {
  const { relay, tokens } = await relayWithUsers(t, ['alice']);
  const before = rssKiB(relay.proc.pid!)!;
  // Announce 1 GiB, send only 4 KiB: the relay must close now, not wait for (or allocate) the rest.
  const r = await announceHugeFrame(relay.port, tokens.alice!, 1024 ** 3, 4096);
  assert.equal(r.closeCode, 1009, 'closed with 1009');
  assert.ok(r.ms < 3000, `closed promptly (${r.ms} ms)`);
  const after = rssKiB(relay.proc.pid!)!;
  assert.ok(after - before < 64 * 1024, `no big allocation (rss ${before} -> ${after} KiB)`);
  assert.equal((await fetch(`${relay.url}/healthz`)).status, 200);
});

test('an HTTP body over the limit gets 413 payload_too_large before the body is sent', async (t) => {
  const { relay } = await relayWithUsers(t, []);
  // Declared length far over the limit; we stream slowly and stop once the answer arrives.
  const declared = 512 * 1024 * 1024;
  const r = await rawHttp(
    relay.port,
    `POST /v1/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`,
    { fill: 0x61, bytes: declared, chunk: 16 * 1024 },
  );
  assert.equal(r.status, 413, r.head);
  assert.equal(JSON.parse(r.body).error.code, 'payload_too_large');
  assert.ok(r.bytesWritten < 64 * 1024 * 1024, `answered after ${r.bytesWritten} of ${declared} bytes`);
});

test('a chunked HTTP body that grows past the limit gets 413 while streaming', async (t) => {
  const { relay } = await relayWithUsers(t, []);
  const chunk = Buffer.alloc(8 * 1024, 0x61);
  const body = Buffer.concat(Array.from({ length: 16 }, () => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])));
  const r = await rawHttp(relay.port, 'POST /v1/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', body);
  assert.equal(r.status, 413, r.head);
  assert.equal(JSON.parse(r.body).error.code, 'payload_too_large');
});

test('a message body over the message limit is refused with payload_too_large, not stored', async (t) => {
  const { relay, http, tokens } = await relayWithUsers(t, ['alice', 'bob']);
  const r = await http.alice!.request('POST', '/v1/messages', { id: 'big', to: [{ user: 'bob', device: 1 }], body: Buffer.alloc(MAX_MESSAGE + 1, 1).toString('base64url') });
  assert.equal(r.status, 413);
  assert.ok(r.body.error.message.includes('message'), r.body.error.message);
  assert.equal(r.body.error.code, 'payload_too_large');
  const alice = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  t.after(() => alice.terminate());
  await alice.next('hello');
  const w = await alice.sendMessage('big-ws', [{ user: 'bob', device: 1 }], Buffer.alloc(MAX_MESSAGE + 1, 2).toString('base64url'));
  assert.equal(w.type, 'error');
  assert.equal(w.code, 'payload_too_large');
  const bob = await RelayWs.connect(relay.wsUrl, tokens.bob!);
  t.after(() => bob.terminate());
  await bob.next('hello');
  await bob.next('drained');
  assert.deepEqual(bob.frames.filter((f) => f.type === 'message'), []);
});

test('malformed JSON closes with 1007, and wrong fields get error frames until 1008', async (t) => {
  const { relay, tokens } = await relayWithUsers(t, ['alice']);
  const a1 = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  t.after(() => a1.terminate());
  await a1.next('hello');
  a1.sendRaw('{"type":"send",');
  assert.equal((await within(a1.closed, 5000, '1007 close')).code, 1007);

  const a2 = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  t.after(() => a2.terminate());
  await a2.next('hello');
  a2.send({ type: 'teleport' });
  const e1 = await a2.next('error');
  assert.equal(e1.code, 'bad_request');
  a2.send({ type: 'send', id: 7, to: 'bob', body: 1 });
  const e2 = await a2.next('error');
  assert.equal(e2.code, 'bad_request');
  assert.equal(typeof e2.message, 'string');
  // Keep sending bad frames: the relay gives up on the connection with a policy close.
  for (let i = 0; i < 50 && !a2.closeInfo; i++) {
    a2.send({ type: 'nope', i });
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal((await within(a2.closed, 5000, '1008 close')).code, 1008);
});

test('a send naming another sender is refused, and recipients only ever see the authenticated sender', async (t) => {
  const { relay, http, tokens } = await relayWithUsers(t, ['alice', 'bob', 'carol']);
  const bob = await RelayWs.connect(relay.wsUrl, tokens.bob!);
  t.after(() => bob.terminate());
  await bob.next('hello');
  await bob.next('drained');
  const alice = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  t.after(() => alice.terminate());
  await alice.next('hello');

  const body = Buffer.from('spoof attempt').toString('base64url');
  // A `from` field (or `sender`) in the frame: refused outright, never stored under carol.
  for (const spoof of [{ from: { user: 'carol', device: 1 } }, { sender: 'carol' }, { from: 'carol' }]) {
    const id = `spoof-${Object.keys(spoof)[0]}-${typeof Object.values(spoof)[0]}`;
    alice.send({ type: 'send', id, to: [{ user: 'bob', device: 1 }], body, ...spoof });
    const r = await alice.next((f) => f.type === 'sent' || f.type === 'error');
    assert.equal(r.type, 'error', `frame with ${JSON.stringify(spoof)} refused`);
    assert.equal(r.code, 'bad_request');
  }
  const h = await http.alice!.request('POST', '/v1/messages', { id: 'spoof-http', to: [{ user: 'bob', device: 1 }], body, from: { user: 'carol', device: 1 } });
  assert.equal(h.status, 400);
  assert.equal(h.body.error.code, 'bad_request');

  // Then a plain send: bob sees alice, whatever else happened.
  const ok = await alice.sendMessage('honest', [{ user: 'bob', device: 1 }], body);
  assert.equal(ok.type, 'sent');
  const m = await bob.next('message');
  assert.deepEqual(m.from, { user: 'alice', device: 1 });
  assert.equal(m.clientId, 'honest');
  await new Promise((r) => setTimeout(r, 200));
  const others = bob.frames.filter((f) => f.type === 'message');
  assert.deepEqual(others, [], 'no spoofed message was delivered');
});

test('a token is bound to its account: another user cannot read or ack your queue', async (t) => {
  const { relay, http, tokens } = await relayWithUsers(t, ['alice', 'bob', 'mallory']);
  const r = await http.alice!.request('POST', '/v1/messages', { id: 'm1', to: [{ user: 'bob', device: 1 }], body: 'AQID' });
  assert.equal(r.status, 200);
  // Mallory acks every plausible delivery id; bob's message must survive.
  const mal = await RelayWs.connect(relay.wsUrl, tokens.mallory!);
  t.after(() => mal.terminate());
  await mal.next('hello');
  for (let id = 1; id <= 50; id++) mal.ack(String(id));
  mal.send({ type: 'ping' });
  await mal.next('pong');
  const bob = await RelayWs.connect(relay.wsUrl, tokens.bob!);
  t.after(() => bob.terminate());
  await bob.next('hello');
  const m = await bob.next('message');
  assert.equal(m.clientId, 'm1');
  assert.deepEqual(m.from, { user: 'alice', device: 1 });
});

test('a device bursting past the send limit gets rate_limited over WebSocket and HTTP, stores nothing for those, and can send again after waiting', async (t) => {
  // Burst 4 at 2 per second; the same flags from the environment are covered by the CLI parser.
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--rate-limit-send', '2', '--rate-limit-send-burst', '4'] });
  t.after(() => relay.stop());
  const http: Record<string, RelayHttp> = {};
  const tokens: Record<string, string> = {};
  for (const n of ['alice', 'bob', 'carol']) {
    http[n] = new RelayHttp(relay.url);
    tokens[n] = await http[n].signup(n);
  }
  const to = [{ user: 'bob', device: 1 }];
  const body = Buffer.from('hello').toString('base64url');
  const alice = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  t.after(() => alice.terminate());
  await alice.next('hello');

  // Pipelined like the client's outbox: 10 sends at once, the first 4 pass.
  for (let i = 0; i < 10; i++) alice.send({ type: 'send', id: `burst-${i}`, to, body });
  const answers = [];
  for (let i = 0; i < 10; i++) answers.push(await alice.next((f) => (f.type === 'sent' || f.type === 'error') && f.id === `burst-${i}`));
  const refused = answers.filter((f) => f.type === 'error');
  assert.ok(answers.filter((f) => f.type === 'sent').length <= 4, 'at most the burst passes');
  assert.ok(refused.length >= 6, `${refused.length} refused`);
  // The first refusal is the rate limit; the sends behind it wait for it to be sent again
  // (out_of_order, docs/RELAY.md "Order"), so none of them can be stored ahead of it.
  assert.equal(refused[0]!.code, 'rate_limited');
  assert.ok(Number.isInteger(refused[0]!.retryAfter) && refused[0]!.retryAfter >= 1, `retryAfter ${refused[0]!.retryAfter}`);
  for (const f of refused.slice(1)) assert.equal(f.code, 'out_of_order');
  const h = await http.alice!.request('POST', '/v1/messages', { id: 'http-over', to, body });
  assert.equal(h.status, 429);
  assert.equal(h.body.error.code, 'rate_limited');
  assert.ok(Number(h.headers.get('retry-after')) >= 1, `Retry-After ${h.headers.get('retry-after')}`);

  // Another device is not slowed by alice's empty bucket.
  const c = await http.carol!.request('POST', '/v1/messages', { id: 'carol-1', to, body });
  assert.equal(c.status, 200);

  // After Retry-After, alice can send again, over either transport.
  // Long enough for the three sends below at 2 per second (retryAfter is the wait for one).
  await new Promise((r) => setTimeout(r, 1000 * Math.max(2, refused[0]!.retryAfter as number)));
  const first = refused[0]!.id as string;
  assert.equal((await alice.sendMessage('later-ws', to, body)).code, 'out_of_order', 'not before the refused one');
  assert.equal((await alice.sendMessage(first, to, body)).type, 'sent');
  assert.equal((await alice.sendMessage('later-ws', to, body)).type, 'sent');
  assert.equal((await http.alice!.request('POST', '/v1/messages', { id: 'later-http', to, body })).status, 200);

  const bob = await RelayWs.connect(relay.wsUrl, tokens.bob!);
  t.after(() => bob.terminate());
  await bob.next('hello');
  await bob.next('drained');
  const got = bob.frames.filter((f) => f.type === 'message').map((f) => f.clientId as string);
  const passed = answers.filter((f) => f.type === 'sent').map((f) => f.id as string);
  assert.deepEqual(got, [...passed, 'carol-1', first, 'later-ws', 'later-http'], 'refused sends were not stored');
  const metrics = (await http.alice!.request('GET', '/metrics')).body as string;
  assert.match(metrics, /fastchat_rejects_total\{code="rate_limited"\} [2-9]/);
  assert.match(metrics, /fastchat_rejects_total\{code="out_of_order"\} ([5-9]|\d\d)/);
});
