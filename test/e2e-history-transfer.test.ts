// History for a device just linked (docs/PROTOCOL.md D.12 step 4, docs/CLI.md "device approve
// --history"): the real `fastchat` binary in two homes of alice and one of bob, a real relay
// process. With --history the laptop shows alice's conversation with bob as her desktop holds it,
// in order and read; without it, nothing of before. A `history` payload from a contact is refused
// and stores nothing (a relay-minted device of alice's: test/hostile-relay-device-lists.test.ts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines, type TestHome } from './util/fastchat-cli.js';
import { aliceBobAndLaptop, linkIn } from './util/linking.js';
import { withCore } from './util/client-core.js';

/** alice and bob with a conversation of a few messages each way, and alice's laptop not linked yet. */
async function talkingWorld(t: TestContext) {
  const { relay, alice, bob, laptop } = await aliceBobAndLaptop(t, 'fastchat-history-');
  for (let i = 0; i < 3; i++) {
    await alice.ok(['send', '@bob', `alice ${i}`]);
    await bob.ok(['send', '@alice', `bob ${i}`]);
  }
  await alice.ok(['inbox']);
  await bob.ok(['inbox']);
  return { relay, alice, bob, laptop };
}

const history = async (h: TestHome, peer: string): Promise<any[]> => jsonLines((await h.ok(['history', `@${peer}`, '-n', '1000', '--json'])).stdout);
const inbox = async (h: TestHome): Promise<any[]> => jsonLines((await h.ok(['inbox', '--json'])).stdout);
/** What two devices must agree on about a message. */
const view = (m: any) => [m.id, m.from, m.to, m.text, m.sentAt, m.status];

/**
 * The history arrives with the laptop's first receive pass: stored as read, so nothing prints, and
 * the conversation with bob is then `before`, in order, with nothing unread.
 */
async function takesHistory(laptop: TestHome, before: any[]): Promise<void> {
  const taken = await laptop.run(['inbox', '--json']);
  assert.equal(taken.code, 0, taken.stderr);
  assert.deepEqual(jsonLines(taken.stdout), []);
  assert.match(taken.stderr, /took 8 messages of history from your device 1/);
  assert.deepEqual((await history(laptop, 'bob')).map(view), before.map(view));
  assert.deepEqual(await inbox(laptop), [], 'nothing of it is unread');
}

async function link(t: TestContext, relayUrl: string, alice: TestHome, laptop: TestHome, approveArgs: string[]): Promise<any> {
  const l = linkIn(t, laptop, relayUrl, 'alice');
  const code = (await l.waiting).code;
  const approved = alice.ok(['device', 'approve', code, '--yes', '--json', ...approveArgs], { timeoutMs: 120_000 });
  const end = await l.done;
  assert.equal(end.code, 0, end.stderr);
  return JSON.parse((await approved).stdout);
}

test('device approve --history: the new device shows the conversation with bob as the approving one holds it, in order, not unread, and bob gets nothing', { timeout: 300_000 }, async (t) => {
  const { relay, alice, bob, laptop } = await talkingWorld(t);
  const before = await history(alice, 'bob');
  assert.equal(before.length, 8);
  const r = await link(t, relay.url, alice, laptop, ['--history']);
  assert.deepEqual([r.approved, r.device, r.history], [true, 2, { entries: 8, payloads: 1, skipped: 0, pending: 0 }]);

  // bob's messages to alice, marked back to sent on bob's side: a receipt from the laptop for any
  // of the entries it takes would mark them delivered again.
  const bobSent = await withCore(bob, (c) => c.db.prepare("UPDATE messages SET status = 'sent' WHERE peer = 'alice' AND direction = 'out'").run().changes);
  assert.equal(bobSent, 4);

  await takesHistory(laptop, before);
  // No receipt went to bob for the messages the laptop took.
  await bob.ok(['inbox']);
  assert.deepEqual((await history(bob, 'alice')).filter((m) => m.from === 'bob').map((m) => m.status), ['sent', 'sent', 'sent', 'sent']);

  // Taken once: a replay of the same entries (sent again from the desktop's store) adds nothing.
  const again = await withCore(alice, async (c) => {
    const { sendHistory } = await import('../client/core/history-transfer.js');
    const { relayTarget } = await import('../client/core/context.js');
    return sendHistory(c, relayTarget(c), 2, () => undefined);
  });
  assert.equal(again.entries, 8);
  const second = await laptop.run(['inbox', '--json']);
  assert.match(second.stderr, /took 0 messages of history/);
  assert.deepEqual((await history(laptop, 'bob')).map(view), before.map(view));

  // And the conversation goes on from there on both devices.
  await bob.ok(['send', '@alice', 'after the link']);
  assert.deepEqual((await inbox(laptop)).map((m) => m.text), ['after the link']);
  assert.deepEqual((await history(laptop, 'bob')).map((m) => m.text), [...before.map((m) => m.text), 'after the link']);
});

test('device approve without --history: the new device holds none of the conversation from before the link, until `device history 2` sends it', { timeout: 300_000 }, async (t) => {
  const { relay, alice, laptop } = await talkingWorld(t);
  const before = await history(alice, 'bob');
  const r = await link(t, relay.url, alice, laptop, []);
  assert.deepEqual([r.approved, r.device, 'history' in r], [true, 2, false]);
  await laptop.ok(['inbox']);
  assert.deepEqual(await history(laptop, 'bob'), []);

  // Not to this device, not to a device the list does not hold, not to something not a device id.
  for (const [n, code, exit] of [['1', 'own_device', 1], ['3', 'unknown_device', 1], ['two', 'usage', 2]] as const) {
    const refused = await alice.run(['device', 'history', n, '--json']);
    assert.equal(refused.code, exit, refused.stderr);
    assert.equal(JSON.parse(refused.stderr).error.code, code);
    assert.equal(refused.stdout, '');
  }
  // Sent later, by the same path as at approval: in order, not unread.
  const sent = JSON.parse((await alice.ok(['device', 'history', '2', '--json'])).stdout);
  assert.deepEqual(sent, { device: 2, history: { entries: 8, payloads: 1, skipped: 0, pending: 0 } });
  await takesHistory(laptop, before);
});

test('a history payload from a contact is refused: it shows as a failed message and adds nothing to the conversation', { timeout: 300_000 }, async (t) => {
  const { alice, bob } = await talkingWorld(t);
  const before = await history(alice, 'bob');
  // bob's own client, over his real session with alice, sends what only alice's devices may.
  await withCore(bob, async (c) => {
    const { encodePayload } = await import('../client/core/payload.js');
    const { deliverOutbox, outboxRowKey } = await import('../client/core/outbox.js');
    const { relayTarget } = await import('../client/core/context.js');
    const sentAt = new Date().toISOString();
    const p = {
      v: 1 as const,
      type: 'history' as const,
      id: 'forgedhistory1',
      sentAt,
      entries: [
        { peer: 'bob', direction: 'out' as const, id: 'forged1', sentAt, text: 'alice never wrote this', status: 'delivered' as const },
        { peer: 'carol', direction: 'in' as const, id: 'forged2', sentAt, text: 'nor got this', status: 'received' as const },
      ],
    };
    c.db
      .prepare("INSERT INTO outbox (message_id, kind, peer, payload, created_at) VALUES (?, 'text', 'alice', ?, ?)")
      .run(p.id, Buffer.from(c.sealer.seal('outbox', outboxRowKey('alice', p.id, 'text'), encodePayload(p))), c.now());
    const sent = await deliverOutbox(c, relayTarget(c));
    assert.equal(sent.sent, 1);
  });
  const got = await inbox(alice);
  assert.deepEqual(got.map((m) => [m.from, m.error?.code]), [['bob', 'bad_payload']]);
  // (bob's receipts for alice's last messages arrived in the same pass: statuses may move on.)
  const texts = (l: any[]) => l.filter((m) => !m.error).map((m) => [m.id, m.from, m.text]);
  assert.deepEqual(texts(await history(alice, 'bob')), texts(before));
  assert.deepEqual(await history(alice, 'carol'), []);
});
