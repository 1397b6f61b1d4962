// Signed device lists against a hostile relay, with the real binary (docs/THREAT_MODEL.md
// "Malicious or compromised relay"): every home publishes its account's list at register, and a
// contact pins the account key and the last list it accepted. The relay below serves keys of a
// device the list does not hold, an older list, and a list under an account key of its own; each
// is refused (or, for another account key, held as a key change for the user to decide), and the
// user is told. A contact whose relay serves no list keeps working on its identity alone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accountSafetyNumber } from '../crypto/account.js';
import { firstDeviceList, nextDeviceList, parseDeviceList, signDeviceEntry, signDeviceList } from '../crypto/device-list.js';
import { fromBase64url, toBase64url } from '../crypto/encoding.js';
import { accountKeyOf } from '../client/core/keystore.js';
import { chain, device } from './util/device-lists.js';
import { converse, jsonLines, makeHome, type TestHome } from './util/fastchat-cli.js';
import { deviceEntry, firstMessage, messageFrame, mintIdentity } from './util/forge.js';
import { startLink, stopLink } from './util/linking.js';
import { dirname } from 'node:path';
import { hideDeviceLists, startHostileWorld, type HostileRelay } from './util/hostile-relay.js';
import { withCore } from './util/client-core.js';
import { RelayHttp } from './util/relay-client.js';
import type { RelayProcess } from './util/relay-process.js';

/** A session both ways, and b's receipt read. */
async function exchange(a: TestHome, b: TestHome): Promise<void> {
  await converse(a, b);
  await b.ok(['inbox']);
}

const contact = async (h: TestHome, peer: string): Promise<any> => jsonLines((await h.ok(['contacts', '--json'])).stdout).find((c) => c.username === peer);
const numberWith = async (h: TestHome, peer: string): Promise<string> => JSON.parse((await h.ok(['fingerprint', `@${peer}`, '--json'])).stdout).safetyNumber;

describe('device lists against a hostile relay', () => {
  let relay: RelayProcess;
  let hostile: HostileRelay;
  let home: (name: string) => Promise<TestHome>;
  let stop: () => Promise<void>;
  let directory: RelayHttp;

  before(async () => {
    ({ relay, hostile, home, stop } = await startHostileWorld('fastchat-hostile-lists-'));
    directory = new RelayHttp(relay.url);
    await directory.signup('relay_own');
  });
  after(async () => {
    await stop?.();
  });

  /** `user`'s device lists as the relay stores them. */
  async function storedLists(user: string): Promise<Uint8Array[]> {
    const r = await directory.request('GET', `/v1/devices/${user}`);
    assert.equal(r.status, 200);
    return (r.body.lists as { list: string }[]).map((l) => fromBase64url(l.list));
  }

  it('a home publishes its account list at register, and both sides then show one account safety number', async () => {
    const [alice, bob] = await Promise.all([home('alice1'), home('bob1')]);
    const [list] = await storedLists(bob.name);
    const parsed = parseDeviceList(list!);
    const bobKey = await withCore(bob, (c) => accountKeyOf(c.secrets).publicKey);
    assert.deepEqual([parsed.version, parsed.devices.map((d) => d.device), toBase64url(parsed.accountKey)], [1, [1], toBase64url(bobKey)]);
    await exchange(alice, bob);
    const aliceKey = await withCore(alice, (c) => accountKeyOf(c.secrets).publicKey);
    const expected = accountSafetyNumber({ user: alice.name, accountKey: aliceKey }, { user: bob.name, accountKey: bobKey }).replace(/(\d{5})(?!$)/g, '$1 ');
    assert.equal(await numberWith(alice, bob.name), expected);
    assert.equal(await numberWith(bob, alice.name), expected);
  });

  it('refuses keys the relay serves for a device the signed list does not hold, or holds with other keys: nothing is sent', async () => {
    const [alice, bob] = await Promise.all([home('alice2'), home('bob2')]);
    await exchange(alice, bob);
    const mallory = mintIdentity();
    for (const [what, devices] of [
      ['an extra device', (d: any[], kind: 'bundle' | 'identity') => [...d, deviceEntry(mallory, 2, kind)]],
      ["another key for bob's device 1", (_d: any[], kind: 'bundle' | 'identity') => [deviceEntry(mallory, 1, kind)]],
    ] as const) {
      const off = hostile.onKeys((ctx) => (ctx.user === bob.name ? { ...ctx.answer, devices: devices(ctx.answer.devices, ctx.kind) } : undefined));
      const before = hostile.sentBy(alice.name, bob.name).length;
      const r = await alice.run(['send', `@${bob.name}`, `past ${what}`]);
      off();
      assert.equal(r.code, 4, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /signed device list/, what);
      assert.equal(hostile.sentBy(alice.name, bob.name).length, before, `${what}: nothing left for bob`);
      assert.equal((await contact(alice, bob.name)).trust, 'unverified', `${what}: no key change recorded either`);
    }
    // The relay behaves again: sending works without any decision by the user.
    await alice.ok(['send', `@${bob.name}`, 'all good']);
  });

  it('refuses an older device list than the one accepted, and keeps the newer one', async () => {
    const [alice, bob] = await Promise.all([home('alice3'), home('bob3')]);
    // bob's account adds a device: version 2, signed by bob's account key.
    await withCore(bob, async (c) => {
      const { putDeviceList } = await import('../client/core/relay-api.js');
      const { relayTarget } = await import('../client/core/context.js');
      const v1 = parseDeviceList((await storedLists(bob.name))[0]!);
      await putDeviceList(relayTarget(c), nextDeviceList(accountKeyOf(c.secrets), v1, [...v1.devices, device(2, bob.name, accountKeyOf(c.secrets))]).bytes);
    });
    await exchange(alice, bob);
    const number = await numberWith(alice, bob.name);
    // The relay serves version 1 only (as before the device was added).
    const off = hostile.onDeviceLists((ctx) => (ctx.user === bob.name ? { ...ctx.answer, lists: ctx.answer.lists.filter((l) => l.version === 1), more: false } : undefined));
    const before = hostile.sentBy(alice.name, bob.name).length;
    const r = await alice.run(['send', `@${bob.name}`, 'to the old list']);
    off();
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /cannot be accepted \(an older version/);
    assert.equal(hostile.sentBy(alice.name, bob.name).length, before);
    await alice.ok(['send', `@${bob.name}`, 'to the real list']);
    assert.equal(await numberWith(alice, bob.name), number, 'a device added under the account key leaves the number as it was');
  });

  /**
   * Makes the relay serve, to everyone but `user`, a list of `user` under an account key of its own
   * naming a device of its own as device 1 (its entry duly signed by that device for that key),
   * and that device's keys for device 1. Returns the function that stops it.
   */
  async function serveOwnAccount(user: string): Promise<() => void> {
    const relayKey = (await chain(user, 1)).key;
    const mallory = mintIdentity();
    const theirs = firstDeviceList(relayKey, user, [signDeviceEntry(mallory, { user, accountKey: relayKey.publicKey }, 1, Date.now())]);
    const forUser = (ctx: { user: string; requester?: { user: string } | null }) => ctx.user === user && ctx.requester?.user !== user;
    const offLists = hostile.onDeviceLists((ctx) => (forUser(ctx) ? { ...ctx.answer, lists: [{ version: 1, list: toBase64url(theirs.bytes) }], more: false } : undefined));
    const offKeys = hostile.onKeys((ctx) => (forUser(ctx) ? { ...ctx.answer, devices: [deviceEntry(mallory, 1, ctx.kind)] } : undefined));
    return () => {
      offLists();
      offKeys();
    };
  }

  it('holds a list under another account key as a key change: nothing sent until the user accepts the number they compared', async () => {
    const [alice, bob] = await Promise.all([home('alice4'), home('bob4')]);
    await exchange(alice, bob);
    const bobNumber = await numberWith(bob, alice.name);
    const off = await serveOwnAccount(bob.name);
    const before = hostile.sentBy(alice.name, bob.name).length;
    const r = await alice.run(['send', `@${bob.name}`, 'to whoever holds that key']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /changed/);
    assert.equal(hostile.sentBy(alice.name, bob.name).length, before);
    assert.equal((await contact(alice, bob.name)).trust, 'changed');
    const shown = await numberWith(alice, bob.name);
    assert.notEqual(shown, bobNumber, 'comparing numbers with bob reveals the relay key');
    off();
    // Still held once the relay behaves: the user decides. The number bob reads out names bob's
    // own account key: accepting it keeps that key and drops the relay's.
    assert.equal((await alice.run(['send', `@${bob.name}`, 'again'])).code, 4);
    await alice.ok(['verify', `@${bob.name}`, '--accept', bobNumber]);
    assert.equal((await contact(alice, bob.name)).trust, 'verified');
    await alice.ok(['send', `@${bob.name}`, 'back to you']);
    assert.equal(await numberWith(alice, bob.name), bobNumber);
  });

  it("refuses a list that puts a verified contact's real identity under another account key, and keeps the contact verified when its own account key is pinned", async () => {
    const [alice, bob, carol] = await Promise.all([home('alice5'), home('bob5'), home('carol5')]);
    // bob's and carol's relay serves alice no list at first (as for a client from before device lists).
    const hide = hostile.onDeviceLists(hideDeviceLists(bob.name, carol.name));
    await exchange(alice, bob);
    await exchange(alice, carol);
    const legacy = await numberWith(alice, bob.name);
    await alice.ok(['verify', `@${bob.name}`, legacy]);
    await alice.ok(['verify', `@${carol.name}`, await numberWith(alice, carol.name)]);
    assert.equal((await contact(alice, bob.name)).trust, 'verified');
    hide();

    // (a) A list under the relay's own key naming bob's real identity. Its entry carries bob's
    // signature for bob's account key; one for the relay's key only bob's identity could make.
    const real = parseDeviceList((await storedLists(bob.name))[0]!);
    const swapped = signDeviceList((await chain(bob.name, 1)).key, { user: bob.name, version: 1, prevHash: new Uint8Array(32), devices: real.devices });
    const off = hostile.onDeviceLists((ctx) => (ctx.user === bob.name && ctx.requester?.user !== bob.name ? { ...ctx.answer, lists: [{ version: 1, list: toBase64url(swapped) }], more: false } : undefined));
    const before = hostile.sentBy(alice.name, bob.name).length;
    const r = await alice.run(['send', `@${bob.name}`, 'under the relay key']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /cannot be accepted \(not signed by the account key or by the device it lists\)/);
    assert.equal(hostile.sentBy(alice.name, bob.name).length, before, 'nothing left for bob');
    assert.equal(await numberWith(alice, bob.name), legacy, 'no account key was pinned');
    assert.equal((await contact(alice, bob.name)).trust, 'verified', 'no key change recorded either');
    off();

    // (b) bob's real list: the verified identity signed its entry for bob's account key, so the
    // contact stays verified, now on the account number both sides show (fingerprint pins it).
    const now = await numberWith(alice, bob.name);
    assert.notEqual(now, legacy, 'the account number is shown from now on');
    assert.equal(now, await numberWith(bob, alice.name));
    assert.equal((await contact(alice, bob.name)).trust, 'verified');
    await alice.ok(['send', `@${bob.name}`, 'still verified']);
    assert.equal((await contact(alice, bob.name)).trust, 'verified');
    // The same through a send (the key check before encrypting pins carol's account key).
    await alice.ok(['send', `@${carol.name}`, 'pinned on the way']);
    assert.equal((await contact(alice, carol.name)).trust, 'verified');
    assert.equal(await numberWith(alice, carol.name), await numberWith(carol, alice.name));
  });

  it('remembers an account key the user rejected: served again, it is refused as rejected, not pending again', async () => {
    const [alice, bob] = await Promise.all([home('alice10'), home('bob10')]);
    await exchange(alice, bob);
    const number = await numberWith(alice, bob.name);
    const off = await serveOwnAccount(bob.name);
    assert.equal((await alice.run(['send', `@${bob.name}`, 'first try'])).code, 4);
    assert.equal((await contact(alice, bob.name)).trust, 'changed');
    await alice.ok(['verify', `@${bob.name}`, '--reject']);
    assert.equal((await contact(alice, bob.name)).trust, 'unverified');
    // The relay keeps serving the same account key: refused and said so, nothing pending.
    const before = hostile.sentBy(alice.name, bob.name).length;
    const r = await alice.run(['send', `@${bob.name}`, 'second try']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /that you rejected/);
    assert.equal(hostile.sentBy(alice.name, bob.name).length, before);
    assert.equal((await contact(alice, bob.name)).trust, 'unverified', 'not a pending change again');
    assert.equal(await numberWith(alice, bob.name), number);
    off();
    await alice.ok(['send', `@${bob.name}`, 'the real bob']);
  });

  it('keeps working on identity trust for a contact whose relay serves no device list', async () => {
    const [alice, bob] = await Promise.all([home('alice6'), home('bob6')]);
    const off = hostile.onDeviceLists(hideDeviceLists(bob.name));
    await exchange(alice, bob);
    await alice.ok(['send', `@${bob.name}`, 'no list, no problem']);
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['no list, no problem']);
    off();
  });

  // ---- fan-out (docs/PROTOCOL.md D.13) ------------------------------------------------------

  it('refuses a "sent by me" copy from a device of our own account that our signed list does not hold: nothing shows as sent', async () => {
    const [alice, bob] = await Promise.all([home('alice7'), home('bob7')]);
    await exchange(alice, bob);
    // The relay mints a key, calls it alice's device 2 (her list names device 1 only) and writes
    // alice a copy of a message "she sent" to bob.
    const minted = mintIdentity();
    const bundle = (await directory.fetchKeys(alice.name)).body.devices[0];
    const id = toBase64url(new Uint8Array(16).fill(7));
    const sentAt = new Date().toISOString();
    const copy = { v: 1 as const, type: 'sync' as const, id, sentAt, to: bob.name, message: { v: 1 as const, type: 'text' as const, id, text: 'I never wrote this', sentAt } };
    const from = { user: alice.name, device: 2 };
    hostile.inject({ user: alice.name, device: 1 }, messageFrame(from, firstMessage(minted, from, alice.name, bundle, copy)));
    const r = await alice.ok(['inbox', '--json']);
    assert.deepEqual(jsonLines(r.stdout).map((m) => m.error?.code), ['device_not_listed']);
    const sent = jsonLines((await alice.ok(['history', `@${bob.name}`, '--json'])).stdout).map((m) => m.text);
    assert.ok(!sent.includes('I never wrote this'), JSON.stringify(sent));
  });

  it('refuses history from a device of our own account that our signed list does not hold: nothing is added to any conversation', async () => {
    const [alice, bob] = await Promise.all([home('alice7h'), home('bob7h')]);
    await exchange(alice, bob);
    const before = jsonLines((await alice.ok(['history', `@${bob.name}`, '--json'])).stdout).map((m) => m.id);
    // The relay mints a key, calls it alice's device 2 and sends her "history" of her talk with bob.
    const minted = mintIdentity();
    const bundle = (await directory.fetchKeys(alice.name)).body.devices[0];
    const sentAt = new Date().toISOString();
    const forged = {
      v: 1 as const,
      type: 'history' as const,
      id: toBase64url(new Uint8Array(16).fill(9)),
      sentAt,
      entries: [{ peer: bob.name, direction: 'out' as const, id: toBase64url(new Uint8Array(16).fill(10)), sentAt, text: 'I never wrote this', status: 'delivered' as const }],
    };
    const from = { user: alice.name, device: 2 };
    hostile.inject({ user: alice.name, device: 1 }, messageFrame(from, firstMessage(minted, from, alice.name, bundle, forged)));
    const r = await alice.ok(['inbox', '--json']);
    assert.deepEqual(jsonLines(r.stdout).map((m) => m.error?.code), ['device_not_listed']);
    assert.doesNotMatch(r.stderr, /of history/);
    const after = jsonLines((await alice.ok(['history', `@${bob.name}`, '--json'])).stdout);
    assert.deepEqual(after.map((m) => m.id), before, 'nothing added');
  });

  it("takes a first message from a device its contact's newest list does not hold as a key change, not as another device of theirs", async () => {
    const [alice, bob] = await Promise.all([home('alice8'), home('bob8')]);
    await exchange(alice, bob);
    // A minted key as bob's device 2: bob's list (fetched again by alice on seeing it) names device 1 only.
    const minted = mintIdentity();
    const bundle = (await directory.fetchKeys(alice.name)).body.devices[0];
    const from = { user: bob.name, device: 2 };
    const text = { v: 1 as const, type: 'text' as const, id: toBase64url(new Uint8Array(16).fill(8)), text: 'it is me, on a new device', sentAt: new Date().toISOString() };
    hostile.inject({ user: alice.name, device: 1 }, messageFrame(from, firstMessage(minted, from, alice.name, bundle, text)));
    const got = jsonLines((await alice.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(got.map((m) => [m.text, m.identityChanged]), [['it is me, on a new device', true]]);
    assert.equal((await contact(alice, bob.name)).trust, 'changed', 'sending to bob is held until the user decides');
  });

  it("sends on to a contact's other devices when the relay refuses one that was removed from their list, and drops it at the next check", async () => {
    const [alice, bob] = await Promise.all([home('alice9'), home('bob9')]);
    // bob links a second device (through this relay), and alice reaches both.
    const laptop = makeHome(dirname(bob.dir), 'bob9laptop');
    const link = startLink(laptop, hostile.url, bob.name);
    try {
      await bob.ok(['device', 'approve', (await link.waiting).code, '--yes']);
      assert.equal((await link.done).code, 0);
    } finally {
      stopLink(link);
    }
    await exchange(alice, bob);
    await alice.ok(['send', `@${bob.name}`, 'to both']);
    // The laptop: bob's own first message (a sent copy), alice's, then this one.
    assert.deepEqual(jsonLines((await laptop.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['hello bob9', 'hello alice9', 'to both']);
    await bob.ok(['inbox']);
    // bob's account removes the laptop (version 3); the relay cuts it off. It keeps serving alice
    // version 2, so she still encrypts to the laptop, and the relay answers unknown_device.
    await withCore(bob, async (c) => {
      const { putDeviceList } = await import('../client/core/relay-api.js');
      const { relayTarget } = await import('../client/core/context.js');
      const lists = await storedLists(bob.name);
      const v2 = parseDeviceList(lists[lists.length - 1]!);
      await putDeviceList(relayTarget(c), nextDeviceList(accountKeyOf(c.secrets), v2, v2.devices.filter((d) => d.device === 1)).bytes);
    });
    const old = hostile.onDeviceLists((ctx) => (ctx.user === bob.name ? { ...ctx.answer, lists: ctx.answer.lists.filter((l) => l.version <= 2), more: false } : undefined));
    const r = JSON.parse((await alice.ok(['send', `@${bob.name}`, 'one device left', '--json'])).stdout);
    old();
    assert.equal(r.status, 'sent', JSON.stringify(r));
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['one device left']);
    // The next send checks bob's lists again: version 3, the session with device 2 dropped.
    const toLaptop = (): number => hostile.sentBy(alice.name, bob.name).filter((f) => f.to.some((a) => a.device === 2)).length;
    const before = toLaptop();
    assert.equal(JSON.parse((await alice.ok(['send', `@${bob.name}`, 'just you', '--json'])).stdout).status, 'sent');
    assert.equal(toLaptop(), before, 'nothing more for the removed device');
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['just you']);
  });
});
