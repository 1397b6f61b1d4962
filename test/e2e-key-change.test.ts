// A hostile relay and key changes, with the real binary: accepting a changed key names the key
// the user compared (a swap in between is refused), a changed key can be rejected and stays
// refused, and an old signed prekey served as current is refused by the initiator.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { toBase64url } from '../crypto/encoding.js';
import { encryptMessage, initiateSession } from '../crypto/session.js';
import { encodePayload } from '../client/core/payload.js';
import { converse, jsonLines, startScenarios, type TestHome } from './util/fastchat-cli.js';
import type { RelayProcess } from './util/relay-process.js';
import { dropDeviceLists, queuedFor, serveKeysOf } from './util/tamper.js';
import { withCore } from './util/client-core.js';

const DAY = 24 * 3600 * 1000;

describe('key changes against a hostile relay', () => {
  let relay: RelayProcess;
  let scenarios: Awaited<ReturnType<typeof startScenarios>>;
  const homes = <N extends string>(...names: N[]): Promise<Record<N, TestHome>> => scenarios.homes(...names);

  before(async () => {
    scenarios = await startScenarios('fastchat-keychange-');
    relay = scenarios.relay;
  });
  after(async () => {
    await scenarios?.close();
  });

  /**
   * A first message made with `attacker`'s keys claiming to come from `as`, delivered to `to` as
   * the relay would deliver it (a relay can label a message with any sender; the X3DH AD then binds
   * the claimed address, so it decrypts).
   */
  async function injectFirstMessage(attacker: TestHome, as: TestHome, to: TestHome, text: string): Promise<ReturnType<typeof import('../client/core/incoming.js').processIncoming>> {
    const bundle = await withCore(attacker, async (m) => {
      const { fetchBundles } = await import('../client/core/relay-api.js');
      const { relayTarget } = await import('../client/core/context.js');
      return (await fetchBundles(relayTarget(m), to.name))[0]!;
    });
    const id = `forged-${text.length}-${Date.now()}`;
    const body = await withCore(attacker, (m) => {
      const state = initiateSession(m.secrets.identity, { user: as.name, device: 1 }, bundle, m.random, m.now());
      return toBase64url(encryptMessage(state, encodePayload({ v: 1, type: 'text', id, text, sentAt: new Date().toISOString() }), m.random).envelope);
    });
    return withCore(to, async (c) => {
      const { processIncoming } = await import('../client/core/incoming.js');
      return processIncoming(c, { type: 'message', id: '1', clientId: id, from: { user: as.name, device: 1 }, body, sentAt: new Date().toISOString() });
    });
  }

  const safetyNumber = async (h: TestHome, peer: TestHome): Promise<string> => JSON.parse((await h.ok(['fingerprint', `@${peer.name}`, '--json'])).stdout).safetyNumber;

  it('verify --accept refuses a key the relay swapped in after the user compared its safety number', async () => {
    const { alice, bob, mallory } = await homes('alice', 'bob', 'mallory');
    await converse(alice, bob);
    await bob.ok(['keygen', '--force', '--yes']); // a real key change, re-published
    assert.equal((await alice.run(['send', `@${bob.name}`, 'still you?'])).code, 4);
    const compared = await safetyNumber(alice, bob); // alice reads this one to bob over the phone
    // Meanwhile the relay delivers a first message made with mallory's key "from bob": the pending key is now mallory's.
    const injected = await injectFirstMessage(mallory, bob, alice, 'ignore the other key, this is my new one');
    assert.equal(injected.kind === 'text' && injected.identityChanged, true);
    const accepted = await alice.run(['verify', `@${bob.name}`, '--accept', compared]);
    assert.equal(accepted.code, 4, accepted.stdout + accepted.stderr);
    assert.match(accepted.stderr, /no identity key of @\w+ has the number you gave/);
    const rec = jsonLines((await alice.ok(['contacts', '--json'])).stdout).find((c) => c.username === bob.name);
    assert.equal(rec.trust, 'changed', 'nothing was accepted');
    assert.notEqual(await safetyNumber(alice, bob), compared, 'the number shown now is mallory\'s');
    // A number for no key at all, or none: refused too.
    assert.equal((await alice.run(['verify', `@${bob.name}`, '--accept', '1'.repeat(60)])).code, 4);
    assert.equal((await alice.run(['verify', `@${bob.name}`, '--accept'])).code, 2);
  });

  it('a key change learned from a message shows the number the other side shows, and accepting it takes the new account too', async () => {
    const { alice, bob } = await homes('alice', 'bob');
    await converse(alice, bob);
    // alice's receipt for bob's last message is sealed for his old keys: bob takes it in first (a
    // message in flight when its recipient throws his keys away cannot be read after, by design).
    await alice.ok(['inbox']);
    await bob.ok(['inbox']);
    await bob.ok(['keygen', '--force', '--yes']); // new identity and account key, re-published
    await bob.ok(['send', `@${alice.name}`, 'new keys, same bob']);
    // alice learns of the change from bob's first message under the new key, not from a send.
    assert.deepEqual(jsonLines((await alice.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['new keys, same bob']);
    const rec = jsonLines((await alice.ok(['contacts', '--json'])).stdout).find((c) => c.username === bob.name);
    assert.equal(rec.trust, 'changed');
    // Read to each other over the phone: the two numbers must be the same one (before the fix:
    // alice showed the identity number of bob's new key, bob the account number).
    const hers = await safetyNumber(alice, bob);
    assert.equal(hers, await safetyNumber(bob, alice), 'both sides show one safety number');
    await alice.ok(['verify', `@${bob.name}`, '--accept', hers]);
    // What she accepted is all of bob's new keys: her next send finds no second change.
    await alice.ok(['send', `@${bob.name}`, 'number checked']);
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(got.map((m) => m.text), ['number checked'], JSON.stringify(got));
  });

  it('verify --reject keeps the trusted key, and the rejected key stays refused for sends and first messages', async () => {
    const { alice, bob, mallory } = await homes('alice', 'bob', 'mallory');
    // bob as a client from before device lists (his relay has none): the relay's swap is then a
    // changed identity to decide on. A listed contact's swapped key is refused outright
    // (test/hostile-relay-device-lists.test.ts).
    dropDeviceLists(relay.db, bob.name);
    await converse(alice, bob);
    const trusted = jsonLines((await alice.ok(['contacts', '--json'])).stdout).find((c) => c.username === bob.name);
    serveKeysOf(relay.db, bob.name, mallory.name);
    assert.equal((await alice.run(['send', `@${bob.name}`, 'x'])).code, 4);
    await alice.ok(['verify', `@${bob.name}`, '--reject']);
    const kept = jsonLines((await alice.ok(['contacts', '--json'])).stdout).find((c) => c.username === bob.name);
    assert.deepEqual({ trust: kept.trust, fingerprint: kept.fingerprint }, { trust: trusted.trust, fingerprint: trusted.fingerprint });
    // The relay keeps serving the rejected key: still refused, and said so.
    const queued = queuedFor(relay.db, bob.name);
    const again = await alice.run(['send', `@${bob.name}`, 'y']);
    assert.equal(again.code, 4, again.stdout + again.stderr);
    assert.match(again.stderr, /that you rejected/);
    assert.equal(queuedFor(relay.db, bob.name), queued);
    // A first message made with the rejected key, delivered by the relay as "from bob": refused, not shown.
    const r = await injectFirstMessage(mallory, bob, alice, 'it is me, bob, with a new phone');
    assert.equal(r.kind, 'failed');
    assert.equal(r.kind === 'failed' && r.reason, 'identity_rejected');
    const history = jsonLines((await alice.ok(['history', `@${bob.name}`, '--json'])).stdout);
    assert.equal(history.some((m) => m.text?.includes('new phone')), false);
    // bob's real keys come back: the kept session works, no re-verification needed.
    await bob.ok(['login', bob.name, '--replace-keys']); // the relay serves mallory's: login refuses without it
    await alice.ok(['send', `@${bob.name}`, 'glad it was not you']);
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['glad it was not you']);
  });

  it('an old signed prekey served as current is refused before anything is queued', async () => {
    const { alice, bob } = await homes('alice', 'bob');
    // bob's bundle on the relay carries a signed prekey made 40 days ago (validly signed: the relay
    // kept it, or replays it).
    await withCore(bob, async (c) => {
      const { generateSignedPreKey, publicSignedPreKey, signedPreKeyToJson } = await import('../crypto/prekeys.js');
      const { reserveIds, saveSignedPreKey } = await import('../client/core/prekey-store.js');
      const { putSignedPreKey } = await import('../client/core/relay-api.js');
      const { relayTarget } = await import('../client/core/context.js');
      const { tx } = await import('../client/core/db.js');
      const old = generateSignedPreKey(c.secrets.identity, tx(c.db, () => reserveIds(c.db, 'next_signed_id', 1)), c.now() - 40 * DAY, c.random);
      await putSignedPreKey(relayTarget(c), signedPreKeyToJson(publicSignedPreKey(old)));
      tx(c.db, () => saveSignedPreKey(c.db, c.sealer, old));
    });
    const queued = queuedFor(relay.db, bob.name);
    const r = await alice.run(['send', `@${bob.name}`, 'hi']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /40 days old/);
    assert.match(r.stderr, /hint: /);
    assert.equal(queuedFor(relay.db, bob.name), queued);
    assert.deepEqual(jsonLines((await alice.ok(['history', `@${bob.name}`, '--json'])).stdout), [], 'nothing was queued');
    // bob's client replaces it when it next connects; then the first message goes through.
    await bob.ok(['inbox']);
    await alice.ok(['send', `@${bob.name}`, 'hi again']);
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['hi again']);
  });
});
