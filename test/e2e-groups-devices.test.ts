// A group with both of alice's devices (docs/PROTOCOL.md "Groups", G.1, G.5, G.9; docs/CLI.md
// "Several devices"): the real `fastchat` binary in two homes of alice linked with `device link` /
// `device approve`, one home each for bob and carol, a real relay process. Groups name accounts:
// what a member sends reaches every device of every other member and the sender's own other
// devices; either device of alice can send and change the group; a device linked later learns the
// groups from the account's other device; and removing a device makes every
// member make a new sender key before its next send, so the removed device reads nothing after.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { processIncoming } from '../client/core/incoming.js';
import { closeAgents } from '../client/core/relay-http.js';
import { withCore } from './util/client-core.js';
import { converse, jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { isGroupBody, relayAs, relayBodies } from './util/group-e2e.js';
import { linkIn } from './util/linking.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';

/** alice (desk, device 1) has talked with bob and carol; then her laptop is linked as device 2. */
async function world(t: TestContext) {
  const tmp = makeTempRoot('fastchat-groups-devices-');
  const relay = await startRelayProcess({ args: ['--rate-limit-address', '1000'] });
  t.after(async () => {
    closeAgents();
    await relay.stop();
    tmp.cleanup();
  });
  const alice = makeHome(tmp.root, 'alice');
  const bob = makeHome(tmp.root, 'bob');
  const carol = makeHome(tmp.root, 'carol');
  const laptop = makeHome(tmp.root, 'laptop');
  await Promise.all([setUpUser(alice, relay.url), setUpUser(bob, relay.url), setUpUser(carol, relay.url)]);
  await converse(alice, bob);
  await converse(alice, carol);
  // A group from before the laptop: it learns it from the desk once linked.
  await alice.ok(['group', 'create', '#early', '@bob']);
  await bob.ok(['inbox']);
  const link = linkIn(t, laptop, relay.url, 'alice');
  await alice.ok(['device', 'approve', (await link.waiting).code, '--yes']);
  const end = await link.done;
  assert.equal(end.code, 0, end.stderr);
  return { relay, alice, bob, carol, laptop };
}

const inbox = async (h: TestHome): Promise<any[]> => jsonLines((await h.ok(['inbox', '--json'])).stdout);
const groupTexts = async (h: TestHome): Promise<string[]> => (await inbox(h)).filter((m) => m.group).map((m) => `${m.group}:${m.from}:${m.text ?? JSON.stringify(m.error)}`);
const info = async (h: TestHome, group: string): Promise<any> => JSON.parse((await h.ok(['group', 'info', group, '--json'])).stdout);

/** What `home` makes of captured relay bodies from `from`: the kinds its client core returns. */
async function feed(home: TestHome, from: string, bodies: { clientId: string; body: string }[]): Promise<string[]> {
  return withCore(home, (c) =>
    bodies.map((b, i) => processIncoming(c, { type: 'message', id: `captured-${i}`, clientId: `captured-${b.clientId}`, from: { user: from, device: 1 }, body: b.body, sentAt: new Date().toISOString() }).kind),
  );
}

test("a group with both of alice's devices: each reads and sends, a change on one applies on the other, and a removed device reads nothing sent after", { timeout: 600_000 }, async (t) => {
  const { relay, alice, bob, carol, laptop } = await world(t);

  // The group is made on the desk; the laptop holds it too (it is alice), listed under her account key.
  await alice.ok(['group', 'create', '#team', '@bob', '@carol']);
  for (const h of [bob, carol]) await h.ok(['inbox']);
  await laptop.ok(['inbox']);
  const onLaptop = await info(laptop, '#team');
  assert.deepEqual([onLaptop.status, onLaptop.members.map((m: any) => m.user)], ['active', ['alice', 'bob', 'carol']]);

  // bob's message reaches both of alice's devices (and carol).
  await bob.ok(['send', '#team', 'from bob']);
  assert.deepEqual(await groupTexts(alice), ['team:bob:from bob']);
  assert.deepEqual(await groupTexts(laptop), ['team:bob:from bob']);
  assert.deepEqual(await groupTexts(carol), ['team:bob:from bob']);

  // alice on the desk: bob and carol read it, and the laptop shows it as sent by alice.
  await alice.ok(['send', '#team', 'from the desk']);
  assert.deepEqual(await groupTexts(bob), ['team:alice:from the desk']);
  assert.deepEqual(await groupTexts(carol), ['team:alice:from the desk']);
  assert.deepEqual(await groupTexts(laptop), ['team:alice:from the desk']);

  // And from the laptop, with its own sender key.
  const held = new Set(relayBodies(relay, 'alice', 'bob').map((b) => b.clientId));
  await laptop.ok(['send', '#team', 'from the laptop']);
  const laptopBody = relayBodies(relay, 'alice', 'bob').find((b) => !held.has(b.clientId) && isGroupBody(b))!;
  assert.ok(laptopBody, "the laptop's group message was captured");
  assert.deepEqual(await groupTexts(bob), ['team:alice:from the laptop']);
  assert.deepEqual(await groupTexts(carol), ['team:alice:from the laptop']);
  assert.deepEqual(await groupTexts(alice), ['team:alice:from the laptop']);
  // The relay mints a device 3 of alice (her signed list holds 1 and 2) and sends the laptop's
  // message again from it: bob refuses it; it is not a device of the member alice.
  const minted = await relayAs(relay, 'alice', 3);
  try {
    assert.equal((await minted.sendMessage('minted-3', [{ user: 'bob', device: 1 }], laptopBody.body)).type, 'sent');
  } finally {
    await minted.close();
  }
  const refused = await inbox(bob);
  assert.deepEqual(refused.map((m) => [m.text, m.error?.code]), [[null, 'not_a_member']]);
  assert.match(refused[0].error.message, /device 3 of @alice is not one of their listed devices/);
  const deskHistory = jsonLines((await alice.ok(['history', '#team', '--json'])).stdout).map((m) => `${m.from}:${m.text}`);
  assert.deepEqual(deskHistory, ['bob:from bob', 'alice:from the desk', 'alice:from the laptop']);

  // The group made before the laptop was linked: the desk shared it, and bob's key reaches the laptop.
  const early = await info(laptop, '#early');
  assert.deepEqual([early.status, early.members.map((m: any) => m.user)], ['active', ['alice', 'bob']]);
  await bob.ok(['send', '#early', 'old group, new laptop']);
  assert.deepEqual(await groupTexts(laptop), ['early:bob:old group, new laptop']);
  assert.deepEqual(await groupTexts(alice), ['early:bob:old group, new laptop']);

  // A change made on the laptop (signed with the account key) applies everywhere, the desk included.
  await laptop.ok(['group', 'rename', '#team', 'crew']);
  for (const h of [alice, bob, carol]) {
    await h.ok(['inbox']);
    assert.equal((await info(h, '#crew')).epoch, 1, h.name);
  }
  await carol.ok(['send', '#crew', 'renamed']);
  assert.deepEqual(await groupTexts(laptop), ['crew:carol:renamed']);
  assert.deepEqual(await groupTexts(alice), ['crew:carol:renamed']);
  await bob.ok(['inbox']);

  // The laptop is removed on the desk. Every member's next send is under a new key the laptop
  // never gets: fed what the relay carried to alice afterwards, its store opens none of it.
  await alice.ok(['device', 'remove', '2', '--yes']);
  // Captured before the recipient's next command acknowledges (and the relay drops) them.
  const sentNow = async (from: TestHome, to: string, text: string): Promise<{ clientId: string; body: string }[]> => {
    const held = new Set(relayBodies(relay, from.name, to).map((b) => b.clientId));
    await from.ok(['send', '#crew', text]);
    return relayBodies(relay, from.name, to).filter((b) => !held.has(b.clientId));
  };
  const fromBob = await sentNow(bob, 'alice', 'after the removal (bob)');
  const fromAlice = await sentNow(alice, 'bob', 'after the removal (alice)');
  assert.ok(fromBob.some(isGroupBody) && fromAlice.some(isGroupBody), 'both messages were captured');
  assert.ok(!(await feed(laptop, 'bob', fromBob)).includes('text'), "bob's message after the removal does not open on the removed laptop");
  assert.ok(!(await feed(laptop, 'alice', fromAlice)).includes('text'), "alice's own message after the removal does not open on the removed laptop");
  // The members still read each other.
  assert.deepEqual(await groupTexts(alice), ['crew:bob:after the removal (bob)']);
  assert.deepEqual((await groupTexts(carol)).sort(), ['crew:alice:after the removal (alice)', 'crew:bob:after the removal (bob)']);
});
