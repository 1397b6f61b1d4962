// A device that floods sends and never reads its answers, against a real relay process. Every
// refused send is answered with a rate_limited error frame; if the sender never reads them, those
// frames would pile up in the relay's socket buffer without bound. The relay closes such a socket
// with 1008 once a refusal finds more than --ws-high-water-bytes already waiting unread
// (docs/RELAY.md, "Limits and defaults"), stores nothing of the refused sends, and other devices
// keep sending meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { RELAY_TEST_ARGS, RssSampler, rssKiB, sleep, waitFor, within } from './util/fault.js';

const HIGH_WATER = 16 * 1024;
/**
 * The flood's bounds. Before the relay's own buffer holds a byte, the loopback TCP buffers of a
 * socket that is never read absorb a few MB of answers (measured: ~4.4 MB, ~23,000 refusals of
 * ~190 bytes each, the 64-character id being echoed; more where tcp_wmem allows more). So the
 * flood goes on, a batch at a time, until the relay stops answering, and at most this far.
 */
const MAX_FLOOD = 200_000;
const MAX_FLOOD_MS = 12_000;
const BATCH = 1000;
/** Carol's pause between sends: above the 1-per-second limit's refill, so a well-behaved device is never refused. */
const CAROL_EVERY_MS = 1250;
const RSS_GROWTH_LIMIT_KIB = 64 * 1024;

test('a device flooding sends while ignoring its rate_limited refusals is closed with 1008, stores nothing of the refused sends, and another device keeps sending', { timeout: 30_000 }, async (t) => {
  const relay = await startRelayProcess({
    args: [...RELAY_TEST_ARGS, '--rate-limit-send', '1', '--rate-limit-send-burst', '1', '--ws-high-water-bytes', String(HIGH_WATER)],
  });
  t.after(() => relay.stop());
  const pid = relay.proc.pid!;
  const http: Record<string, RelayHttp> = {};
  const tokens: Record<string, string> = {};
  for (const n of ['alice', 'bob', 'carol']) {
    http[n] = new RelayHttp(relay.url);
    tokens[n] = await http[n].signup(n);
  }
  const to = [{ user: 'bob', device: 1 }];
  const body = Buffer.from('flood').toString('base64url');

  const bob = await RelayWs.connect(relay.wsUrl, tokens.bob!);
  t.after(() => bob.terminate());
  await bob.next('hello');
  await bob.next('drained');
  const carol = await RelayWs.connect(relay.wsUrl, tokens.carol!);
  t.after(() => carol.terminate());
  await carol.next('hello');

  // Alice never reads: her socket is paused from the upgrade on, so every answer the relay writes
  // stays in TCP buffers and then in the relay's socket buffer.
  const alice = new WebSocket(relay.wsUrl, { headers: { authorization: `Bearer ${tokens.alice}` } });
  t.after(() => alice.terminate());
  let aliceSocket: Socket | null = null;
  alice.on('upgrade', (res) => {
    aliceSocket = res.socket;
    aliceSocket.pause();
  });
  const aliceFrames: Frame[] = [];
  alice.on('message', (data) => aliceFrames.push(JSON.parse(data.toString()) as Frame));
  alice.on('error', () => {});
  const aliceClosed = new Promise<{ code: number; reason: string }>((resolve) => alice.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await within(new Promise((r) => alice.once('open', r)), 5000, 'alice connected');

  await sleep(200);
  const rss0 = rssKiB(pid)!;
  const sampler = new RssSampler(pid, 20);
  t.after(() => sampler.stop());

  // Carol sends at a pace the limit allows, throughout the flood, and expects each to be accepted.
  let flooding = true;
  const carolSent: string[] = [];
  const carolDone = (async () => {
    for (let i = 0; flooding || i < 2; i++) {
      const id = `carol-${i}`;
      const r = await carol.sendMessage(id, to, body, 3000);
      assert.equal(r.type, 'sent', `carol's ${id} during the flood: ${JSON.stringify(r)}`);
      carolSent.push(id);
      // Counted from the answer, not from the send: the relay took the previous send before it
      // answered, so the next one reaches its bucket at least this long after, however late the
      // answer was on a loaded machine.
      await sleep(CAROL_EVERY_MS);
    }
  })().then(
    () => null,
    (e: unknown) => e,
  );

  // The flood: pipelined, never waiting for an answer. After each batch, wait until the relay's
  // count of rate_limited refusals stops moving: either it refused the whole batch (go on), or it
  // stopped answering, which only a closed connection does (stop).
  // After the first rate_limited refusal the sends behind it are refused out_of_order (they wait
  // for it, docs/RELAY.md "Order"): both count.
  const refusalsCounted = async (): Promise<number> => {
    const text = (await http.bob!.request('GET', '/metrics')).body as string;
    return ['rate_limited', 'out_of_order'].reduce((n, code) => n + Number(new RegExp(`fastchat_rejects_total\\{code="${code}"\\} (\\d+)`).exec(text)?.[1] ?? 0), 0);
  };
  const started = Date.now();
  let sent = 0;
  let counted = 0;
  while (sent < MAX_FLOOD && Date.now() - started < MAX_FLOOD_MS) {
    for (let i = 0; i < BATCH; i++, sent++) {
      alice.send(JSON.stringify({ type: 'send', id: `${String(sent).padStart(6, '0')}-${'f'.repeat(57)}`, to, body }));
    }
    for (let prev = -1; counted !== prev; ) {
      await sleep(50);
      prev = counted;
      counted = await refusalsCounted();
    }
    // Sends that passed are not refusals: at most the burst plus the refill so far. A pause of the
    // relay's (a GC) must not pass for a close: the count has to stay put a while longer.
    if (counted < sent - (1 + Math.ceil((Date.now() - started) / 1000))) {
      await sleep(300);
      if ((await refusalsCounted()) === counted) break;
      counted = await refusalsCounted();
    }
  }
  const floodMs = Date.now() - started;
  const peak = sampler.stop();
  flooding = false;
  const carolFailed = await carolDone;
  if (carolFailed) throw carolFailed;

  // Now read: the answers the relay did write come first, then its close frame.
  (aliceSocket as Socket | null)!.resume();
  const closed = await within(aliceClosed, 5000, 'the relay to close the flooding socket');
  assert.equal(closed.code, 1008, `closed with ${closed.code} ${closed.reason}`);

  const refused = aliceFrames.filter((f) => f.type === 'error');
  const accepted = aliceFrames.filter((f) => f.type === 'sent').map((f) => f.id as string);
  assert.equal(refused[0]?.code, 'rate_limited');
  assert.ok(refused.every((f) => f.code === 'rate_limited' || f.code === 'out_of_order'), `refusals are rate_limited or out_of_order: ${JSON.stringify(refused.find((f) => f.code !== 'rate_limited' && f.code !== 'out_of_order'))}`);
  // The relay stopped answering once the answers piled up: the rest of the flood got no answer.
  assert.ok(refused.length + accepted.length < sent, `${refused.length + accepted.length} of ${sent} sends were answered`);
  assert.equal(counted, refused.length + 1, 'the relay counted the refusals it wrote, and the one it closed on');
  assert.ok(peak - rss0 < RSS_GROWTH_LIMIT_KIB, `relay RSS grew by ${peak - rss0} KiB during the flood (limit ${RSS_GROWTH_LIMIT_KIB})`);

  // Stored from alice: the burst plus what the 1-per-second refill allowed while she flooded, and
  // exactly the sends she got `sent` for. Carol's all arrived.
  await waitFor(() => bob.frames.filter((f) => f.type === 'message' && f.from.user === 'carol').length >= carolSent.length, 5000, "carol's messages at bob");
  await sleep(300);
  const fromAlice = bob.frames.filter((f) => f.type === 'message' && f.from.user === 'alice').map((f) => f.clientId as string);
  assert.ok(fromAlice.length <= 1 + Math.ceil(floodMs / 1000), `bob got ${fromAlice.length} of alice's sends in ${floodMs} ms`);
  assert.deepEqual([...fromAlice].sort(), [...accepted].sort(), 'only the accepted sends were stored');
  assert.deepEqual(bob.frames.filter((f) => f.type === 'message' && f.from.user === 'carol').map((f) => f.clientId), carolSent);
  const stored = Number(/fastchat_messages_stored_total (\d+)/.exec((await http.bob!.request('GET', '/metrics')).body)?.[1]);
  assert.equal(stored, fromAlice.length + carolSent.length, 'nothing else was stored');
  assert.ok(carolSent.length >= 2, `carol sent ${carolSent.length} during the flood`);

  // The relay still serves alice on a new connection.
  const again = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  t.after(() => again.terminate());
  await again.next('hello');
  again.send({ type: 'ping' });
  await again.next('pong');
  t.diagnostic(`flood: ${sent} sends in ${floodMs} ms, ${refused.length} refusals and ${accepted.length} acks read before the close; rss ${Math.round(rss0 / 1024)} -> peak ${Math.round(peak / 1024)} MiB`);
});
