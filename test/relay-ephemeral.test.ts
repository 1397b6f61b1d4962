// Ephemeral sends against the real relay process (docs/RELAY.md "Ephemeral sends"): pushed to the
// recipient's devices connected at that moment, answered `relayed` either way, never written to the
// database, never delivered to a device that connects later, nothing for a recipient who blocks
// the sender; the new field is validated like the rest of the frame.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { RelayHttp, RelayWs } from './util/relay-client.js';
import { startRelayProcess } from './util/relay-process.js';

const b64 = (s: string) => Buffer.from(s).toString('base64url');
/** What the relay's files hold, main database and its WAL. */
function dbBytes(db: string): Buffer {
  return Buffer.concat([db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
}

/** A relay process with alice (connected, her backlog drained) and bob (logged in), stopped after the test. */
async function aliceAndBob(t: TestContext) {
  const relay = await startRelayProcess();
  t.after(() => relay.stop());
  const alice = new RelayHttp(relay.url);
  const bob = new RelayHttp(relay.url);
  await alice.signup('alice');
  await bob.signup('bob');
  const wa = await RelayWs.connect(relay.wsUrl, alice.token);
  t.after(() => wa.terminate());
  await wa.next('drained');
  return { relay, alice, bob, wa, to: [{ user: 'bob', device: 1 }] };
}

test('an ephemeral send reaches only a device connected now, is never stored, and is never delivered later', async (t) => {
  const { relay, bob, wa, to } = await aliceAndBob(t);

  // bob connected: pushed at once, as an `ephemeral` frame without a delivery id.
  const wb = await RelayWs.connect(relay.wsUrl, bob.token);
  await wb.next('drained');
  const live = b64('ephemeral-marker-while-connected');
  wa.send({ type: 'send', id: 'eph-live-1', to, body: live, ephemeral: true });
  assert.deepEqual(await wa.next((f) => f.id === 'eph-live-1'), { type: 'relayed', id: 'eph-live-1' });
  const got = await wb.next('ephemeral');
  assert.deepEqual({ ...got, sentAt: undefined }, { type: 'ephemeral', clientId: 'eph-live-1', from: { user: 'alice', device: 1 }, body: live, sentAt: undefined });
  assert.ok(Date.parse(got.sentAt) > 0);

  // bob gone: the same answer (the sender learns nothing of who is connected), and it is gone.
  await wb.close();
  const missed = b64('ephemeral-marker-while-away');
  wa.send({ type: 'send', id: 'eph-away-1', to, body: missed, ephemeral: true });
  assert.deepEqual(await wa.next((f) => f.id === 'eph-away-1'), { type: 'relayed', id: 'eph-away-1' });
  // A stored message after it, so a later connection has something to be pushed.
  assert.equal((await wa.sendMessage('stored-1', to, b64('stored body'))).type, 'sent');
  const wb2 = await RelayWs.connect(relay.wsUrl, bob.token);
  t.after(() => wb2.terminate());
  assert.equal((await wb2.next('hello')).queued, 1);
  assert.equal((await wb2.next('message')).clientId, 'stored-1');
  await wb2.next('drained');
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(
    wb2.frames.filter((f) => f.type === 'ephemeral' || f.type === 'message'),
    [],
    'an ephemeral send reached a device that connected after it',
  );

  // Neither body, nor either client id, was ever written to the database or its WAL.
  const files = dbBytes(relay.db);
  for (const needle of [live, missed, 'ephemeral-marker', 'eph-live-1', 'eph-away-1']) assert.ok(!files.includes(needle), `${needle} is in the relay's database`);
  for (const body of [live, missed]) assert.ok(!files.includes(Buffer.from(body, 'base64url')), 'an ephemeral body is in the relay\'s database');
  // The stored message is, in the same files: the scan can see a body when there is one.
  assert.ok(files.includes(Buffer.from('stored body')));
});

test('an ephemeral send is charged and checked like any send, and a recipient who blocks the sender gets nothing', async (t) => {
  const { relay, alice, bob, wa, to } = await aliceAndBob(t);
  const refusal = async (frame: { id: string; [k: string]: unknown }) => {
    wa.send(frame);
    const f = await wa.next((x) => x.id === frame.id);
    return `${f.type} ${f.code ?? ''}`.trim();
  };
  assert.equal(await refusal({ type: 'send', id: 'e1', to, body: 'aGk', ephemeral: false }), 'error bad_request');
  assert.equal(await refusal({ type: 'send', id: 'e2', to, body: 'aGk', ephemeral: true, synced: true }), 'error bad_request');
  assert.equal(await refusal({ type: 'send', id: 'e3', to, body: b64('x'.repeat(4097)), ephemeral: true }), 'error payload_too_large');
  assert.equal(await refusal({ type: 'send', id: 'e4', to, body: 'not base64!', ephemeral: true }), 'error bad_request');
  assert.equal(await refusal({ type: 'send', id: 'e5', to, body: b64('x'.repeat(4096)), ephemeral: true }), 'relayed');
  // Not over HTTP: a POST stores, and an ephemeral field there is an unknown one.
  assert.equal((await alice.request('POST', '/v1/messages', { id: 'e6', to, body: 'aGk', ephemeral: true })).status, 400);

  const wb = await RelayWs.connect(relay.wsUrl, bob.token);
  t.after(() => wb.terminate());
  await wb.next('drained');
  assert.equal((await bob.request('PUT', '/v1/blocks/alice')).status, 204);
  assert.equal(await refusal({ type: 'send', id: 'e7', to, body: b64('blocked typing'), ephemeral: true }), 'relayed');
  await assert.rejects(wb.next('ephemeral', 800), /no matching frame/, 'a blocked sender\'s ephemeral send was pushed');
  assert.equal((await bob.request('DELETE', '/v1/blocks/alice')).status, 204);
  assert.equal(await refusal({ type: 'send', id: 'e8', to, body: b64('unblocked typing'), ephemeral: true }), 'relayed');
  assert.equal((await wb.next('ephemeral')).clientId, 'e8');
});
