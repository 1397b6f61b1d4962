// Groups end to end: a real relay process, the real binary for every user-facing step, and the
// client core of a home where a test plays a misbehaving member (crafting what the CLI refuses)
// or feeds a home a ciphertext captured from the relay's database.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodePayload } from '../client/core/payload.js';
import { closeAgents } from '../client/core/relay-http.js';
import { fromBase64url, toBase64url } from '../crypto/encoding.js';
import { decryptGroupMessage, encryptGroupMessage, groupStateHash, peekGroupMessage, signGroupChange } from '../crypto/group/index.js';
import { sodium } from '../crypto/sodium.js';
import { withCore } from './util/client-core.js';
import { jsonLines, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';
import { isGroupBody, relayAs, relayBodies } from './util/group-e2e.js';
import type { RelayProcess } from './util/relay-process.js';

async function inbox(home: TestHome): Promise<{ messages: any[]; stderr: string }> {
  const r = await home.ok(['inbox', '--json']);
  return { messages: jsonLines(r.stdout), stderr: r.stderr };
}

async function info(home: TestHome, group = '#team'): Promise<any> {
  return JSON.parse((await home.ok(['group', 'info', group, '--json'])).stdout);
}

describe('groups between homes through a real relay', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let carol: TestHome;
  let dave: TestHome;

  before(async () => {
    // Many logins from 127.0.0.1: the per-address login limit is lifted.
    ({ relay, tmp, homes: { alice, bob, carol, dave } } = await startUsers(['alice', 'bob', 'carol', 'dave'], { prefix: 'fastchat-groups-', relayArgs: ['--rate-limit-address', '1000'] }));
  });
  after(async () => {
    closeAgents();
    await relay?.stop();
    tmp?.cleanup();
  });

  it('lets three members exchange messages, each seen once with the right sender', async () => {
    const created = JSON.parse((await alice.ok(['group', 'create', '#team', '@bob', '@carol', '--json'])).stdout);
    assert.equal(created.epoch, 0);
    assert.deepEqual(created.members, ['alice', 'bob', 'carol']);
    await bob.ok(['inbox']);
    await carol.ok(['inbox']);
    await alice.ok(['inbox']);
    await alice.ok(['send', '#team', 'hi from alice']);
    // Each send runs a receive pass first (sync before send): bob's takes in alice's message, says
    // so on stderr, and leaves it unread for his next inbox.
    const bobSend = await bob.ok(['send', '#team', 'hi from bob']);
    assert.match(bobSend.stderr, /1 new message arrived while syncing before the send \(`fastchat inbox` shows it\)/);
    await carol.ok(['send', '#team', 'hi from carol']);
    const seen = {
      alice: (await inbox(alice)).messages,
      bob: (await inbox(bob)).messages,
      carol: (await inbox(carol)).messages,
    };
    const pairs = (ms: any[]): string[] => ms.map((m) => `${m.group}:${m.from}:${m.text}`).sort();
    assert.deepEqual(pairs(seen.alice), ['team:bob:hi from bob', 'team:carol:hi from carol']);
    assert.deepEqual(pairs(seen.bob), ['team:alice:hi from alice', 'team:carol:hi from carol']);
    assert.deepEqual(pairs(seen.carol), ['team:alice:hi from alice', 'team:bob:hi from bob']);
    for (const h of [alice, bob, carol]) {
      assert.deepEqual((await inbox(h)).messages, [], `${h.name} sees nothing twice`);
      const hist = jsonLines((await h.ok(['history', '#team', '--json'])).stdout);
      assert.deepEqual(hist.map((m) => `${m.from}:${m.text}`).sort(), ['alice:hi from alice', 'bob:hi from bob', 'carol:hi from carol'], h.name);
      assert.equal(new Set(hist.map((m) => m.id)).size, 3, `${h.name}: each once`);
    }
  });

  it('delivers the group backlog to an offline member on the next inbox, in order', async () => {
    await alice.ok(['send', '#team', 'backlog 1']);
    await bob.ok(['send', '#team', 'backlog 2']);
    await alice.ok(['send', '#team', 'backlog 3']);
    const got = (await inbox(carol)).messages;
    assert.deepEqual(got.map((m) => `${m.from}:${m.text}`), ['alice:backlog 1', 'bob:backlog 2', 'alice:backlog 3']);
    await alice.ok(['inbox']);
    await bob.ok(['inbox']);
  });

  it('shows members, admins, epoch and verification state, and refuses a non-admin add up front', async () => {
    const i = await info(bob);
    assert.equal(i.epoch, 0);
    assert.deepEqual(i.admins, ['alice']);
    assert.deepEqual(i.members.map((m: any) => [m.user, m.trust]), [['alice', 'unverified'], ['bob', 'you'], ['carol', 'unverified']]);
    const r = await bob.run(['group', 'add', '#team', '@dave']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not an admin of #team/);
    const unknown = await bob.run(['send', '#nosuch', 'hi']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no group named #nosuch/);
  });

  it('has every member reject an add signed by a non-admin, leaving the group unchanged', async () => {
    const { queueRecords } = await import('../client/core/group-keys.js');
    const { loadGroup, listGroups } = await import('../client/core/group-store.js');
    const { deliverOutbox } = await import('../client/core/outbox.js');
    const { relayTarget } = await import('../client/core/context.js');
    const daveKey = await withCore(dave, (c) => c.secrets.identity.signPublic);
    await withCore(bob, async (c) => {
      const g = loadGroup(c, listGroups(c)[0]!.groupId)!;
      const { ourAuthor } = await import('../client/core/group-devices.js');
      const record = signGroupChange(
        ourAuthor(c, g.state)!, // bob's member key: the signature is his, only the authority is missing
        { groupId: g.groupId, epoch: g.state.epoch + 1, prevHash: groupStateHash(g.state), change: { op: 'add', members: [{ user: 'dave', signPublic: daveKey }] } },
      );
      for (const peer of ['alice', 'carol']) queueRecords(c, peer, [record]);
      await deliverOutbox(c, relayTarget(c));
    });
    for (const h of [alice, carol]) {
      const r = await inbox(h);
      assert.match(r.stderr, /refused a group update for #team from @bob \(not_authorized\)/, h.name);
      const i = await info(h);
      assert.equal(i.epoch, 0);
      assert.deepEqual(i.members.map((m: any) => m.user), ['alice', 'bob', 'carol']);
    }
  });

  it('gives an added member the whole chain and each member\'s key from its next message on: nothing sent before, and nobody rotates', async () => {
    const keyEpoch = async (h: TestHome): Promise<number> => {
      const { listGroups, loadOurKey } = await import('../client/core/group-store.js');
      return withCore(h, (c) => loadOurKey(c, listGroups(c)[0]!.groupId, h.name)!.epoch);
    };
    const before = await keyEpoch(alice);
    await bob.ok(['inbox']);
    const r = JSON.parse((await alice.ok(['group', 'add', '#team', '@dave', '--json'])).stdout);
    assert.equal(r.epoch, 1);
    assert.equal(relayBodies(relay, 'alice', 'bob').length, 1, 'bob got the record, and nothing else');
    const d = await inbox(dave);
    assert.deepEqual(d.messages, [], 'no history before the add');
    assert.deepEqual((await info(dave)).members.map((m: any) => m.user), ['alice', 'bob', 'carol', 'dave']);
    for (const h of [bob, carol, alice]) await h.ok(['inbox']);
    await alice.ok(['send', '#team', 'welcome dave']);
    assert.equal(await keyEpoch(alice), before, 'alice kept her key across the add');
    const toBob = relayBodies(relay, 'alice', 'bob');
    assert.deepEqual(toBob.map(isGroupBody), [true], 'bob got the message only: he holds the key already');
    assert.deepEqual((await inbox(dave)).messages.map((m) => `${m.from}:${m.text}`), ['alice:welcome dave']);
    await dave.ok(['send', '#team', 'hello from dave']);
    for (const h of [alice, bob, carol]) {
      assert.deepEqual((await inbox(h)).messages.map((m) => `${m.from}:${m.text}`), h === alice ? ['dave:hello from dave'] : ['alice:welcome dave', 'dave:hello from dave'], h.name);
    }
  });

  let afterRemoval: { clientId: string; body: string };

  it('removes carol: she cannot read what follows, alice and bob keep talking', async () => {
    await alice.ok(['group', 'remove', '#team', '@carol']);
    for (const h of [bob, dave, carol]) await h.ok(['inbox']);
    assert.equal((await info(carol)).status, 'removed');
    await alice.ok(['inbox']);
    await alice.ok(['send', '#team', 'carol must not read this']);
    const held = relayBodies(relay, 'alice', 'bob');
    afterRemoval = held[held.length - 1]!;
    assert.equal(fromBase64url(afterRemoval.body)[1], 0x33, 'the last body for bob is the group message (tag 0x33)');
    // Feed the ciphertext to carol's home: her core refuses it and none of her keys opens it.
    await withCore(carol, async (c) => {
      const { processIncoming } = await import('../client/core/incoming.js');
      const r = processIncoming(c, { type: 'message', id: '1', clientId: 'captured-1', from: { user: 'alice', device: 1 }, body: afterRemoval.body, sentAt: new Date().toISOString() });
      assert.notEqual(r.kind, 'text');
      const { parseTheirSenderKey } = await import('../crypto/group/index.js');
      const keys = c.db.prepare("SELECT group_id, epoch, key FROM group_sender_keys WHERE sender = 'alice' AND ours = 0").all() as { group_id: Buffer; epoch: number; key: Buffer }[];
      assert.ok(keys.length > 0);
      // Her modified client would try each chain under the view the message itself names.
      const h = peekGroupMessage(fromBase64url(afterRemoval.body));
      for (const k of keys) {
        const theirs = parseTheirSenderKey(c.sealer.open('group_sender_key', [k.group_id, 'alice', k.epoch, 0], new Uint8Array(k.key)));
        for (const keyFloor of [0, theirs.epoch]) {
          assert.throws(() => decryptGroupMessage({ ...theirs, epoch: h.keyEpoch }, { groupId: h.groupId, epoch: h.epoch, transcript: h.transcript, keyFloor }, fromBase64url(afterRemoval.body)));
        }
      }
    });
    assert.deepEqual((await inbox(bob)).messages.map((m) => m.text), ['carol must not read this']);
    await bob.ok(['send', '#team', 'still here']);
    assert.deepEqual((await inbox(alice)).messages.map((m) => `${m.from}:${m.text}`), ['bob:still here']);
    await dave.ok(['inbox']);
  });

  it('shows a replayed group message once', async () => {
    // From the device that sent it (a group message is read only from a device of its sender's).
    const ws = await relayAs(relay, 'alice', 1);
    try {
      const ack = await ws.sendMessage('replay-1', [{ user: 'bob', device: 1 }], afterRemoval.body);
      assert.equal(ack.type, 'sent');
    } finally {
      await ws.close();
    }
    const r = await inbox(bob);
    assert.deepEqual(r.messages, []);
    assert.match(r.stderr, /replayed message from @alice/);
    const hist = jsonLines((await bob.ok(['history', '#team', '-n', '100', '--json'])).stdout);
    assert.equal(hist.filter((m) => m.text === 'carol must not read this').length, 1);
  });

  it('rejects forged and replayed membership changes from a malicious relay or a removed member', async () => {
    const before = await info(bob);
    // 1. A bare record injected by the relay in alice's name: not inside any session.
    const forged = await withCore(carol, (c) =>
      signGroupChange({ user: 'carol', identity: c.secrets.identity }, { groupId: new Uint8Array(32).fill(1), epoch: 9, prevHash: new Uint8Array(32), change: { op: 'leave' } }),
    );
    const ws = await relayAs(relay, 'alice');
    try {
      await ws.sendMessage('forged-1', [{ user: 'bob', device: 1 }], toBase64url(forged));
    } finally {
      await ws.close();
    }
    const r1 = await inbox(bob);
    assert.match(r1.stderr, /could not decrypt a message from @alice \((malformed|unsupported_version)\)/);
    // 2. Carol, removed, replays the old change that added dave, inside her real session with bob.
    const { queueRecords } = await import('../client/core/group-keys.js');
    const { loadRecords, listGroups } = await import('../client/core/group-store.js');
    const { deliverOutbox } = await import('../client/core/outbox.js');
    const { relayTarget } = await import('../client/core/context.js');
    await withCore(carol, async (c) => {
      const g = listGroups(c)[0]!;
      const chain = loadRecords(c, g.groupId);
      queueRecords(c, 'bob', [chain[1]!]);
      await deliverOutbox(c, relayTarget(c));
    });
    const r2 = await inbox(bob);
    assert.match(r2.stderr, /refused a group update for #team from @carol \(wrong_epoch\)/);
    assert.deepEqual(await info(bob), before);
  });

  it('stops member bob from sending as dave', async () => {
    // Dave speaks after the removal: bob holds his new chain.
    await dave.ok(['send', '#team', 'dave after the removal']);
    for (const h of [alice, bob]) await h.ok(['inbox']);
    const { listGroups, loadTheirKey, loadOurKey } = await import('../client/core/group-store.js');
    const forgedBody = await withCore(bob, (c) => {
      const g = listGroups(c)[0]!;
      const daves = loadTheirKey(c, g.groupId, 'dave', 1, g.state.keyFloor)!;
      const bobs = loadOurKey(c, g.groupId, 'bob')!;
      // Bob knows dave's chain key (every member does) but signs with his own key.
      const plaintext = encodePayload({ v: 1, type: 'text', id: 'forged_msg', text: 'dave says pay bob', sentAt: new Date().toISOString() });
      return toBase64url(encryptGroupMessage({ ...daves, signPublic: bobs.signPublic, signPrivate: bobs.signPrivate }, g.state, plaintext, (n) => sodium().randombytes_buf(n)).message);
    });
    for (const as of ['dave', 'bob']) {
      // From each one's listed device 1: what is tested is the signature, not the device (e2e-groups-devices).
      const ws = await relayAs(relay, as, 1);
      try {
        await ws.sendMessage(`forge-${as}`, [{ user: 'alice', device: 1 }], forgedBody);
      } finally {
        await ws.close();
      }
    }
    const r = await inbox(alice);
    assert.deepEqual(r.messages.filter((m) => m.text !== null), []);
    assert.match(r.stderr, /from @dave \(bad_signature\)/);
    assert.match(r.stderr, /from @bob \(not_authorized\)/);
    await dave.ok(['send', '#team', 'the real dave']);
    assert.deepEqual((await inbox(alice)).messages.map((m) => `${m.from}:${m.text}`), ['dave:the real dave']);
  });

  it('holds a group message that arrives before its sender key and shows it once the key comes', async () => {
    await bob.ok(['inbox']);
    await alice.ok(['group', 'create', '#pair', '@bob']);
    await bob.ok(['inbox']); // bob holds #pair; alice's key goes with her first message
    await alice.ok(['send', '#pair', 'reordered by the relay']);
    const [key, message] = relayBodies(relay, 'alice', 'bob').slice(-2);
    assert.ok(key && message && fromBase64url(message.body)[1] === 0x33 && fromBase64url(key.body)[1] !== 0x33); // a group message has tag 0x33
    const results = await withCore(bob, async (c) => {
      const { processIncoming } = await import('../client/core/incoming.js');
      const frame = (x: { clientId: string; body: string }) => ({ type: 'message' as const, id: x.clientId, clientId: x.clientId, from: { user: 'alice', device: 1 }, body: x.body, sentAt: new Date().toISOString() });
      return [message, key].map((x) => processIncoming(c, frame(x)));
    });
    assert.equal(results[0]!.kind, 'group_held');
    const released = results[1]!.kind === 'control' ? results[1]!.released : [];
    assert.deepEqual(released.map((r) => (r.kind === 'text' ? `${r.from}:${r.text}` : r.kind)), ['alice:reordered by the relay']);
    // The relay then delivers the same frames in order: each is recognised as a duplicate. The
    // message was stored but never printed, so the next inbox shows it, once.
    assert.deepEqual((await inbox(bob)).messages.map((m: { text: string }) => m.text), ['reordered by the relay']);
    assert.deepEqual((await inbox(bob)).messages, []);
    // #pair is done with: nobody is left in it, so later tests see #team alone.
    await alice.ok(['group', 'remove', '#pair', '@bob']);
    await alice.ok(['group', 'leave', '#pair']);
    await bob.ok(['inbox']);
  });

  it('refuses a rename from a non-admin before anything is sent, and an invalid new name as a usage error', async () => {
    const r = await dave.run(['group', 'rename', '#team', 'crew']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not an admin of #team; only admins may rename the group/);
    const { changeGroupCmd } = await import('../client/core/groups.js');
    await withCore(dave, (c) => assert.rejects(changeGroupCmd(c, '#team', { op: 'rename', name: 'crew' }), { code: 'not_admin' }));
    const bad = await alice.run(['group', 'rename', '#team', 'bad\u0007name']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid group name/);
    assert.match(bad.stderr, /hint: a name is 1 to 128 bytes/);
    for (const h of [alice, dave]) assert.equal((await info(h)).name, 'team', `${h.name}: nothing changed`);
  });

  it('renames the group for every member: the new name resolves, the old one does not', async () => {
    const r = JSON.parse((await alice.ok(['group', 'rename', '#team', '#crew', '--json'])).stdout);
    assert.equal(r.group, 'crew');
    for (const h of [bob, dave]) assert.match((await inbox(h)).stderr, /#crew: @alice renamed the group to "crew"/, h.name);
    await alice.ok(['inbox']);
    for (const h of [alice, bob, dave]) {
      const active = jsonLines((await h.ok(['group', 'list', '--json'])).stdout).filter((g) => g.status === 'active');
      assert.deepEqual(active.map((g) => [g.group, g.name]), [['crew', 'crew']], h.name);
      assert.equal((await info(h, '#crew')).name, 'crew', h.name);
      const old = await h.run(['send', '#team', 'to the old name']);
      assert.equal(old.code, 1, h.name);
      assert.match(old.stderr, /no group named #team/);
    }
    await dave.ok(['send', '#crew', 'hello crew']);
    for (const h of [alice, bob]) {
      assert.deepEqual((await inbox(h)).messages.map((m) => `${m.group}:${m.from}:${m.text}`), ['crew:dave:hello crew'], h.name);
    }
  });

  it('shows #name~id for every member who holds two groups of the renamed name, and drops it once they differ', async () => {
    await alice.ok(['group', 'create', '#side', '@bob']);
    await bob.ok(['inbox']);
    const other = JSON.parse((await alice.ok(['group', 'rename', '#side', 'crew', '--json'])).stdout);
    assert.match(other.group, /^crew~[0-9a-f]{4,}$/);
    await bob.ok(['inbox']);
    for (const h of [alice, bob]) {
      const labels = jsonLines((await h.ok(['group', 'list', '--json'])).stdout).filter((g) => g.status === 'active').map((g) => g.group);
      assert.equal(labels.length, 2, h.name);
      assert.ok(labels.every((l) => /^crew~[0-9a-f]{4,}$/.test(l)), `${h.name}: ${labels.join(' ')}`);
      assert.equal((await h.run(['send', '#crew', 'which one?'])).code, 2, h.name);
      assert.equal((await info(h, `#${other.group}`)).groupId, other.groupId, h.name);
    }
    assert.equal((await info(dave, '#crew')).name, 'crew', 'dave holds one crew: no suffix needed');
    await alice.ok(['group', 'rename', `#${other.group}`, 'side']);
    await bob.ok(['inbox']);
    for (const h of [alice, bob]) assert.equal((await info(h, '#crew')).name, 'crew', h.name);
  });
});
