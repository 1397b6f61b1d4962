// Backpressure: a recipient that stops reading (its socket paused) while a sender pushes many
// large messages must not make the relay buffer without bound. The sender keeps getting an answer
// for every message (`sent`, or `queue_full` once the quota is reached — never silence), and when
// the slow reader resumes it receives everything that was accepted, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startRelayProcess } from './util/relay-process.js';
import WebSocket from 'ws';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { RELAY_TEST_ARGS, RssSampler, rssKiB, waitFor, within } from './util/fault.js';

const BODY_BYTES = 60 * 1024; // ~80 KiB per pushed frame after base64url + JSON
const QUOTA = 800; // queue quota per device (messages): 800 x 80 KiB = ~64 MiB of frames
const SENDS = 900; // past the quota, so the last ones must be refused with queue_full
/**
 * Most messages the relay may write into a socket that is not read: its high-water mark (1 MiB),
 * one push batch (100) and what the loopback TCP buffers absorb (a few MiB). Measured: ~60. With
 * no backpressure (--ws-high-water-bytes 1e12) it is all 800.
 */
const MAX_PUSHED_WHILE_STALLED = 300;
/**
 * RSS growth allowed over the whole run, which also takes in ~70 MiB of frames from the sender
 * (measured: 50-100 MiB with a reading, a stalled or no recipient, mostly garbage not yet
 * collected). Holding the stalled reader's backlog in memory would add it twice on top (~64 MiB
 * of frame strings and ~64 MiB of socket buffers); the pushed count above is the sharp check.
 */
const RSS_GROWTH_LIMIT_KIB = 160 * 1024;

test('a reader that stops reading does not make the relay buffer without bound, and gets everything in order when it resumes', { timeout: 90_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--queue-max-messages', String(QUOTA), '--synchronous', 'normal'] });
  t.after(() => relay.stop());
  const pid = relay.proc.pid!;
  const http = new RelayHttp(relay.url);
  const bobToken = await http.signup('bob');
  const aliceToken = await http.signup('alice');

  // Bob connects and never reads: his socket is paused from the upgrade on, so even the hello and
  // the first pushes sit in TCP buffers, and then in the relay's socket buffer if it keeps writing.
  const bob = new WebSocket(relay.wsUrl, { headers: { authorization: `Bearer ${bobToken}` } });
  t.after(() => bob.terminate());
  let bobSocket: Socket | null = null;
  bob.on('upgrade', (res) => {
    bobSocket = res.socket;
    bobSocket.pause();
  });
  const received: Frame[] = [];
  bob.on('message', (data) => {
    const f = JSON.parse(data.toString()) as Frame;
    if (f.type === 'message') received.push(f);
  });
  await within(new Promise((r) => bob.once('open', r)), 5000, 'bob connected');

  const alice = await RelayWs.connect(relay.wsUrl, aliceToken);
  t.after(() => alice.terminate());
  await alice.next('hello');
  await new Promise((r) => setTimeout(r, 300));
  const rss0 = rssKiB(pid)!;
  const sampler = new RssSampler(pid, 50);
  t.after(() => sampler.stop());

  const accepted: string[] = [];
  const refused: Frame[] = [];
  let slowest = 0;
  const WINDOW = 16;
  for (let base = 0; base < SENDS; base += WINDOW) {
    const ids: string[] = [];
    const t0 = Date.now();
    for (let i = base; i < Math.min(SENDS, base + WINDOW); i++) {
      const id = `bp-${String(i).padStart(4, '0')}`;
      ids.push(id);
      const body = Buffer.alloc(BODY_BYTES, i % 251);
      body.writeUInt32BE(i, 0);
      alice.send({ type: 'send', id, to: [{ user: 'bob', device: 1 }], body: body.toString('base64url') });
    }
    for (const id of ids) {
      // Every send gets an answer: durable ack or a typed refusal.
      const r = await alice.next((f) => (f.type === 'sent' || f.type === 'error') && f.id === id, 10_000);
      if (r.type === 'sent') accepted.push(id);
      else refused.push(r);
    }
    slowest = Math.max(slowest, Date.now() - t0);
  }
  // Give the relay time to push whatever it would push.
  await new Promise((r) => setTimeout(r, 1000));
  const peak = sampler.stop();
  const pushed = Number(/fastchat_messages_pushed_total (\d+)/.exec((await http.request('GET', '/metrics')).body)?.[1]);

  assert.equal(accepted.length, QUOTA, `the relay accepted up to the quota (${accepted.length})`);
  assert.equal(refused.length, SENDS - QUOTA);
  // The first refusal is the full queue; the sends behind it on this connection wait for it to be
  // sent again, whatever room there is meanwhile (docs/RELAY.md "Order").
  assert.equal(refused[0]?.code, 'queue_full', `the first refusal is queue_full: ${JSON.stringify(refused[0])}`);
  assert.ok(refused.slice(1).every((f) => f.code === 'out_of_order'), `the later ones are out_of_order: ${JSON.stringify(refused.find((f) => f.code !== 'out_of_order'))}`);
  // What the relay wrote to the stalled socket: its high-water mark, one push batch and what the
  // kernel's TCP buffers took. Without backpressure it would be all of them.
  assert.ok(pushed < MAX_PUSHED_WHILE_STALLED, `the relay pushed ${pushed} of ${QUOTA} messages into a socket nobody reads`);
  assert.ok(peak - rss0 < RSS_GROWTH_LIMIT_KIB, `relay RSS grew by ${peak - rss0} KiB with a stalled reader (limit ${RSS_GROWTH_LIMIT_KIB})`);

  // Resume: bob gets every accepted message, in the order they were accepted, and acks them.
  bobSocket!.resume();
  await waitFor(() => received.length >= accepted.length, 30_000, `bob to receive ${accepted.length} messages (has ${received.length})`);
  assert.deepEqual(received.map((f) => f.clientId), accepted, 'delivered in order, nothing missing or repeated');
  for (const [i, f] of received.entries()) {
    const body = Buffer.from(f.body, 'base64url');
    assert.equal(body.length, BODY_BYTES);
    assert.equal(body.readUInt32BE(0), Number(accepted[i]!.slice(3)));
  }
  for (const f of received) bob.send(JSON.stringify({ type: 'ack', id: f.id }));
  // Once acked, the queue has room again: the sender is accepted again.
  await waitFor(async () => (await http.request('GET', '/metrics')).body.includes('fastchat_queue_depth 0'), 10_000, 'the queue to empty');
  const first = String(refused[0]!.id);
  const again = await within(alice.sendMessage(first, [{ user: 'bob', device: 1 }], 'AQID'), 5000, 'the refused send, sent again after the queue emptied');
  assert.equal(again.type, 'sent');
  assert.equal((await within(alice.sendMessage('bp-after', [{ user: 'bob', device: 1 }], 'AQID'), 5000, 'a send after it')).type, 'sent');
  t.diagnostic(`pushed ${pushed} while stalled; rss ${Math.round(rss0 / 1024)} -> peak ${Math.round(peak / 1024)} MiB while ${accepted.length} x ${BODY_BYTES} B waited; slowest window of ${WINDOW} sends ${slowest} ms`);
});
