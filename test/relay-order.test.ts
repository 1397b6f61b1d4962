// The relay's own defence of per-recipient order on a connection (docs/RELAY.md "Order"), against
// a real relay process with a small queue quota: a send that does not fit is refused queue_full,
// and a smaller one right behind it to the same recipient, which would fit, must not be stored
// ahead of it — the relay refuses it (out_of_order) until the refused one is sent again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { RELAY_TEST_ARGS, sleep } from './util/fault.js';

const QUOTA = 1000;
const body = (bytes: number, tag: string): string => Buffer.from(tag.padEnd(bytes, '.')).toString('base64url');
const answer = (ws: RelayWs, id: string): Promise<Frame> => ws.next((f) => (f.type === 'sent' || f.type === 'error') && f.id === id, 10_000);
const outcome = (f: Frame): string => (f.type === 'sent' ? 'sent' : f.code);

test('after a retryable refusal the relay refuses later sends on that connection to the same recipient until the refused one is resent', { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--queue-max-bytes', String(QUOTA)] });
  t.after(() => relay.stop());
  const tokens: Record<string, string> = {};
  for (const n of ['alice', 'bob', 'carol']) tokens[n] = await new RelayHttp(relay.url).signup(n);
  const bobAddr = [{ user: 'bob', device: 1 }];
  const alice = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  t.after(() => alice.ws.terminate());
  await alice.next('hello');

  assert.equal(outcome(await alice.sendMessage('a1', bobAddr, body(600, 'a1'))), 'sent');
  // Back to back, as a pipelining client sends them: a2 does not fit bob's quota, a3 would.
  alice.send({ type: 'send', id: 'a2', to: bobAddr, body: body(600, 'a2') });
  alice.send({ type: 'send', id: 'a3', to: bobAddr, body: body(100, 'a3') });
  assert.equal(outcome(await answer(alice, 'a2')), 'queue_full');
  assert.equal(outcome(await answer(alice, 'a3')), 'out_of_order');
  // Still held later, and only for bob: carol's queue is another matter.
  assert.equal(outcome(await alice.sendMessage('a4', bobAddr, body(100, 'a4'))), 'out_of_order');
  assert.equal(outcome(await alice.sendMessage('c1', [{ user: 'carol', device: 1 }], body(100, 'c1'))), 'sent');

  // Bob takes a1 and acks it; alice sends a2 again until it fits, then the rest in order.
  const bob = await RelayWs.connect(relay.wsUrl, tokens.bob!);
  t.after(() => bob.ws.terminate());
  await bob.next('hello');
  const first = await bob.next('message');
  assert.equal(first.clientId, 'a1');
  bob.ack(String(first.id));
  let a2 = 'queue_full';
  for (let i = 0; i < 100 && a2 === 'queue_full'; i++) {
    a2 = outcome(await alice.sendMessage('a2', bobAddr, body(600, 'a2')));
    if (a2 === 'queue_full') await sleep(50);
  }
  assert.equal(a2, 'sent');
  assert.equal(outcome(await alice.sendMessage('a3', bobAddr, body(100, 'a3'))), 'sent');
  assert.equal(outcome(await alice.sendMessage('a4', bobAddr, body(100, 'a4'))), 'sent');
  const order: string[] = [];
  for (let i = 0; i < 3; i++) order.push(String((await bob.next('message', 10_000)).clientId));
  assert.deepEqual(order, ['a2', 'a3', 'a4']);
});

test('a new connection starts without holds: the order rule is per connection', { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--queue-max-bytes', String(QUOTA)] });
  t.after(() => relay.stop());
  const tokens: Record<string, string> = {};
  for (const n of ['alice', 'bob']) tokens[n] = await new RelayHttp(relay.url).signup(n);
  const bobAddr = [{ user: 'bob', device: 1 }];
  const first = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  await first.next('hello');
  assert.equal(outcome(await first.sendMessage('b1', bobAddr, body(900, 'b1'))), 'sent');
  assert.equal(outcome(await first.sendMessage('b2', bobAddr, body(600, 'b2'))), 'queue_full');
  assert.equal(outcome(await first.sendMessage('b3', bobAddr, body(50, 'b3'))), 'out_of_order');
  await first.close();
  const second = await RelayWs.connect(relay.wsUrl, tokens.alice!);
  t.after(() => second.ws.terminate());
  await second.next('hello');
  assert.equal(outcome(await second.sendMessage('b3', bobAddr, body(50, 'b3'))), 'sent');
});
