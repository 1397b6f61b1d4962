// Crash safety: kill -9 the relay while several senders stream messages, restart it on the same
// database, and check that every message the relay acknowledged (`sent`) before the crash is
// delivered afterwards (acked ⊆ delivered), bodies intact, with no duplicate per client id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { RELAY_TEST_ARGS, sleep, waitFor, within, onFrames } from './util/fault.js';

const SENDERS = 4;
/** Most messages each sender puts in flight without an ack (a client outbox window). */
const WINDOW = 32;
/** Upper bound of messages per sender, so the loop is bounded even if the kill comes late. */
const MAX_PER_SENDER = 5000;

interface Sender {
  name: string;
  token: string;
  sent: Map<string, string>; // client id -> body (everything ever submitted)
  acked: Set<string>;
}

const bodyOf = (name: string, n: number): string => Buffer.from(`crash-test ${name} #${n} ${'.'.repeat(n % 50)}`).toString('base64url');

/** Streams messages with a window of unacked sends until `stop()` is true or the socket dies. */
async function stream(ws: RelayWs, s: Sender, to: { user: string; device: number }[], stop: () => boolean): Promise<void> {
  let inFlight = 0;
  let n = 0;
  let wake: (() => void) | null = null;
  onFrames(ws, (f) => {
    if (f.type === 'sent') {
      s.acked.add(f.id);
      inFlight--;
      wake?.();
    } else if (f.type === 'error') {
      inFlight--;
      wake?.();
    }
  });
  const deadline = Date.now() + 30_000;
  while (!stop() && !ws.closeInfo && n < MAX_PER_SENDER && Date.now() < deadline) {
    if (inFlight >= WINDOW) {
      await Promise.race([new Promise<void>((r) => (wake = r)), ws.closed, sleep(2000)]);
      wake = null;
      continue;
    }
    const id = `${s.name}-${n}`;
    const body = bodyOf(s.name, n);
    s.sent.set(id, body);
    n++;
    inFlight++;
    try {
      ws.send({ type: 'send', id, to, body });
    } catch {
      break;
    }
    if (n % 8 === 0) await new Promise((r) => setImmediate(r));
  }
}

test('every message acknowledged before a kill -9 is delivered after restart, once per client id', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  const relay1 = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  t.after(() => relay1.kill());

  const http = new RelayHttp(relay1.url);
  const senders: Sender[] = [];
  for (let i = 0; i < SENDERS; i++) {
    const name = `sender${i}`;
    senders.push({ name, token: await http.signup(name), sent: new Map(), acked: new Set() });
  }
  // r_online is connected (and acking) during the crash; r_offline only connects after restart.
  const rOnlineToken = await http.signup('r_online');
  const rOfflineToken = await http.signup('r_offline');
  const to = [{ user: 'r_online', device: 1 }, { user: 'r_offline', device: 1 }];

  const deliveredOnline: Frame[] = [];
  const online = await RelayWs.connect(relay1.wsUrl, rOnlineToken);
  t.after(() => online.terminate());
  onFrames(online, (f) => {
    if (f.type === 'message') {
      deliveredOnline.push(f);
      online.ack(f.id);
    }
  });

  const sockets = await Promise.all(senders.map((s) => RelayWs.connect(relay1.wsUrl, s.token)));
  for (const s of sockets) t.after(() => s.terminate());
  let killed = false;
  const streamStart = Date.now();
  const streams = senders.map((s, i) => stream(sockets[i]!, s, to, () => killed));
  // Let the stream get going, then pull the plug mid-flight.
  await waitFor(() => senders.every((s) => s.acked.size >= 100), 20_000, 'each sender to get 100 acks');
  await sleep(200 + Math.floor(Math.random() * 300));
  await relay1.kill();
  const streamMs = Date.now() - streamStart;
  killed = true;
  await within(Promise.all(streams), 10_000, 'senders to notice the crash');

  const ackedBefore = new Map(senders.map((s) => [s.name, new Set(s.acked)]));
  const totalAcked = senders.reduce((n, s) => n + s.acked.size, 0);
  const totalSent = senders.reduce((n, s) => n + s.sent.size, 0);
  t.diagnostic(
    `before the kill: ${totalSent} sent, ${totalAcked} acked (${Math.round((totalAcked * 1000) / streamMs)} msg/s durable with synchronous=FULL, ` +
      `${SENDERS} senders, 2 recipients each), ${deliveredOnline.length} delivered live`,
  );
  assert.ok(totalSent > totalAcked, 'the kill landed while sends were in flight');

  // ---- restart on the same file ------------------------------------------------------------
  const relay2 = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  t.after(() => relay2.stop());

  // Senders resubmit everything they never saw acked (what a client outbox does). A resubmit of a
  // message that was in fact stored must be a no-op that still answers `sent`.
  for (const s of senders) {
    const ws = await RelayWs.connect(relay2.wsUrl, s.token);
    t.after(() => ws.terminate());
    await ws.next('hello');
    const missing = [...s.sent.keys()].filter((id) => !s.acked.has(id));
    for (const id of missing) ws.send({ type: 'send', id, to, body: s.sent.get(id)! });
    for (const id of missing) {
      const r = await ws.next((f) => (f.type === 'sent' || f.type === 'error') && f.id === id, 10_000);
      assert.equal(r.type, 'sent', `resubmit of ${id}: ${JSON.stringify(r)}`);
      s.acked.add(id);
    }
    // Resubmitting an already-acked id is a no-op too.
    const some = [...ackedBefore.get(s.name)!][0]!;
    const again = await ws.sendMessage(some, to, s.sent.get(some)!);
    assert.equal(again.type, 'sent');
  }

  // Both receivers connect and drain their queues.
  const drain = async (token: string, into: Frame[]): Promise<void> => {
    const ws = await RelayWs.connect(relay2.wsUrl, token);
    t.after(() => ws.terminate());
    let drained = false;
    onFrames(ws, (f) => {
      if (f.type === 'message') {
        into.push(f);
        ws.ack(f.id);
      } else if (f.type === 'drained') drained = true;
    });
    await waitFor(() => drained, 20_000, 'drained');
    // Live traffic after `drained` could only be late resubmits; give them a moment.
    await sleep(200);
  };
  const afterOnline: Frame[] = [];
  const afterOffline: Frame[] = [];
  await drain(rOnlineToken, afterOnline);
  await drain(rOfflineToken, afterOffline);

  const allSent = new Map<string, string>();
  for (const s of senders) for (const [id, body] of s.sent) allSent.set(`${s.name}/${id}`, body);
  const check = (label: string, frames: Frame[], allowRedelivery: Frame[]): void => {
    const seen = new Map<string, number>();
    for (const f of frames) {
      const key = `${f.from.user}/${f.clientId}`;
      assert.equal(f.from.device, 1);
      assert.ok(allSent.has(key), `${label}: delivered a message nobody sent: ${key}`);
      assert.equal(f.body, allSent.get(key), `${label}: body of ${key} intact`);
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    const dupes = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
    assert.deepEqual(dupes, [], `${label}: the relay delivered these twice`);
    const delivered = new Set([...seen.keys(), ...allowRedelivery.map((f) => `${f.from.user}/${f.clientId}`)]);
    for (const s of senders) {
      const lost = [...ackedBefore.get(s.name)!].filter((id) => !delivered.has(`${s.name}/${id}`));
      assert.deepEqual(lost.slice(0, 10), [], `${label}: ${lost.length} messages acked by the relay before the crash were lost`);
      const lostAfter = [...s.acked].filter((id) => !delivered.has(`${s.name}/${id}`));
      assert.deepEqual(lostAfter.slice(0, 10), [], `${label}: ${lostAfter.length} resubmitted messages were lost`);
    }
  };
  // The offline receiver gets everything exactly once, after restart.
  check('offline receiver', afterOffline, []);
  // The online receiver may see a message again after restart if its ack was in flight at the
  // kill (at-least-once); after dedup by client id it has everything, and no message twice within
  // one connection.
  check('online receiver (after restart)', afterOnline, deliveredOnline);
  const liveKeys = new Set(deliveredOnline.map((f) => `${f.from.user}/${f.clientId}`));
  assert.equal(liveKeys.size, deliveredOnline.length, 'no duplicates on the live connection');
  assert.equal(afterOffline.length, allSent.size, 'the offline receiver got every message sent, once');
  t.diagnostic(`after restart: offline receiver ${afterOffline.length}, online receiver ${afterOnline.length} (${afterOnline.filter((f) => liveKeys.has(`${f.from.user}/${f.clientId}`)).length} redelivered)`);
});
