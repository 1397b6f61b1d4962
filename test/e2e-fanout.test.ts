// Fan-out to every device of an account, and "sent by me" copies (docs/PROTOCOL.md D.13,
// docs/CLI.md "Several devices"): the real `fastchat` binary in two homes of alice linked with
// `device link` / `device approve` and one of bob, a real relay process. What bob sends reaches both
// of alice's devices; what alice sends from one shows as sent on the other; a receipt from either
// device marks bob's message delivered; a device that stayed offline catches up in order.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines, type TestHome } from './util/fastchat-cli.js';
import { aliceBobAndLaptop, linkIn } from './util/linking.js';
import { withCore } from './util/client-core.js';

/** alice (device 1) and bob talking, then alice's laptop linked as her device 2. */
async function linkedWorld(t: TestContext) {
  const { relay, alice, bob, laptop } = await aliceBobAndLaptop(t, 'fastchat-fanout-');
  await bob.ok(['inbox']); // alice's receipt
  const link = linkIn(t, laptop, relay.url, 'alice');
  await alice.ok(['device', 'approve', (await link.waiting).code, '--yes']);
  const end = await link.done;
  assert.equal(end.code, 0, end.stderr);
  return { relay, alice, bob, laptop };
}

const inbox = async (h: TestHome): Promise<any[]> => jsonLines((await h.ok(['inbox', '--json'])).stdout);
const history = async (h: TestHome, peer: string): Promise<any[]> => jsonLines((await h.ok(['history', `@${peer}`, '-n', '100', '--json'])).stdout);
const statusOf = async (h: TestHome, peer: string, id: string): Promise<string> => (await history(h, peer)).find((m) => m.id === id)?.status;
const sendId = async (h: TestHome, peer: string, text: string): Promise<string> => {
  const r = JSON.parse((await h.ok(['send', `@${peer}`, text, '--json'])).stdout);
  assert.equal(r.status, 'sent', JSON.stringify(r));
  return r.id;
};

test('with alice on two linked devices: bob reaches both, what alice sends from one shows as sent on the other, and a receipt from either marks it delivered', { timeout: 300_000 }, async (t) => {
  const { alice, bob, laptop } = await linkedWorld(t);

  // bob already has a session with alice's device 1 only: the list now names device 2 too.
  const first = await sendId(bob, 'alice', 'to both of you');
  assert.deepEqual((await inbox(alice)).map((m) => [m.from, m.text]), [['bob', 'to both of you']]);
  assert.deepEqual((await inbox(laptop)).map((m) => [m.from, m.text]), [['bob', 'to both of you']]);
  assert.equal((await inbox(bob)).length, 0);
  assert.equal(await statusOf(bob, 'alice', first), 'delivered');

  // A receipt from the laptop alone marks bob's next message delivered.
  const second = await sendId(bob, 'alice', 'read me on the laptop');
  assert.deepEqual((await inbox(laptop)).map((m) => m.text), ['read me on the laptop']);
  await bob.ok(['inbox']);
  assert.equal(await statusOf(bob, 'alice', second), 'delivered', 'the receipt from device 2 counts');
  assert.deepEqual((await inbox(alice)).map((m) => m.text), ['read me on the laptop']);

  // alice writes from device 1: bob gets it, and the laptop shows it as sent by alice.
  const fromDesk = await sendId(alice, 'bob', 'written on the desktop');
  assert.deepEqual((await inbox(bob)).map((m) => [m.from, m.text]), [['alice', 'written on the desktop']]);
  const copies = await inbox(laptop);
  assert.deepEqual(copies.map((m) => [m.id, m.from, m.to, m.text, m.sentFrom]), [[fromDesk, 'alice', 'bob', 'written on the desktop', 1]]);
  // bob's receipt went to each of alice's devices: on the laptop the copy is delivered too.
  const onLaptop = (await history(laptop, 'bob')).find((m) => m.id === fromDesk);
  assert.deepEqual([onLaptop?.from, onLaptop?.to, onLaptop?.text, onLaptop?.status], ['alice', 'bob', 'written on the desktop', 'delivered']);

  // And the other way round: from the laptop, seen as sent on the desktop.
  const fromLaptop = await sendId(laptop, 'bob', 'written on the laptop');
  assert.deepEqual((await inbox(bob)).map((m) => [m.from, m.text]), [['alice', 'written on the laptop']]);
  assert.deepEqual((await inbox(alice)).map((m) => [m.id, m.to, m.text, m.sentFrom]), [[fromLaptop, 'bob', 'written on the laptop', 2]]);
  const desk = await history(alice, 'bob');
  assert.deepEqual(desk.slice(-2).map((m) => [m.from, m.text]), [['alice', 'written on the desktop'], ['alice', 'written on the laptop']]);

  // bob's reply reaches both, and nothing arrives twice.
  await bob.ok(['send', '@alice', 'got both']);
  assert.deepEqual((await inbox(alice)).map((m) => m.text), ['got both']);
  assert.deepEqual((await inbox(laptop)).map((m) => m.text), ['got both']);
  assert.equal((await inbox(alice)).length, 0);
});

test('a device that stays offline while the other is in use catches up in order: what bob sent and what alice sent from the other device', { timeout: 300_000 }, async (t) => {
  const { alice, bob, laptop } = await linkedWorld(t);
  const expected: [string, string][] = [];
  for (let i = 0; i < 4; i++) {
    await bob.ok(['send', '@alice', `bob ${i}`]);
    expected.push(['in', `bob ${i}`]);
    assert.deepEqual((await inbox(alice)).map((m) => m.text), [`bob ${i}`]);
    await alice.ok(['send', '@bob', `alice ${i}`]);
    expected.push(['out', `alice ${i}`]);
  }
  // The laptop comes back: one pass takes everything queued for it, in the order it was sent.
  await inbox(laptop);
  const seen = (await history(laptop, 'bob')).map((m) => [m.from === 'alice' ? 'out' : 'in', m.text]);
  assert.deepEqual(seen, expected);
  assert.deepEqual((await inbox(bob)).map((m) => m.text), ['alice 0', 'alice 1', 'alice 2', 'alice 3']);
});

test("a new device that writes first is taken as the contact's own: bob checks alice's newest list and sees no key change", { timeout: 300_000 }, async (t) => {
  const { alice, bob, laptop } = await linkedWorld(t);
  // bob's pinned list of alice is still version 1 (device 1 only): the laptop's first message
  // names an identity it does not hold, and version 2 does.
  await laptop.ok(['send', '@bob', 'hello from my laptop']);
  const got = await inbox(bob);
  assert.deepEqual(got.map((m) => [m.from, m.text, m.identityChanged ?? false]), [['alice', 'hello from my laptop', false]]);
  const contact = jsonLines((await bob.ok(['contacts', '--json'])).stdout).find((k) => k.username === 'alice');
  assert.equal(contact.trust, 'unverified', 'not a key change');
  await bob.ok(['send', '@alice', 'nice laptop']);
  assert.deepEqual((await inbox(laptop)).map((m) => m.text), ['nice laptop']);
  assert.deepEqual((await inbox(alice)).map((m) => m.text ?? m.error?.code), ['hello from my laptop', 'nice laptop']);
});

test("a long-running sender checks bob's list and its own once: the next line and its copy are encrypted in the transaction that queues them", { timeout: 300_000 }, async (t) => {
  const { alice, bob, laptop } = await linkedWorld(t);
  await withCore(alice, async (c) => {
    // As chat runs: the core in this process, flushing after each line.
    const { deliverOutbox, queueText } = await import('../client/core/outbox.js');
    const { listedDevices } = await import('../client/core/fanout.js');
    const { relayTarget } = await import('../client/core/context.js');
    assert.ok(listedDevices(c, 'bob') !== null, "bob's list is pinned (else there is no check to make)");
    const payloadRows = (peer: string): number => (c.db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE peer = ? AND envelope IS NULL').get(peer) as { n: number }).n;
    // Started, it flushes (our own list is checked then: the laptop gets copies).
    const target = relayTarget(c);
    await deliverOutbox(c, target);
    // No check of bob's lists in this process yet: the line waits for the flush, which makes it.
    queueText(c, 'bob', 'first of the session');
    assert.equal(payloadRows('bob'), 1);
    assert.equal((await deliverOutbox(c, target)).pending, 0);
    // Checked by that flush (client/core/outbox.ts notes it): not again for LIST_RECHECK_MS.
    queueText(c, 'bob', 'second of the session');
    assert.equal(payloadRows('bob') + payloadRows('alice'), 0, 'encrypted in the transaction that queued them, the copy too');
    assert.equal((c.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE peer = 'alice'").get() as { n: number }).n, 1, 'the copy for the laptop');
    assert.equal((await deliverOutbox(c, target)).pending, 0);
  });
  assert.deepEqual((await inbox(bob)).map((m) => m.text), ['first of the session', 'second of the session']);
  assert.deepEqual((await inbox(laptop)).map((m) => [m.to, m.text]), [['bob', 'first of the session'], ['bob', 'second of the session']]);
});
