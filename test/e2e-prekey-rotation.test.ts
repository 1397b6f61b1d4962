// Signed-prekey rotation and one-time prekey top-up against a real relay. The client core is
// opened in the test process with its clock moved forward (`c.now`), so a week and a month pass
// in a moment; first messages are made by a sender's core against a bundle captured earlier and
// delivered through the relay to bob's real `inbox`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { toBase64url } from '../crypto/encoding.js';
import type { PreKeyBundle } from '../crypto/prekeys.js';
import type { Client } from '../client/core/context.js';
import { relayTarget } from '../client/core/context.js';
import { encryptQueued, queueText } from '../client/core/outbox.js';
import {
  allOneTimePreKeys,
  currentSignedPreKey,
  getSignedPreKey,
  ONE_TIME_PREKEY_BATCH,
  ONE_TIME_PREKEY_LOW,
  pruneSignedPreKeys,
  SIGNED_PREKEY_KEEP_MS,
  SIGNED_PREKEY_ROTATE_MS,
} from '../client/core/prekey-store.js';
import { rotateIfDue, topUpIfLow } from '../client/core/prekeys.js';
import { fetchBundles, oneTimePreKeyCount, postMessage } from '../client/core/relay-api.js';
import { closeAgents } from '../client/core/relay-http.js';
import { openCore, withCore } from './util/client-core.js';
import { jsonLines, startUsers, type TestHome } from './util/fastchat-cli.js';
import type { RelayProcess } from './util/relay-process.js';

const DAY = 24 * 3600 * 1000;

/** Encrypts a first message from `from` to bob against `bundles` and hands it to the relay. */
async function sendFirstMessage(from: TestHome, bundles: PreKeyBundle[], text: string): Promise<void> {
  await withCore(from, async (c) => {
    queueText(c, 'bob', text);
    await encryptQueued(c, undefined, new Map([['bob', bundles]]));
    const rows = c.db.prepare("SELECT client_id, envelope FROM outbox WHERE kind = 'text' AND envelope IS NOT NULL").all() as { client_id: string; envelope: Buffer }[];
    assert.equal(rows.length, 1);
    await postMessage(relayTarget(c), rows[0]!.client_id, [{ user: 'bob', device: 1 }], toBase64url(new Uint8Array(rows[0]!.envelope)));
    c.db.prepare('DELETE FROM outbox WHERE client_id = ?').run(rows[0]!.client_id);
  });
}

/** bob's core with its clock at `now`. */
async function bobAt(bob: TestHome, now: number): Promise<Client> {
  const c = await openCore(bob);
  c.now = () => now;
  return c;
}

describe('signed prekey rotation and one-time prekey top-up', () => {
  let tmp: { cleanup(): void } | undefined;
  let relay: RelayProcess | undefined;
  let homes: Record<'alice' | 'bob' | 'carol' | 'dave', TestHome>;

  before(async () => {
    // The top-up test drains carol's one-time prekeys from one account on purpose: lift the bundle
    // fetch limits that stop exactly that (test/relay-prekey-drain.test.ts tests them).
    ({ tmp, relay, homes } = await startUsers(['alice', 'bob', 'carol', 'dave'], {
      prefix: 'fastchat-e2e-prekeys-',
      relayArgs: ['--rate-limit-bundles-per-target', '1000', '--rate-limit-bundles', '1000'],
    }));
  });
  after(async () => {
    closeAgents();
    await relay?.stop();
    tmp?.cleanup();
  });

  it('publishes a new signed prekey after a week, still opens first messages made for the old one within the grace period, and refuses them as unknown_prekey after it', async () => {
    const { alice, bob, carol, dave } = homes;
    // Two first messages' worth of the bundle bob published at registration.
    const oldForAlice = await withCore(alice, (c) => fetchBundles(relayTarget(c), 'bob'));
    const oldForCarol = await withCore(carol, (c) => fetchBundles(relayTarget(c), 'bob'));
    const { id: oldId, createdAt: t0 } = await withCore(bob, (c) => currentSignedPreKey(c.db, c.sealer)!);
    assert.equal(oldForAlice[0]!.signedPreKey.id, oldId);

    // Not yet due a day before the week is up: nothing changes on the relay.
    let c = await bobAt(bob, t0 + SIGNED_PREKEY_ROTATE_MS - DAY);
    try {
      assert.equal(await rotateIfDue(c, relayTarget(c)), false);
    } finally {
      c.close();
    }
    assert.equal((await withCore(alice, (a) => fetchBundles(relayTarget(a), 'bob')))[0]!.signedPreKey.id, oldId);

    const rotatedAt = t0 + SIGNED_PREKEY_ROTATE_MS + DAY;
    let newId: number;
    c = await bobAt(bob, rotatedAt);
    try {
      assert.equal(await rotateIfDue(c, relayTarget(c)), true);
      newId = currentSignedPreKey(c.db, c.sealer)!.id;
      assert.notEqual(newId, oldId);
      assert.ok(getSignedPreKey(c.db, c.sealer, oldId), 'the old signed prekey is kept for the grace period');
      assert.equal(await rotateIfDue(c, relayTarget(c)), false, 'the fresh key is not rotated again');
    } finally {
      c.close();
    }
    const published = (await withCore(alice, (a) => fetchBundles(relayTarget(a), 'bob')))[0]!.signedPreKey;
    assert.equal(published.id, newId);
    assert.equal(published.createdAt, rotatedAt);

    // Within the grace period a first message made for the old key still opens.
    await sendFirstMessage(alice, oldForAlice, 'made for the old signed prekey');
    let got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(
      got.map((m) => [m.from, m.text]),
      [['alice', 'made for the old signed prekey']],
    );

    // A month after the old key was made, pruning deletes it but never the current one.
    c = await bobAt(bob, t0 + SIGNED_PREKEY_KEEP_MS + DAY);
    try {
      assert.equal(pruneSignedPreKeys(c.db, c.now()), 1);
      assert.equal(getSignedPreKey(c.db, c.sealer, oldId), undefined);
      assert.equal(currentSignedPreKey(c.db, c.sealer)!.id, newId);
    } finally {
      c.close();
    }

    // Now such a first message is reported as failed with its reason, not dropped.
    await sendFirstMessage(carol, oldForCarol, 'made for the pruned signed prekey');
    const r = await bob.ok(['inbox', '--json']);
    got = jsonLines(r.stdout);
    assert.equal(got.length, 1, r.stdout);
    assert.equal(got[0].from, 'carol');
    assert.equal(got[0].text, null);
    assert.equal(got[0].error.code, 'unknown_prekey');

    // A first message made from the published bundle (the new key) still opens.
    await dave.ok(['send', '@bob', 'made for the new signed prekey']);
    got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(
      got.map((m) => [m.from, m.text]),
      [['dave', 'made for the new signed prekey']],
    );
  });

  it('uploads a fresh batch of one-time prekeys only when the relay holds fewer than the threshold', async () => {
    const { alice, carol } = homes;
    const c = await openCore(carol);
    try {
      const t = relayTarget(c);
      assert.equal(await oneTimePreKeyCount(t), ONE_TIME_PREKEY_BATCH);
      assert.equal(await topUpIfLow(c, t), false);
      assert.equal(await oneTimePreKeyCount(t), ONE_TIME_PREKEY_BATCH);

      // Others take carol's one-time prekeys until the relay holds fewer than the threshold.
      const a = await openCore(alice);
      try {
        for (let i = 0; i < ONE_TIME_PREKEY_BATCH - ONE_TIME_PREKEY_LOW + 1; i++) await fetchBundles(relayTarget(a), 'carol');
      } finally {
        a.close();
      }
      const low = await oneTimePreKeyCount(t);
      assert.equal(low, ONE_TIME_PREKEY_LOW - 1);
      const localBefore = allOneTimePreKeys(c.db, c.sealer).length;

      assert.equal(await topUpIfLow(c, t), true);
      assert.equal(await oneTimePreKeyCount(t), low + ONE_TIME_PREKEY_BATCH);
      // Their private halves are stored, so first messages using them can be opened.
      assert.equal(allOneTimePreKeys(c.db, c.sealer).length, localBefore + ONE_TIME_PREKEY_BATCH);
      assert.equal(await topUpIfLow(c, t), false);
    } finally {
      c.close();
    }
  });
});
