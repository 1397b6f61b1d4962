// Graceful shutdown: SIGTERM with clients connected and sends in flight. The relay stops accepting,
// commits and acks what it accepted, closes every socket with 1001 and exits 0; after a restart on
// the same file every acknowledged message is there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { RELAY_TEST_ARGS, sleep, waitFor, within, onFrames } from './util/fault.js';

const MAX_MESSAGES = 20_000;

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

test('SIGTERM with clients connected and sends in flight: acked messages are durable, sockets close with 1001, exit code 0', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-shutdown-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  const relay = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  t.after(() => relay.kill());

  const http = new RelayHttp(relay.url);
  const bobToken = await http.signup('bob');
  const carolToken = await http.signup('carol');
  const aliceToken = await http.signup('alice'); // `http` now speaks as alice

  const alice = await RelayWs.connect(relay.wsUrl, aliceToken);
  const bob = await RelayWs.connect(relay.wsUrl, bobToken); // idle, connected
  t.after(() => alice.terminate());
  t.after(() => bob.terminate());
  await alice.next('hello');
  await bob.next('hello');

  // Alice streams to carol (offline) over the socket, and in parallel over HTTP.
  const acked = new Set<string>();
  const refused: Frame[] = [];
  let sent = 0;
  onFrames(alice, (f) => {
    if (f.type === 'sent') acked.add(f.id);
    else if (f.type === 'error') refused.push(f);
  });
  const pump = (async () => {
    while (!alice.closeInfo && sent < MAX_MESSAGES) {
      for (let i = 0; i < 20 && !alice.closeInfo; i++) {
        alice.send({ type: 'send', id: `ws-${sent}`, to: [{ user: 'carol', device: 1 }], body: Buffer.from(`m${sent}`).toString('base64url') });
        sent++;
      }
      await sleep(2);
    }
  })();
  const httpAcked = new Set<string>();
  let httpStop = false;
  const httpPump = (async () => {
    for (let i = 0; i < 2000 && !httpStop; i++) {
      try {
        const r = await http.request('POST', '/v1/messages', { id: `http-${i}`, to: [{ user: 'carol', device: 1 }], body: 'AQID' });
        if (r.status === 200) httpAcked.add(`http-${i}`);
      } catch {
        return; // connection refused or reset: the relay is going away
      }
    }
  })();
  await waitFor(() => acked.size >= 200, 10_000, '200 acks before SIGTERM');

  relay.proc.kill('SIGTERM');
  const exit = await within(relay.exited, 15_000, 'the relay to exit after SIGTERM');
  httpStop = true;
  await within(Promise.all([pump, httpPump]), 5000, 'the senders to stop');
  const aliceClose = await within(alice.closed, 5000, 'alice socket closed');
  const bobClose = await within(bob.closed, 5000, 'bob socket closed');
  assert.deepEqual(exit, { code: 0, signal: null }, 'exit code 0');
  assert.equal(aliceClose.code, 1001, 'a sending client is closed with 1001');
  assert.equal(bobClose.code, 1001, 'an idle client is closed with 1001');
  assert.equal(await canConnect(relay.port), false, 'no longer accepting connections');
  assert.ok(sent > acked.size, `sends were in flight at SIGTERM (${sent} sent, ${acked.size} acked)`);
  assert.deepEqual(refused.filter((f) => f.code === 'internal'), [], 'no send failed with an internal error');
  assert.ok(relay.stderr.some((l) => l.includes('"event":"stopped"')), 'the relay logged a clean stop');

  // Restart on the same file: carol drains and has every acked message.
  const relay2 = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  t.after(() => relay2.stop());
  const carol = await RelayWs.connect(relay2.wsUrl, carolToken);
  t.after(() => carol.terminate());
  const got = new Set<string>();
  let drained = false;
  onFrames(carol, (f) => {
    if (f.type === 'message') {
      got.add(f.clientId);
      carol.ack(f.id);
    } else if (f.type === 'drained') drained = true;
  });
  await waitFor(() => drained, 20_000, 'carol to drain');
  const lost = [...acked, ...httpAcked].filter((id) => !got.has(id));
  assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acked messages were lost in the shutdown`);
  t.diagnostic(`at SIGTERM: ${sent} ws sends (${acked.size} acked), ${httpAcked.size} http acked; carol drained ${got.size}`);
});
