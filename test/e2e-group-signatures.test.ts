// Group message signatures checked ahead on the CLI's worker thread (client/node/signature-verifier.ts,
// docs/PERFORMANCE.md "Group backlog, round ten"), end to end: a real relay process, the real
// binary receiving a backlog with the worker on, and forgeries in the middle of it — a member
// signing as another (a signature that is valid, under the wrong key) and a relay flipping a byte
// of a genuine message. Both are refused as they are with the verify in line, and everything
// genuine around them is shown, in order (THREAT_MODEL.md `group-message-forgery-refused`).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fromBase64url, toBase64url } from '../crypto/encoding.js';
import { encryptGroupMessage } from '../crypto/group/index.js';
import { sodium } from '../crypto/sodium.js';
import { relayTarget } from '../client/core/context.js';
import { flushGroupOutbox } from '../client/core/group-outbox.js';
import { listGroups, loadOurKey, loadTheirKey } from '../client/core/group-store.js';
import { queueGroupMessage } from '../client/core/groups.js';
import { newMessageId } from '../client/core/outbox.js';
import { encodePayload } from '../client/core/payload.js';
import { closeAgents } from '../client/core/relay-http.js';
import { withCore } from './util/client-core.js';
import { jsonLines, startUsers, type TestHome } from './util/fastchat-cli.js';
import { inject, relayBodies } from './util/group-e2e.js';

/** `home` sends `texts` to #team through its core (a CLI process per line would take minutes). */
function sendGroup(home: TestHome, texts: string[]): Promise<void> {
  return withCore(home, async (c) => {
    const g = listGroups(c).find((x) => x.state.name === 'team')!;
    for (const t of texts) queueGroupMessage(c, g, newMessageId(c), t, new Date().toISOString());
    const r = await flushGroupOutbox(c, relayTarget(c), { afterSync: true });
    assert.equal(r.sent, texts.length);
  });
}

describe('group message signatures checked on the worker thread', () => {
  let world: Awaited<ReturnType<typeof startUsers<'alice' | 'bob' | 'carol'>>> | undefined;

  before(async () => {
    world = await startUsers(['alice', 'bob', 'carol'], { prefix: 'fastchat-group-signatures-', relayArgs: ['--rate-limit-address', '1000'] });
  });
  after(async () => {
    closeAgents();
    await world?.relay.stop();
    world?.tmp.cleanup();
  });

  it('refuses a member signing as another and a message the relay altered, in the middle of a backlog of several pages, and shows the rest in order', async () => {
    const { relay, homes: { alice, bob, carol } } = world!;
    await alice.ok(['group', 'create', '#team', '@bob', '@carol']);
    for (const h of [bob, carol, alice]) await h.ok(['inbox']);
    // Alice and bob hold carol's chain before the backlog: each of its frames is checked ahead as it arrives.
    await carol.ok(['send', '#team', 'carol 0']);
    for (const h of [alice, bob]) await h.ok(['inbox']);
    const first = Array.from({ length: 300 }, (_, i) => `carol ${i + 1}`);
    await sendGroup(carol, first);
    // Bob knows carol's chain (every member does) and signs with his own group key, as carol.
    await bob.ok(['inbox']);
    await bob.ok(['send', '#team', 'bob 0']);
    const forged = await withCore(bob, (c) => {
      const g = listGroups(c).find((x) => x.state.name === 'team')!;
      const row = c.db.prepare("SELECT device, epoch FROM group_sender_keys WHERE group_id = ? AND sender = 'carol' AND ours = 0").get(Buffer.from(g.groupId)) as { device: number; epoch: number };
      const carols = loadTheirKey(c, g.groupId, 'carol', row.device, row.epoch)!;
      const bobs = loadOurKey(c, g.groupId, 'bob')!;
      const plaintext = encodePayload({ v: 1, type: 'text', id: 'forged_by_bob', text: 'carol says pay bob', sentAt: new Date().toISOString() });
      return toBase64url(encryptGroupMessage({ ...carols, signPublic: bobs.signPublic, signPrivate: bobs.signPrivate }, g.state, plaintext, (n) => sodium().randombytes_buf(n)).message);
    });
    // The relay alters one byte of the ciphertext of a message of carol's it holds for alice and hands it over again.
    const held = relayBodies(relay, 'carol', 'alice');
    const altered = fromBase64url(held[held.length - 1]!.body);
    altered[altered.length - 80]! ^= 1;
    await inject(relay, 'carol', ['alice'], forged, 'carol-forged-by-bob');
    await inject(relay, 'carol', ['alice'], toBase64url(altered), 'carol-altered-by-relay');
    const rest = Array.from({ length: 40 }, (_, i) => `carol ${i + 301}`);
    await sendGroup(carol, rest);

    const r = await alice.ok(['inbox', '--json']);
    const shown = jsonLines(r.stdout).filter((m) => m.text !== null);
    assert.deepEqual(shown.filter((m) => m.from === 'carol').map((m) => m.text), [...first, ...rest], 'every genuine message once, in order, and nothing forged');
    assert.deepEqual(shown.filter((m) => m.from !== 'carol').map((m) => m.text), ['bob 0']);
    assert.equal((r.stderr.match(/from @carol \(bad_signature\)/g) ?? []).length, 2, r.stderr);
    assert.doesNotMatch(r.stdout, /pay bob/);
  });
});
