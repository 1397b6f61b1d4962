// docs/THREAT_MODEL.md "Malicious or compromised relay", attacked through the real `fastchat`
// binary and real homes: every home talks only to the hostile relay of test/util/hostile-relay.ts
// (a proxy in front of a real relay process), which substitutes keys, redirects, relabels,
// replays, tampers with, reorders, drops and forges traffic the way a relay running modified code
// could. Each test names the claim it attacks (the claims table at the end of THREAT_MODEL.md).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeEnvelope, parseEnvelope } from '../crypto/session.js';
import { deviceEntry, firstMessage, messageFrame, mintIdentity, receipt } from './util/forge.js';
import { jsonLines, runFastchat, type RunResult, type TestHome } from './util/fastchat-cli.js';
import { fakeId, hideDeviceLists, startHostileWorld, type HostileRelay, type MessageFrame } from './util/hostile-relay.js';
import { RelayHttp } from './util/relay-client.js';
import type { RelayProcess } from './util/relay-process.js';

async function inbox(h: TestHome, env: Record<string, string> = {}): Promise<{ messages: any[]; stderr: string }> {
  const r = await h.ok(['inbox', '--json'], { env });
  return { messages: jsonLines(r.stdout), stderr: r.stderr };
}

const texts = (ms: any[]): string[] => ms.filter((m) => m.text !== null && m.text !== undefined).map((m) => `${m.from}:${m.text}`);
const failures = (ms: any[]): string[] => ms.filter((m) => m.error).map((m) => `${m.from}:${m.error.code}`);

async function historyOf(h: TestHome, peer: string): Promise<any[]> {
  return jsonLines((await h.ok(['history', `@${peer}`, '-n', '100', '--json'])).stdout);
}

/** A session both ways: a first message each, each read, and b's queue empty again (a's receipt read). */
async function exchange(a: TestHome, b: TestHome): Promise<void> {
  await a.ok(['send', `@${b.name}`, `hello ${b.name}`]);
  await b.ok(['inbox']);
  await b.ok(['send', `@${a.name}`, `hello ${a.name}`]);
  await a.ok(['inbox']);
  await b.ok(['inbox']);
}

describe('a hostile relay against two homes', () => {
  let relay: RelayProcess;
  let hostile: HostileRelay;
  let home: (name: string) => Promise<TestHome>;
  let stop: () => Promise<void>;
  /** An account of the relay's own, to read the key directory as any stranger could. */
  let directory: RelayHttp;

  before(async () => {
    ({ relay, hostile, home, stop } = await startHostileWorld('fastchat-hostile-'));
    directory = new RelayHttp(relay.url);
    await directory.signup('relay_own');
  });
  after(async () => {
    await stop?.();
  });

  /** A bundle device entry of `user` taken from the directory (spends one of its one-time prekeys). */
  async function bundleOf(user: string): Promise<any> {
    const r = await directory.fetchKeys(user);
    assert.equal(r.status, 200);
    return r.body.devices[0];
  }

  it('blocks the send with exit 4 when it swaps the identity of a known contact, and nothing leaves for that contact', async () => {
    const [alice, bob] = await Promise.all([home('alice1'), home('bob1')]);
    // bob as a client from before device lists (his relay serves none): identity TOFU alone. With
    // a list the swap is refused outright (test/hostile-relay-device-lists.test.ts).
    const offLists = hostile.onDeviceLists(hideDeviceLists(bob.name));
    await exchange(alice, bob);
    const mallory = mintIdentity();
    const off = hostile.onKeys((ctx) => (ctx.user === bob.name ? { ...ctx.answer, devices: [deviceEntry(mallory, 1, ctx.kind)] } : undefined));
    const before = hostile.sentBy(alice.name, bob.name).length;
    const r = await alice.run(['send', '@bob1', 'meant for the real bob']);
    off();
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /identity key of @bob1 has changed/);
    assert.equal(hostile.sentBy(alice.name, bob.name).length, before, 'nothing was handed to the relay for bob');
    // Still blocked once the relay behaves: the change waits for the user's decision.
    assert.equal((await alice.run(['send', '@bob1', 'again'])).code, 4);
    assert.equal(hostile.sentBy(alice.name, bob.name).length, before);
    offLists();
  });

  it('is caught on a first contact by comparing safety numbers: the two sides see different numbers', async () => {
    const [alice, bob] = await Promise.all([home('alice2'), home('bob2')]);
    // A relay attacking a first contact hides bob's device list too (else the swapped key is not
    // the one bob's list holds, and is refused: test/hostile-relay-device-lists.test.ts).
    const offLists = hostile.onDeviceLists(hideDeviceLists(bob.name));
    const mallory = mintIdentity();
    const offKeys = hostile.onKeys((ctx) => (ctx.user === bob.name ? { ...ctx.answer, devices: [deviceEntry(mallory, 1, ctx.kind)] } : undefined));
    const offDeliver = hostile.onDeliver((f, to) => (to.user === bob.name ? 'drop' : undefined));
    // Trust on first use: alice cannot tell (documented), and her message is encrypted to mallory.
    await alice.ok(['send', '@bob2', 'for bob, read by the relay']);
    offKeys();
    offDeliver();
    const aliceView = JSON.parse((await alice.ok(['fingerprint', '@bob2', '--json'])).stdout);
    const bobView = JSON.parse((await bob.ok(['fingerprint', '@alice2', '--json'])).stdout);
    const bobOwn = JSON.parse((await bob.ok(['fingerprint', '--json'])).stdout);
    assert.notEqual(aliceView.fingerprint, bobOwn.fingerprint, 'alice holds another key for bob than his own');
    assert.match(aliceView.safetyNumber, /^(\d{5} ){11}\d{5}$/);
    assert.notEqual(aliceView.safetyNumber, bobView.safetyNumber, 'reading the numbers to each other reveals the substitution');
    offLists();
  });

  it('cannot substitute a signed prekey or the identity DH key: the first message is refused before anything is sent', async () => {
    const [alice, bob] = await Promise.all([home('alice3'), home('bob3')]);
    const other = mintIdentity();
    const swaps: [string, (d: any) => any][] = [
      ['signed prekey', (d) => ({ ...d, signedPreKey: (deviceEntry(other, 1, 'bundle') as any).signedPreKey })],
      ['identity dh key', (d) => ({ ...d, identity: { ...d.identity, dhPublic: (deviceEntry(other, 1, 'identity') as any).identity.dhPublic } })],
    ];
    for (const [what, swap] of swaps) {
      const off = hostile.onKeys((ctx) => (ctx.user === bob.name ? { ...ctx.answer, devices: ctx.answer.devices.map(swap) } : undefined));
      const r = await alice.run(['send', '@bob3', `with a swapped ${what}`]);
      off();
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /signature/, what);
      assert.deepEqual(hostile.sentBy(alice.name, bob.name), [], what);
    }
    // Nothing was recorded for bob either: the honest bundle is trusted on first use afterwards.
    await alice.ok(['send', '@bob3', 'honest']);
    assert.deepEqual(texts((await inbox(bob)).messages), ['alice3:honest']);
  });

  it('cannot redirect a first message to another account: it fails to decrypt there and is shown as a failure', async () => {
    const [alice, bob, carol] = await Promise.all([home('alice4'), home('bob4'), home('carol4')]);
    const off = hostile.onDeliver((f, to) => {
      if (to.user !== bob.name || f.from.user !== alice.name) return undefined;
      hostile.inject({ user: carol.name, device: 1 }, { ...f, id: fakeId(), clientId: fakeId() });
      return { deliver: [f] };
    });
    await alice.ok(['send', '@bob4', 'for bob only']);
    assert.deepEqual(texts((await inbox(bob)).messages), ['alice4:for bob only']);
    off();
    const c = await inbox(carol);
    assert.deepEqual(texts(c.messages), []);
    assert.deepEqual(failures(c.messages), ['alice4:decrypt_failed']);
    assert.match(c.stderr, /could not decrypt a message from @alice4/);
  });

  it('cannot redirect a first message to another device of the account, even one holding the same keys', async () => {
    const [alice, bob] = await Promise.all([home('alice5'), home('bob5')]);
    // bob as a client from before device lists (a listed account's unlisted device 2 would be
    // refused before anything is encrypted to it).
    const offLists = hostile.onDeviceLists(hideDeviceLists(bob.name));
    // bob copies his home to a second machine, which logs in as device 2 with the same keys.
    const copy: TestHome = { ...bob, dir: join(dirname(bob.dir), 'bob5-device2'), env: { ...bob.env, FASTCHAT_HOME: join(dirname(bob.dir), 'bob5-device2') } };
    cpSync(bob.dir, copy.dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(copy.dir, 'config.json'), 'utf8'));
    writeFileSync(join(copy.dir, 'config.json'), JSON.stringify({ ...cfg, deviceId: 2 }));
    const run = (args: string[]): Promise<RunResult> => runFastchat(args, copy.env);
    assert.equal((await run(['login', 'bob5'])).code, 0);
    // alice encrypts once per device; the relay stores the device-1 copy for device 2 instead.
    const off = hostile.onSend((f, from) => {
      if (from?.user !== alice.name) return undefined;
      return f.to[0]!.device === 1 ? { store: { ...f, to: [{ user: bob.name, device: 2 }] } } : 'lie';
    });
    await alice.ok(['send', '@bob5', 'for device 1']);
    off();
    const r = await run(['inbox', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const got = jsonLines(r.stdout);
    assert.deepEqual(texts(got), []);
    assert.deepEqual(failures(got), ['alice5:decrypt_failed']);
    offLists();
  });

  it('cannot misattribute a message to another account or device: a relabelled copy fails and is never shown as theirs', async () => {
    const [alice, bob] = await Promise.all([home('alice6'), home('bob6')]);
    await home('carol6');
    const relabel = (f: MessageFrame): MessageFrame[] => [
      { ...f, id: fakeId(), clientId: fakeId(), from: { user: 'carol6', device: 1 } },
      { ...f, id: fakeId(), clientId: fakeId(), from: { user: alice.name, device: 2 } },
      f,
    ];
    const off = hostile.onDeliver((f, to) => (to.user === bob.name && f.from.user === alice.name ? { deliver: relabel(f) } : undefined));
    await alice.ok(['send', '@bob6', 'first, from alice']);
    const first = await inbox(bob);
    await bob.ok(['send', '@alice6', 'reply']);
    await alice.ok(['inbox']);
    await alice.ok(['send', '@bob6', 'second, from alice']);
    const second = await inbox(bob);
    off();
    assert.deepEqual(texts(first.messages), ['alice6:first, from alice']);
    assert.deepEqual(texts(second.messages), ['alice6:second, from alice']);
    // The relabelled first message fails its X3DH AD; a relabelled later one has no session.
    assert.deepEqual(failures(first.messages), ['carol6:decrypt_failed', 'alice6:decrypt_failed']);
    // (alice's receipt came relabelled too.)
    assert.deepEqual([...new Set(failures(second.messages))], ['carol6:no_session', 'alice6:no_session']);
    assert.deepEqual((await historyOf(bob, 'carol6')).filter((m) => m.text !== null), []);
  });

  it('cannot make a client accept a message replayed within a session: shown once, the replay reported', async () => {
    const [alice, bob] = await Promise.all([home('alice7'), home('bob7')]);
    await exchange(alice, bob);
    const off = hostile.onDeliver((f, to) => (to.user === bob.name ? { deliver: [f, { ...f, id: fakeId(), clientId: fakeId() }] } : undefined));
    await alice.ok(['send', '@bob7', 'pay 10 once']);
    const r = await inbox(bob);
    off();
    assert.deepEqual(texts(r.messages), ['alice7:pay 10 once']);
    assert.match(r.stderr, /ignored a replayed message from @alice7/);
    assert.equal((await historyOf(bob, 'alice7')).filter((m) => m.text === 'pay 10 once').length, 1);
  });

  it('cannot make a client accept a replayed first message without a one-time prekey, even after the session it made is gone', async () => {
    const [alice, bob] = await Promise.all([home('alice8'), home('bob8')]);
    // The relay withholds bob's one-time prekeys, so X3DH alone cannot tell a replay.
    const off = hostile.onKeys((ctx) => (ctx.user === bob.name && ctx.kind === 'bundle' ? { ...ctx.answer, devices: ctx.answer.devices.map((d) => ({ ...d, oneTimePreKey: null })) } : undefined));
    await alice.ok(['send', '@bob8', 'the first message']);
    off();
    const [captured] = hostile.sentBy(alice.name, bob.name);
    assert.deepEqual(texts((await inbox(bob)).messages), ['alice8:the first message']);
    // alice re-keys; bob accepts the new key, which drops the session the first message made.
    await alice.ok(['keygen', '--force', '--yes']);
    await alice.ok(['send', '@bob8', 'new key, same alice']);
    await bob.ok(['inbox']);
    const compared = JSON.parse((await bob.ok(['fingerprint', '@alice8', '--json'])).stdout).safetyNumber as string;
    await bob.ok(['verify', '@alice8', '--accept', ...compared.split(' ')]);
    hostile.inject({ user: bob.name, device: 1 }, messageFrame({ user: alice.name, device: 1 }, captured!.body));
    const r = await inbox(bob);
    assert.deepEqual(texts(r.messages), []);
    assert.deepEqual(failures(r.messages), ['alice8:decrypt_failed']);
    // The replay changed nothing: bob's trust in alice's current key and his session with her stand.
    const contact = JSON.parse((await bob.ok(['contacts', '--json'])).stdout);
    assert.equal(contact.trust, 'verified');
    await bob.ok(['send', '@alice8', 'still talking']);
    assert.deepEqual(texts((await inbox(alice)).messages), ['bob8:still talking']);
  });

  it('handing one one-time prekey to two initiators opens only the first message; the second fails visibly', async () => {
    const [alice, carol, bob] = await Promise.all([home('alice9'), home('carol9'), home('bob9')]);
    let served: unknown;
    const off = hostile.onKeys((ctx) => {
      if (ctx.user !== bob.name || ctx.kind !== 'bundle') return undefined;
      served ??= ctx.answer.devices[0].oneTimePreKey;
      return { ...ctx.answer, devices: ctx.answer.devices.map((d) => ({ ...d, oneTimePreKey: served })) };
    });
    await alice.ok(['send', '@bob9', 'from alice']);
    await carol.ok(['send', '@bob9', 'from carol']);
    off();
    const r = await inbox(bob);
    assert.deepEqual(texts(r.messages), ['alice9:from alice']);
    assert.deepEqual(failures(r.messages), ['carol9:unknown_prekey']);
  });

  it('cannot alter or forge a message: tampered and forged ones are refused and the session reads the next honest one', async () => {
    const [alice, bob] = await Promise.all([home('alice10'), home('bob10')]);
    await exchange(alice, bob);
    const off = hostile.onDeliver((f, to) => {
      if (to.user !== bob.name) return undefined;
      const body = Buffer.from(f.body, 'base64url');
      body[body.length - 20]! ^= 1;
      // And a message of its own making in alice's name: a well-formed envelope with a ratchet key
      // and ciphertext of its choosing.
      const e = parseEnvelope(new Uint8Array(Buffer.from(f.body, 'base64url')));
      const forged = encodeEnvelope({ ...e, header: { ...e.header, dh: new Uint8Array(randomBytes(32)) }, ciphertext: new Uint8Array(randomBytes(e.ciphertext.length)) });
      return { deliver: [{ ...f, body: body.toString('base64url') }, { ...f, id: fakeId(), clientId: fakeId(), body: Buffer.from(forged).toString('base64url') }] };
    });
    await alice.ok(['send', '@bob10', 'pay 10']);
    const r = await inbox(bob);
    off();
    assert.deepEqual(texts(r.messages), []);
    assert.deepEqual(failures(r.messages), ['alice10:decrypt_failed', 'alice10:decrypt_failed']);
    await alice.ok(['send', '@bob10', 'pay 20']);
    assert.deepEqual(texts((await inbox(bob)).messages), ['alice10:pay 20']);
  });

  it('reorders and duplicates without effect: every message is shown once, in the end all of them', async () => {
    const [alice, bob] = await Promise.all([home('alice11'), home('bob11')]);
    await exchange(alice, bob);
    let n = 0;
    const off = hostile.onDeliver((f, to) => {
      if (to.user !== bob.name) return undefined;
      n += 1;
      if (n === 1) return 'hold';
      return { deliver: [f, { ...f, id: fakeId(), clientId: fakeId() }] };
    });
    for (const t of ['one', 'two', 'three']) await alice.ok(['send', '@bob11', t]);
    const early = await inbox(bob);
    off();
    assert.deepEqual(texts(early.messages), ['alice11:two', 'alice11:three']);
    assert.equal(hostile.release((h) => h.to.user === bob.name), 1);
    assert.deepEqual(texts((await inbox(bob)).messages), ['alice11:one']);
    const hist = (await historyOf(bob, 'alice11')).filter((m) => m.from === 'alice11').map((m) => m.text);
    assert.deepEqual(hist, ['hello bob11', 'two', 'three', 'one']);
  });

  it('shows a new device the relay adds to a known account as a key change: sending stops until the user verifies', async () => {
    const [alice, bob] = await Promise.all([home('alice12'), home('bob12')]);
    await exchange(alice, bob);
    const mallory = mintIdentity();
    const off = hostile.onKeys((ctx) => (ctx.user === bob.name ? { ...ctx.answer, devices: [...ctx.answer.devices, deviceEntry(mallory, 2, ctx.kind)] } : undefined));
    const before = hostile.sentBy(alice.name, bob.name).length;
    const r = await alice.run(['send', '@bob12', 'to every device of bob']);
    off();
    assert.equal(r.code, 4, r.stderr);
    assert.equal(hostile.sentBy(alice.name, bob.name).length, before, 'nothing went to either device');
  });

  it('cannot forge a delivery receipt: one inside a first message under a changed identity leaves the message "sent"', async () => {
    const [alice, bob] = await Promise.all([home('alice13'), home('bob13')]);
    await exchange(alice, bob);
    // The relay acks alice's message without storing it: bob never gets it.
    const off = hostile.onSend((f, from) => (from?.user === alice.name ? 'lie' : undefined));
    await alice.ok(['send', '@bob13', 'never stored']);
    off();
    const sent = (await historyOf(alice, 'bob13')).find((m) => m.text === 'never stored');
    assert.equal(sent.status, 'sent');
    // Then it answers with a receipt for that message (the worst case: it knows the message id) in
    // a first message from an identity of its own, under bob's name.
    const body = firstMessage(mintIdentity(), { user: bob.name, device: 1 }, alice.name, await bundleOf(alice.name), receipt(sent.id));
    hostile.inject({ user: alice.name, device: 1 }, messageFrame({ user: bob.name, device: 1 }, body));
    const r = await inbox(alice);
    assert.deepEqual(failures(r.messages), ['bob13:identity_changed']);
    assert.equal((await historyOf(alice, 'bob13')).find((m) => m.id === sent.id).status, 'sent', 'not marked delivered');
  });

  it('cannot forge a delivery receipt from an identity first seen in that message', async () => {
    const [alice, bob] = await Promise.all([home('alice14'), home('bob14')]);
    // alice writes to bob while the relay plays dead: the message waits in her outbox, and she has
    // never seen a key of bob's.
    const config = join(alice.dir, 'config.json');
    const saved = readFileSync(config, 'utf8');
    writeFileSync(config, JSON.stringify({ ...JSON.parse(saved), relay: 'http://127.0.0.1:9' }));
    const queued = JSON.parse((await alice.ok(['send', '@bob14', 'waiting', '--json'])).stdout);
    writeFileSync(config, saved);
    assert.equal(queued.status, 'queued');
    const body = firstMessage(mintIdentity(), { user: bob.name, device: 1 }, alice.name, await bundleOf(alice.name), receipt(queued.id));
    hostile.inject({ user: alice.name, device: 1 }, messageFrame({ user: bob.name, device: 1 }, body));
    // alice's inbox also flushes her outbox; the relay drops that message.
    const off = hostile.onSend((f, from) => (from?.user === alice.name ? 'lie' : undefined));
    const r = await inbox(alice);
    off();
    assert.deepEqual(failures(r.messages), ['bob14:new_identity']);
    assert.notEqual((await historyOf(alice, 'bob14')).find((m) => m.id === queued.id).status, 'delivered');
  });

  it('learns nothing from client ids: they are random and link no receipt to its message', async () => {
    const [alice, bob] = await Promise.all([home('alice15'), home('bob15')]);
    await exchange(alice, bob);
    await alice.ok(['send', '@bob15', 'which one is acknowledged?']);
    await bob.ok(['inbox']);
    await alice.ok(['inbox']);
    const hist = await historyOf(alice, 'bob15');
    assert.ok(hist.filter((m) => m.from === 'alice15').every((m) => m.status === 'delivered'));
    const ids = hist.map((m) => m.id as string);
    const clientIds = [...hostile.sentBy(alice.name, bob.name), ...hostile.sentBy(bob.name, alice.name)].map((f) => f.id);
    assert.ok(clientIds.length >= 6, `${clientIds.length} sends seen`);
    assert.equal(new Set(clientIds).size, clientIds.length);
    for (const cid of clientIds) {
      assert.match(cid, /^[A-Za-z0-9_-]{22}$/);
      for (const id of ids) assert.ok(!cid.includes(id) && !cid.includes(id.slice(0, 8)), `client id ${cid} names message ${id}`);
    }
    const common = (a: string, b: string): boolean => [...Array(a.length - 5).keys()].some((i) => b.includes(a.slice(i, i + 6)));
    for (const a of clientIds) for (const b of clientIds) if (a !== b) assert.ok(!common(a, b), `${a} and ${b} share a part`);
  });

  it('drops a message it acked: once a later one arrives and the bound passes, the receiver is told one is missing', async () => {
    const [alice, bob] = await Promise.all([home('alice16'), home('bob16')]);
    await exchange(alice, bob);
    let lied = 0;
    const off = hostile.onSend((f, from) => (from?.user === alice.name && lied++ === 0 ? 'lie' : undefined));
    assert.match((await alice.ok(['send', '@bob16', 'lost on the way'])).stdout, /sent to @bob16/);
    off();
    await alice.ok(['send', '@bob16', 'arrives']);
    // Within the bound (a minute by default) a gap may still be a reordering: nothing is said yet.
    const early = await inbox(bob);
    assert.deepEqual(texts(early.messages), ['alice16:arrives']);
    assert.deepEqual(early.messages.filter((m) => m.gap), []);
    const late = await inbox(bob, { FASTCHAT_GAP_GRACE_SECONDS: '0' });
    assert.deepEqual(late.messages.map((m) => [m.from, m.text, m.gap?.missing]), [['alice16', null, 1]]);
    assert.match(late.stderr, /1 message from @alice16 never arrived/);
    // Said once.
    assert.deepEqual((await inbox(bob, { FASTCHAT_GAP_GRACE_SECONDS: '0' })).messages, []);
  });

  it('reports no gap for a message it only delivers out of order', async () => {
    const [alice, bob] = await Promise.all([home('alice17'), home('bob17')]);
    await exchange(alice, bob);
    const off = hostile.onDeliver((f, to) => {
      if (to.user !== bob.name) return undefined;
      if (hostile.held.length === 0) return 'hold';
      return { deliver: [f, ...hostile.held.splice(0).map((h) => h.frame)] };
    });
    await alice.ok(['send', '@bob17', 'first']);
    await alice.ok(['send', '@bob17', 'second']);
    const r = await inbox(bob, { FASTCHAT_GAP_GRACE_SECONDS: '0' });
    off();
    assert.deepEqual(texts(r.messages), ['alice17:second', 'alice17:first']);
    assert.doesNotMatch(r.stderr, /never arrived/);
  });
});
