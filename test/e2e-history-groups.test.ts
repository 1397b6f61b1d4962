// Group history for a device just linked (docs/PROTOCOL.md D.12 step 4, §12.2; docs/CLI.md "device
// approve --history"): the real `fastchat` binary in two homes of alice and one each of bob and
// carol, a real relay process. alice's group with bob and carol, with messages from all three,
// shows on her new laptop as her desk holds it, in order and not unread; a history batch from her
// own device naming a group the laptop does not hold is refused whole (history_unknown_group).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withCore } from './util/client-core.js';
import { converse, jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { linkIn } from './util/linking.js';
import { startRelayProcess } from './util/relay-process.js';
import { RELAY_TEST_ARGS } from './util/fault.js';

const history = async (h: TestHome, conv: string): Promise<any[]> => jsonLines((await h.ok(['history', conv, '-n', '1000', '--json'])).stdout);
const inbox = async (h: TestHome): Promise<any[]> => jsonLines((await h.ok(['inbox', '--json'])).stdout);
/** What two devices must agree on about a group message. */
const view = (m: any) => [m.id, m.from, m.text, m.sentAt, m.status];

test("device approve --history: the new device shows alice's group with bob and carol as her desk holds it, in order, nothing unread; a batch for a group it does not hold is refused whole", { timeout: 600_000 }, async (t) => {
  const tmp = makeTempRoot('fastchat-history-groups-');
  const relay = await startRelayProcess({ args: RELAY_TEST_ARGS });
  t.after(async () => {
    await relay.stop();
    tmp.cleanup();
  });
  const [alice, bob, carol, laptop] = ['alice', 'bob', 'carol', 'laptop'].map((n) => makeHome(tmp.root, n)) as [TestHome, TestHome, TestHome, TestHome];
  await Promise.all([setUpUser(alice, relay.url), setUpUser(bob, relay.url), setUpUser(carol, relay.url)]);
  await converse(alice, bob);
  await converse(alice, carol);
  await alice.ok(['group', 'create', '#team', '@bob', '@carol']);
  for (const h of [bob, carol]) await h.ok(['inbox']);
  for (let i = 0; i < 2; i++) {
    for (const h of [alice, bob, carol]) {
      await h.ok(['send', '#team', `${h === alice ? 'alice' : h === bob ? 'bob' : 'carol'} ${i}`]);
    }
  }
  await alice.ok(['inbox']);
  const before = await history(alice, '#team');
  assert.deepEqual(before.map((m) => m.text), ['alice 0', 'bob 0', 'carol 0', 'alice 1', 'bob 1', 'carol 1']);

  const l = linkIn(t, laptop, relay.url, 'alice');
  const code = (await l.waiting).code;
  const approved = alice.ok(['device', 'approve', code, '--yes', '--json', '--history'], { timeoutMs: 120_000 });
  const end = await l.done;
  assert.equal(end.code, 0, end.stderr);
  const r = JSON.parse((await approved).stdout);
  // The conversations with bob and carol (a message each way, from converse) and the group's six.
  assert.deepEqual([r.approved, r.device, r.history.entries, r.history.skipped, r.history.pending], [true, 2, 10, 0, 0]);

  const taken = await laptop.run(['inbox', '--json']);
  assert.equal(taken.code, 0, taken.stderr);
  assert.deepEqual(jsonLines(taken.stdout).filter((m) => m.group), [], 'no group message shows as new');
  assert.match(taken.stderr, /took 6 messages of history from your device 1/);
  assert.deepEqual((await history(laptop, '#team')).map(view), before.map(view));
  assert.deepEqual(await inbox(laptop), [], 'nothing of it is unread');

  // A batch from the desk for a group the laptop does not hold: refused whole, nothing stored.
  const stranger = 'ab'.repeat(32);
  await withCore(alice, async (c) => {
    const { queueForOwnDevice, encryptQueued, flushOutbox } = await import('../client/core/outbox.js');
    const { relayTarget } = await import('../client/core/context.js');
    const { tx } = await import('../client/core/db.js');
    const sentAt = new Date().toISOString();
    const entry = (group: string, id: string) => ({ group, sender: 'bob', direction: 'in' as const, id, sentAt, text: 'never stored', status: 'received' as const });
    tx(c.db, () => queueForOwnDevice(c, 2, { v: 1, type: 'history', id: 'unknowngroup1', sentAt, entries: [entry(stranger, 'x1')] }));
    await encryptQueued(c, relayTarget(c));
    assert.equal((await flushOutbox(c, relayTarget(c))).sent, 1);
  });
  const refused = await inbox(laptop);
  assert.deepEqual(refused.map((m) => [m.from, m.error?.code]), [['alice', 'history_unknown_group']]);
  assert.deepEqual((await history(laptop, '#team')).map(view), before.map(view));

  // And the group goes on from there on the laptop.
  await bob.ok(['send', '#team', 'after the link']);
  assert.deepEqual((await inbox(laptop)).filter((m) => m.group).map((m) => m.text), ['after the link']);
  assert.deepEqual((await history(laptop, '#team')).map((m) => m.text), [...before.map((m) => m.text), 'after the link']);
});
