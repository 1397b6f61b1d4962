// GET /metrics of a real relay tracks what operators watch: open connections, messages stored and
// delivered, queue depth, rejects by error code and login latency. Each number is checked against
// traffic the test made, so a metric that is declared but never updated fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { RELAY_TEST_ARGS, waitFor } from './util/fault.js';

/** The value of one sample line, e.g. metric(text, 'fastchat_rejects_total{code="queue_full"}'). */
function metric(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    if (line.slice(0, i) === name) return Number(line.slice(i + 1));
  }
  return undefined;
}

test('metrics count connections, stored and delivered messages, queue depth, rejects by code and login latency', { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--queue-max-messages', '5'] });
  t.after(() => relay.stop());
  const scrape = async (): Promise<string> => {
    const r = await fetch(`${relay.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    return r.text();
  };
  const before = await scrape();
  assert.equal(metric(before, 'fastchat_ws_connections'), 0);
  assert.equal(metric(before, 'fastchat_messages_stored_total'), 0);
  assert.equal(metric(before, 'fastchat_commit_seconds_count'), 0);

  const http = new RelayHttp(relay.url);
  const bobToken = await http.signup('bob');
  const aliceToken = await http.signup('alice');
  assert.equal((await http.request('POST', '/v1/sessions', { username: 'alice', password: 'not the password' }, { token: null })).status, 401);

  const alice = await RelayWs.connect(relay.wsUrl, aliceToken);
  t.after(() => alice.terminate());
  await alice.next('hello');
  // 7 sends to offline bob with a quota of 5: 5 stored, the sixth refused with queue_full and the
  // seventh with out_of_order (it waits for the sixth, docs/RELAY.md "Order"); m5 sent again: refused again.
  const answers: Frame[] = [];
  for (let i = 0; i < 7; i++) answers.push(await alice.sendMessage(`m${i}`, [{ user: 'bob', device: 1 }], 'AQID'));
  answers.push(await alice.sendMessage('m5', [{ user: 'bob', device: 1 }], 'AQID'));
  assert.deepEqual(answers.map((a) => a.code ?? a.type), ['sent', 'sent', 'sent', 'sent', 'sent', 'queue_full', 'out_of_order', 'queue_full']);
  alice.sendRaw('{"type":"nope"}');
  await alice.next('error');

  const mid = await scrape();
  assert.equal(metric(mid, 'fastchat_ws_connections'), 1);
  assert.equal(metric(mid, 'fastchat_messages_stored_total'), 5);
  assert.equal(metric(mid, 'fastchat_queue_depth'), 5);
  assert.equal(metric(mid, 'fastchat_rejects_total{code="queue_full"}'), 2);
  assert.equal(metric(mid, 'fastchat_rejects_total{code="out_of_order"}'), 1);
  assert.equal(metric(mid, 'fastchat_rejects_total{code="bad_credentials"}'), 1);
  assert.equal(metric(mid, 'fastchat_rejects_total{code="bad_request"}'), 1);
  // Each of the 7 + 1 sends was committed in some batch, and each batch was timed.
  assert.ok(metric(mid, 'fastchat_commit_seconds_count')! >= 1);
  assert.ok(metric(mid, 'fastchat_commit_seconds_count')! <= 8);
  assert.ok(metric(mid, 'fastchat_commit_seconds_sum')! > 0);
  // Three logins (two signups and the failed one) were timed.
  assert.equal(metric(mid, 'fastchat_login_seconds_count'), 3);
  assert.ok(metric(mid, 'fastchat_login_seconds_sum')! > 0);
  assert.ok(metric(mid, 'fastchat_login_seconds_bucket{le="+Inf"}') === 3);

  // Bob connects, receives and acks 3 of the 5.
  const bob = await RelayWs.connect(relay.wsUrl, bobToken);
  t.after(() => bob.terminate());
  await bob.next('hello');
  for (let i = 0; i < 5; i++) {
    const m = await bob.next('message');
    if (i < 3) bob.ack(m.id);
  }
  await waitFor(async () => metric(await scrape(), 'fastchat_messages_delivered_total') === 3, 5000, 'delivered to reach 3');
  const after = await scrape();
  assert.equal(metric(after, 'fastchat_ws_connections'), 2);
  assert.equal(metric(after, 'fastchat_queue_depth'), 2);
  assert.ok(metric(after, 'fastchat_messages_pushed_total')! >= 5);
  // Process metrics come along (memory, event loop) for the same dashboard.
  assert.ok(metric(after, 'process_resident_memory_bytes')! > 0);

  await alice.close();
  await waitFor(async () => metric(await scrape(), 'fastchat_ws_connections') === 1, 5000, 'connections to drop to 1');
});
