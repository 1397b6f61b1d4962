// Linking a device end to end (docs/PROTOCOL.md D.12, docs/CLI.md "device"): the real `fastchat`
// binary in two homes of alice and one of bob, a real relay process. The new device gets a login
// without the password, the account's list then names both devices under one account key, and the
// new home holds the account key and alice's contacts with their trust. Refused: a code typed
// wrong, a code approved from another account's home, a code approved twice, an expired code, and
// a provisioning message a relay altered on its way.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import { fromBase64url, toBase64url } from '../crypto/encoding.js';
import { firstDeviceList, nextDeviceList, parseDeviceList, signDeviceEntry } from '../crypto/device-list.js';
import { generateAccountKey } from '../crypto/account.js';
import { generateIdentity } from '../crypto/identity.js';
import { sodiumReady, systemRandom } from '../crypto/sodium.js';
import { converse, jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { startHttpFront } from './util/http-front.js';
import { linkIn } from './util/linking.js';
import { openCore, withCore } from './util/client-core.js';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp } from './util/relay-client.js';
import { RELAY_TEST_ARGS, waitFor } from './util/fault.js';
import { Tmux } from './util/tmux.js';

await sodiumReady();

/**
 * A relay as a client behind it sees it: every request forwarded to `upstream` as is (unless `hold`
 * keeps it), and each answer handed to `rewrite`, which may replace it (status and JSON body).
 */
function startProxy(upstream: string, rewrite: Rewrite, hold?: Hold): Promise<{ url: string; close(): Promise<void> }> {
  return startHttpFront(upstream, {
    before: (req) => (hold?.(req.method, req.url) ? 'hold' : undefined),
    after: (req, reply) => {
      const changed = rewrite(req.url, reply.status, reply.body, req.body);
      return changed && { status: changed.status, json: changed.body };
    },
  });
}

type Rewrite = (path: string, status: number, body: Buffer, reqBody: Buffer) => { status: number; body: unknown } | undefined;
/** true: the request is held (not forwarded, not answered). */
type Hold = (method: string, path: string) => boolean;

/** A temp root and a relay process (with a rewriting proxy in front when asked), all gone after the test. */
async function world(t: TestContext, opts: { relayArgs?: string[]; rewrite?: Rewrite; hold?: Hold } = {}) {
  const tmp = makeTempRoot('fastchat-link-');
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, ...(opts.relayArgs ?? [])] });
  const proxy = opts.rewrite || opts.hold ? await startProxy(relay.url, opts.rewrite ?? (() => undefined), opts.hold) : undefined;
  t.after(async () => {
    await proxy?.close();
    await relay.stop();
    tmp.cleanup();
  });
  return { relay, proxyUrl: proxy?.url ?? relay.url, home: (name: string, env: Record<string, string> = {}) => makeHome(tmp.root, name, env) };
}

/** world() with alice and bob registered, each a contact of the other, and an empty home for alice's laptop. */
async function aliceAndBob(t: TestContext, opts: Parameters<typeof world>[1] = {}) {
  const w = await world(t, opts);
  const [alice, bob, laptop] = [w.home('alice'), w.home('bob'), w.home('laptop')];
  await Promise.all([setUpUser(alice, w.relay.url), setUpUser(bob, w.relay.url)]);
  await converse(alice, bob);
  return { ...w, alice, bob, laptop };
}

/**
 * After the laptop linked as alice's device 2: the relay holds version 1 (alice's first device)
 * and version 2 adding the laptop, both under one account key, and each home, checking them under
 * the account key it holds, lists both devices at version 2 (`this` on its own).
 */
async function assertLinkedAsSecond(relayUrl: string, alice: TestHome, laptop: TestHome): Promise<void> {
  const lists = (await listsOf(relayUrl, 'alice')).map(parseDeviceList);
  assert.deepEqual(lists.map((l) => [l.version, l.devices.map((d) => d.device)]), [[1, [1]], [2, [1, 2]]]);
  assert.equal(toBase64url(lists[0]!.accountKey), toBase64url(lists[1]!.accountKey));
  for (const home of [alice, laptop]) {
    const rows = jsonLines((await home.ok(['device', 'list', '--json'])).stdout);
    assert.deepEqual(rows.map((r) => [r.device, r.version]), [[1, 2], [2, 2]], home.name);
    assert.equal(rows.find((r) => r.this).device, home === alice ? 1 : 2);
  }
}

function errorCode(stderr: string): string {
  const lines = jsonLines(stderr.split('\n').filter((l) => l.startsWith('{')).join('\n')).filter((l) => l.error);
  return lines.length > 0 ? lines[lines.length - 1].error.code : `no json error in: ${stderr}`;
}

/** Every list the relay holds for `user`, read as a stranger account would. */
async function listsOf(relayUrl: string, user: string): Promise<Uint8Array[]> {
  const reader = new RelayHttp(relayUrl);
  await reader.signup(`reader_${Math.random().toString(36).slice(2, 8)}`);
  const r = await reader.request('GET', `/v1/devices/${user}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body.lists as { list: string }[]).map((l) => fromBase64url(l.list));
}

// Each test has a relay, a temp root and homes of its own (the one tmux server is the terminal
// test's). They run two at a time: a link waits on timers (the new device asks every second, an
// expiry is awaited), about 11 s of this file idle, which the other test's work fills.
describe('linking devices', { concurrency: 2 }, () => {
  test('a new device linked with a code: it logs in as device 2, the list names both devices under one account key, and it holds the account key and the contacts; wrong-account, mistyped and replayed approvals are refused', { timeout: 240_000 }, async (t) => {
    const { relay, alice, bob, laptop } = await aliceAndBob(t);
    await alice.ok(['verify', '@bob']);

    const link = linkIn(t, laptop, relay.url, 'alice');
    const { code, fingerprint } = await link.waiting;
    assert.match(code, /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);

    // Bob's home: the relay shows alice's waiting device to alice's account only.
    const byBob = await bob.run(['device', 'approve', code, '--yes', '--json']);
    assert.equal(byBob.code, 1, byBob.stderr);
    assert.equal(errorCode(byBob.stderr), 'link_not_found');

    // The right channel, a wrong secret part: the request's MAC does not verify; nothing is sent.
    const last = code[code.length - 1] === '0' ? '1' : '0';
    const typo = await alice.run(['device', 'approve', code.slice(0, -1) + last, '--yes', '--json']);
    assert.equal(typo.code, 1, typo.stderr);
    assert.equal(errorCode(typo.stderr), 'wrong_code');

    const approved = await alice.ok(['device', 'approve', code.toUpperCase(), '--yes', '--json']);
    const a = JSON.parse(approved.stdout);
    assert.deepEqual([a.approved, a.user, a.device, a.fingerprint, a.contacts], [true, 'alice', 2, fingerprint, 1]);
    assert.match(approved.stderr, new RegExp(fingerprint), 'the fingerprint is shown before approving');

    const end = await link.done;
    assert.equal(end.code, 0, end.stderr);
    const linked = jsonLines(end.stdout).at(-1);
    assert.deepEqual([linked.state, linked.user, linked.device, linked.contacts, linked.deviceListVersion], ['linked', 'alice', 2, 1, 2]);

    const who = JSON.parse((await laptop.ok(['whoami', '--json'])).stdout);
    assert.deepEqual([who.username, who.deviceId, who.loggedIn, who.fingerprint], ['alice', 2, true, fingerprint]);

    // The list: version 1 (alice's first device, started by the approval) and version 2 adding the
    // laptop, both under one account key, checked by each home under the key it holds.
    await assertLinkedAsSecond(relay.url, alice, laptop);
    const contacts = jsonLines((await laptop.ok(['contacts', '--json'])).stdout);
    assert.deepEqual(contacts.map((k) => [k.username, k.trust]), [['bob', 'verified']]);
    const bobOnAlice = jsonLines((await alice.ok(['contacts', '--json'])).stdout);
    assert.equal(contacts[0].fingerprint, bobOnAlice[0].fingerprint);

    // The code is spent: approving it again is refused before a ticket is asked for (the answered
    // channel stays until it expires, so the new device could take it again).
    const again = await alice.run(['device', 'approve', code, '--yes', '--json']);
    assert.equal(again.code, 1, again.stderr);
    assert.equal(errorCode(again.stderr), 'link_used');
    assert.equal((await listsOf(relay.url, 'alice')).length, 2);
  });

  test('the link address device link shows (as a QR code) approves like its code; one naming another account or relay is refused before anything is asked', { timeout: 180_000 }, async (t) => {
    const { relay, alice, bob, laptop } = await aliceAndBob(t);
    const link = linkIn(t, laptop, relay.url, 'alice');
    const { code, link: address, fingerprint } = await link.waiting;
    assert.equal(address, `fastchat:link?relay=${encodeURIComponent(relay.url)}&user=alice&code=${code}`);

    // On bob's home the address names another account; edited to another relay on alice's: usage errors.
    const byBob = await bob.run(['device', 'approve', address, '--yes', '--json']);
    assert.equal(byBob.code, 2, byBob.stderr);
    assert.match(byBob.stderr, /for @alice, and this home is @bob/);
    const elsewhere = address.replace(encodeURIComponent(relay.url), encodeURIComponent('https://chat.example.org'));
    const wrongRelay = await alice.run(['device', 'approve', elsewhere, '--yes', '--json']);
    assert.equal(wrongRelay.code, 2, wrongRelay.stderr);
    assert.match(wrongRelay.stderr, /for the relay https:\/\/chat\.example\.org/);

    const approved = JSON.parse((await alice.ok(['device', 'approve', address, '--yes', '--json'])).stdout);
    assert.deepEqual([approved.approved, approved.device, approved.fingerprint], [true, 2, fingerprint]);
    const end = await link.done;
    assert.equal(end.code, 0, end.stderr);
    assert.equal(jsonLines(end.stdout).at(-1).state, 'linked');
  });

  test('an expired code fails on both devices and links nothing', { timeout: 120_000 }, async (t) => {
    const { relay, home } = await world(t, { relayArgs: ['--link-ttl-seconds', '2'] });
    const alice = home('alice');
    const laptop = home('laptop');
    await setUpUser(alice, relay.url);
    const link = linkIn(t, laptop, relay.url, 'alice');
    const { code } = await link.waiting;
    const end = await link.done; // the relay drops the channel after 2 s; the new device gives up
    assert.equal(end.code, 1, end.stderr);
    assert.equal(errorCode(end.stderr), 'link_expired');
    const late = await alice.run(['device', 'approve', code, '--yes', '--json']);
    assert.equal(late.code, 1, late.stderr);
    assert.equal(errorCode(late.stderr), 'link_not_found');
    assert.deepEqual((await listsOf(relay.url, 'alice')).map((l) => parseDeviceList(l).devices.map((d) => d.device)), [[1]], 'the list register made, unchanged');
    assert.equal(JSON.parse((await laptop.ok(['whoami', '--json'])).stdout).username, null);
  });

  test('a provisioning message altered by the relay on its way is refused: the new device stays unlinked and the ticket unused', { timeout: 120_000 }, async (t) => {
    // The relay as the new device sees it: forwards everything, flips one bit of the message it hands over.
    const { relay, proxyUrl, home } = await world(t, {
      rewrite: (path, status, body) => {
        if (!/^\/v1\/link\/[^/]+\/take$/.test(path) || status !== 200) return undefined;
        const m = fromBase64url(JSON.parse(body.toString('utf8')).message);
        m[m.length - 20]! ^= 1;
        return { status, body: { message: toBase64url(m) } };
      },
    });
    const alice = home('alice');
    const laptop = home('laptop');
    await setUpUser(alice, relay.url);
    const link = linkIn(t, laptop, proxyUrl, 'alice');
    const { code } = await link.waiting;
    await alice.ok(['device', 'approve', code, '--yes', '--json']);
    const end = await link.done;
    assert.equal(end.code, 1, end.stderr);
    assert.equal(errorCode(end.stderr), 'bad_provisioning_message');
    assert.equal(JSON.parse((await laptop.ok(['whoami', '--json'])).stdout).username, null, 'the new home is not logged in');
    assert.deepEqual((await listsOf(relay.url, 'alice')).map((l) => parseDeviceList(l).devices.length), [1], 'no device was added');
    assert.equal(jsonLines((await laptop.ok(['contacts', '--json'])).stdout).length, 0, 'no contact was taken');
  });

  test('a device list the relay serves under another account key stops an approval before anything is signed or sent', { timeout: 180_000 }, async (t) => {
    // The relay answers alice's list look-ups, while told to, with a list of alice signed by a key of its own.
    const own = generateAccountKey(systemRandom());
    const fake = generateIdentity(systemRandom());
    const forged = firstDeviceList(own, 'alice', [signDeviceEntry(fake, { user: 'alice', accountKey: own.publicKey }, 1, 1)]).bytes;
    let forge = false;
    const { relay, proxyUrl, home } = await world(t, {
      rewrite: (path, status) => (forge && path.startsWith('/v1/devices/alice') && status === 200 ? { status, body: { username: 'alice', lists: [{ version: 1, list: toBase64url(forged) }], more: false } } : undefined),
    });
    const alice = home('alice');
    const laptop = home('laptop');
    await setUpUser(alice, proxyUrl);
    const link = linkIn(t, laptop, relay.url, 'alice');
    const { code } = await link.waiting;
    const before = (await listsOf(relay.url, 'alice')).map((l) => toBase64url(l));
    forge = true;
    const r = await alice.run(['device', 'approve', code, '--yes', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(errorCode(r.stderr), 'not_account_holder');
    forge = false;
    assert.deepEqual((await listsOf(relay.url, 'alice')).map((l) => toBase64url(l)), before, 'no list was signed or stored');
    // Nothing was spent: the same code still links once the relay serves the account's own list.
    await alice.ok(['device', 'approve', code, '--yes']);
    assert.equal((await link.done).code, 0);
  });

  test("a relay that shows another account's waiting device to bob gets nothing from bob: his home refuses a request naming another account", { timeout: 120_000 }, async (t) => {
    // The relay keeps the request alice's new device left and serves it to bob when he asks for the code.
    let aliceRequest: string | undefined;
    const { relay, proxyUrl, home } = await world(t, {
      rewrite: (path, status, _body, reqBody) => {
        if (path === '/v1/link' && status === 201) aliceRequest = JSON.parse(reqBody.toString('utf8')).request;
        if (/^\/v1\/link\/[^/]+$/.test(path) && status === 404 && aliceRequest) return { status: 200, body: { request: aliceRequest } };
        return undefined;
      },
    });
    const alice = home('alice');
    const bob = home('bob');
    const laptop = home('laptop');
    await Promise.all([setUpUser(alice, relay.url), setUpUser(bob, proxyUrl)]);
    const link = linkIn(t, laptop, proxyUrl, 'alice');
    const { code } = await link.waiting;
    const r = await bob.run(['device', 'approve', code, '--yes', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(errorCode(r.stderr), 'wrong_account');
    assert.deepEqual((await listsOf(relay.url, 'bob')).map((l) => parseDeviceList(l).version), [1], "bob's home signed no list for it");
    await alice.ok(['device', 'approve', code, '--yes']);
    assert.equal((await link.done).code, 0);
  });

  test('a device list changed by another device while the new one signs its own is signed again on top, and the link completes', { timeout: 120_000 }, async (t) => {
    // The first list the new device uploads is stored, but it is told another version won the race.
    let conflicts = 0;
    const { relay, proxyUrl, home } = await world(t, {
      rewrite: (path, status) => {
        if (path !== '/v1/devices' || status !== 200 || conflicts > 0) return undefined;
        conflicts++;
        return { status: 409, body: { error: { code: 'device_list_conflict', message: 'another device stored this version first' } } };
      },
    });
    const alice = home('alice');
    const laptop = home('laptop');
    await setUpUser(alice, relay.url);
    const link = linkIn(t, laptop, proxyUrl, 'alice');
    await alice.ok(['device', 'approve', (await link.waiting).code, '--yes']);
    const end = await link.done;
    assert.equal(end.code, 0, end.stderr);
    assert.equal(conflicts, 1);
    const lists = (await listsOf(relay.url, 'alice')).map(parseDeviceList);
    assert.deepEqual(lists.map((l) => l.devices.map((d) => d.device)), [[1], [1, 2], [1, 2]], 'signed again on top of the version the relay holds');
  });

  test("a link whose device list upload is refused publishes none of the new device's keys, so a new contact still reaches the account", { timeout: 120_000 }, async (t) => {
    // One list upload an hour: alice's register spends it, so the laptop's own list is refused (429)
    // after it has logged in with the ticket.
    const { relay, home } = await world(t, { relayArgs: ['--rate-limit-device-lists', '1'] });
    const alice = home('alice');
    const carol = home('carol');
    const laptop = home('laptop');
    await Promise.all([setUpUser(alice, relay.url), setUpUser(carol, relay.url)]);
    const link = linkIn(t, laptop, relay.url, 'alice');
    await alice.ok(['device', 'approve', (await link.waiting).code, '--yes']);
    const end = await link.done;
    assert.notEqual(end.code, 0, 'the link cannot finish without its list');
    assert.equal(errorCode(end.stderr), 'rate_limited');
    assert.deepEqual((await listsOf(relay.url, 'alice')).map(parseDeviceList).map((l) => l.devices.map((d) => d.device)), [[1]]);

    // carol has no session with alice: her send fetches the bundles of every device of alice's, and
    // would refuse the account (device_not_listed) if the unlisted laptop had published one.
    await carol.ok(['send', '@alice', 'hello alice']);
    const got = jsonLines((await alice.ok(['inbox', '--json'])).stdout);
    assert.ok(got.some((m) => m.from === 'carol'), JSON.stringify(got));
  });

  test('device remove: alice removes her laptop from her first device; its token stops working, its login is refused and nothing sent afterwards is stored for it', { timeout: 240_000 }, async (t) => {
    const { relay, alice, bob, laptop } = await aliceAndBob(t);
    const link = linkIn(t, laptop, relay.url, 'alice');
    await alice.ok(['device', 'approve', (await link.waiting).code, '--yes']);
    assert.equal((await link.done).code, 0);
    const laptopFp = JSON.parse((await laptop.ok(['whoami', '--json'])).stdout).fingerprint as string;
    const queued = () => {
      const db = new Database(relay.db, { readonly: true });
      try {
        const rows = db.prepare("SELECT device_id, count(*) AS n FROM deliveries WHERE username = 'alice' GROUP BY device_id ORDER BY device_id").all() as { device_id: number; n: number }[];
        const tokens = db.prepare("SELECT count(*) AS n FROM sessions WHERE username = 'alice' AND device_id = 2").get() as { n: number };
        return { queues: rows.map((q) => [q.device_id, q.n]), tokensOf2: tokens.n };
      } finally {
        db.close();
      }
    };

    // The relay commits an ack-only turn up to a few ms after it (docs/RELAY.md "Durability"): the
    // acks of the command that just ran may still be on their way to the file.
    const queuedSettles = async (want: ReturnType<typeof queued>, what?: string): Promise<void> => {
      await waitFor(() => isDeepStrictEqual(queued(), want), 5000, 'the relay queues to settle').catch(() => {});
      assert.deepEqual(queued(), want, what);
    };

    // Before the removal the laptop is a device of the account: its token works and the relay queues
    // for it (a stranger's raw message, as any sender's ciphertext would be).
    await laptop.ok(['inbox']);
    const stranger = new RelayHttp(relay.url);
    await stranger.signup('stranger');
    const toLaptop = (id: string) => stranger.request('POST', '/v1/messages', { id, to: [{ user: 'alice', device: 2 }], body: 'aGk' });
    assert.equal((await toLaptop('m-before')).status, 200);
    await queuedSettles({ queues: [[2, 1]], tokensOf2: 1 });

    const rows = jsonLines((await alice.ok(['device', 'list', '--json'])).stdout);
    assert.deepEqual(rows.map((r) => [r.device, r.this]), [[1, true], [2, false]]);
    // Refused, nothing changed: this home's own device, a device the list does not hold, no terminal to confirm on.
    for (const [args, code] of [[['1', '--yes'], 'own_device'], [['7', '--yes'], 'unknown_device'], [['2'], 'confirmation_needed']] as const) {
      const r = await alice.run(['device', 'remove', ...args, '--json']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(errorCode(r.stderr), code, args.join(' '));
    }
    assert.equal((await alice.run(['device', 'remove', 'two'])).code, 2);
    assert.equal((await listsOf(relay.url, 'alice')).length, 2, 'nothing was uploaded');

    const removed = await alice.ok(['device', 'remove', '2', '--yes', '--json']);
    assert.deepEqual(JSON.parse(removed.stdout), { removed: true, user: 'alice', device: 2, fingerprint: laptopFp, deviceListVersion: 3 });
    // What the question shows: the device as `device list` shows it.
    assert.ok(removed.stderr.includes(laptopFp) && removed.stderr.includes(rows[1].addedAt), removed.stderr);
    const lists = (await listsOf(relay.url, 'alice')).map(parseDeviceList);
    assert.deepEqual(lists.map((l) => l.devices.map((d) => d.device)), [[1], [1, 2], [1]]);
    assert.deepEqual(jsonLines((await alice.ok(['device', 'list', '--json'])).stdout).map((r) => r.device), [1]);
    await queuedSettles({ queues: [], tokensOf2: 0 }, "the laptop's queue and tokens are gone");

    // The laptop: its token no longer works, and it cannot log in again as device 2.
    const inbox = await laptop.run(['inbox', '--json']);
    assert.equal(inbox.code, 1, inbox.stderr);
    assert.equal(errorCode(inbox.stderr), 'unauthorized');
    const login = await laptop.run(['login', 'alice', '--json'], { env: { FASTCHAT_PASSWORD: alice.env.FASTCHAT_PASSWORD! } });
    assert.equal(login.code, 1, login.stderr);
    assert.equal(errorCode(login.stderr), 'device_removed');

    // Sent after the removal: bob's message is queued for alice's first device only, and the relay
    // takes nothing addressed to the laptop.
    await bob.ok(['send', '@alice', 'after the removal']);
    const refused = await toLaptop('m-after');
    assert.deepEqual([refused.status, refused.body.error?.code], [404, 'unknown_device']);
    assert.deepEqual(queued(), { queues: [[1, 1]], tokensOf2: 0 });
    assert.deepEqual(jsonLines((await alice.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['after the removal']);
  });

  test('device link on a terminal asks for the passphrase once (a new one twice, to confirm it), and the account key is sealed under that passphrase', { timeout: 180_000 }, async (t) => {
    const { relay, home } = await world(t);
    const tmux = new Tmux('fastchat-link');
    t.after(() => tmux.killServer());
    const alice = home('alice');
    await setUpUser(alice, relay.url);
    // A fresh home (keys made by device link) and one whose keys were made before; no passphrase in the environment.
    const fresh = home('laptop', { FASTCHAT_PASSPHRASE: '' });
    const desk = home('desk');
    await desk.ok(['keygen']);
    const typed = { laptop: 'laptop secret phrase', desk: desk.env.FASTCHAT_PASSPHRASE! };

    for (const [h, prompts] of [[fresh, ['passphrase: ', 'passphrase (again): ']], [{ ...desk, env: { ...desk.env, FASTCHAT_PASSPHRASE: '' } }, ['passphrase: ']]] as const) {
      const pane = `link-${h.name}`;
      tmux.startFastchat(pane, h, ['device', 'link', '--relay', relay.url, '--user', 'alice']);
      for (const p of prompts) {
        await tmux.waitFor(pane, new RegExp(`${p.replace(/[()]/g, '\\$&')}$`, 'm'));
        tmux.type(pane, typed[h.name as 'laptop' | 'desk']);
      }
      // The next thing on screen is the code: no further passphrase question (which would wait forever).
      const screen = await tmux.waitFor(pane, /pairing code: (\S+)/, 30_000);
      assert.equal(screen.match(/passphrase( \(again\))?: /g)?.length, prompts.length, screen);
      // On a terminal the link address is drawn as a QR code above the code (client/qr.test.ts reads one back).
      assert.ok(/^▀{29,}$/m.test(screen), `a QR code is drawn:\n${screen}`);
      const code = /pairing code: (\S+)/.exec(screen)![1]!;
      await alice.ok(['device', 'approve', code, '--yes']);
      await tmux.waitFor(pane, /CHAT-EXIT=0/, 60_000);
    }
    // Each keystore opens with the passphrase typed and holds the account key: the list checks out under it.
    for (const [h, device] of [[fresh, 2], [desk, 3]] as const) {
      const rows = jsonLines((await h.ok(['device', 'list', '--json'], { env: { FASTCHAT_PASSPHRASE: typed[h.name as 'laptop' | 'desk'] } })).stdout);
      assert.deepEqual(rows.map((r) => r.device), [1, 2, 3], h.name);
      assert.equal(rows.find((r) => r.this).device, device);
    }
  });

  test('an account with no device list on the relay (as a relay from before lists holds it): the approving device signs version 1 itself, and the link completes on top of it', { timeout: 120_000 }, async (t) => {
    const { relay, home } = await world(t);
    const alice = home('alice');
    const laptop = home('laptop');
    await setUpUser(alice, relay.url);
    // What a relay from before device lists holds for an account: its keys, no list.
    const db = new Database(relay.db);
    try {
      assert.equal(db.prepare("DELETE FROM device_lists WHERE username = 'alice'").run().changes, 1);
    } finally {
      db.close();
    }
    assert.deepEqual(await listsOf(relay.url, 'alice'), []);
    assert.deepEqual(jsonLines((await alice.ok(['device', 'list', '--json'])).stdout).map((r) => [r.device, r.version]), [[1, 0]]);

    const link = linkIn(t, laptop, relay.url, 'alice');
    const { fingerprint } = await link.waiting;
    await alice.ok(['device', 'approve', (await link.waiting).code, '--yes']);
    const end = await link.done;
    assert.equal(end.code, 0, end.stderr);
    await assertLinkedAsSecond(relay.url, alice, laptop);
    assert.equal(JSON.parse((await laptop.ok(['whoami', '--json'])).stdout).fingerprint, fingerprint);
  });

  test('a link interrupted after its ticket logged the new device in (killed while uploading its list) is finished by running device link again', { timeout: 180_000 }, async (t) => {
    let holding = true;
    let held!: () => void;
    const listUploadHeld = new Promise<void>((r) => (held = r));
    const { relay, proxyUrl, alice, bob, laptop } = await aliceAndBob(t, {
      hold: (method, path) => {
        if (!holding || method !== 'PUT' || path !== '/v1/devices') return false;
        held();
        return true;
      },
    });
    const link = linkIn(t, laptop, proxyUrl, 'alice');
    const { fingerprint } = await link.waiting;
    await alice.ok(['device', 'approve', (await link.waiting).code, '--yes']);
    // The ticket is redeemed and the new device is uploading its list: the power goes.
    await listUploadHeld;
    link.child.kill('SIGKILL');
    assert.equal((await link.done).code, null);
    holding = false;
    assert.deepEqual((await listsOf(relay.url, 'alice')).map((l) => parseDeviceList(l).devices.map((d) => d.device)), [[1]], 'not in the list yet');

    // Another link from this home is refused with what to do; the same one is finished.
    const other = await laptop.run(['device', 'link', '--relay', proxyUrl, '--user', 'bob', '--json']);
    assert.equal(other.code, 1, other.stderr);
    assert.equal(errorCode(other.stderr), 'already_registered');
    assert.match(other.stderr, /device link --relay \S+ --user alice/);
    const again = await laptop.ok(['device', 'link', '--relay', proxyUrl, '--user', 'alice', '--json']);
    const linked = jsonLines(again.stdout).at(-1);
    assert.deepEqual([linked.state, linked.user, linked.device, linked.fingerprint, linked.contacts, linked.deviceListVersion], ['linked', 'alice', 2, fingerprint, 1, 2]);
    const lists = (await listsOf(relay.url, 'alice')).map(parseDeviceList);
    assert.deepEqual(lists.map((l) => l.devices.map((d) => d.device)), [[1], [1, 2]]);
    assert.deepEqual(jsonLines((await laptop.ok(['device', 'list', '--json'])).stdout).map((r) => [r.device, r.this]), [[1, false], [2, true]]);
    // Finished: its keys are published, and a third run is refused.
    const reader = new RelayHttp(relay.url);
    await reader.signup('reader');
    const ids = (await reader.request('GET', '/v1/keys/alice/identity')).body as { devices: { deviceId: number }[] };
    assert.deepEqual(ids.devices.map((d) => d.deviceId).sort(), [1, 2]);
    const third = await laptop.run(['device', 'link', '--relay', proxyUrl, '--user', 'alice', '--json']);
    assert.equal(third.code, 1, third.stderr);
    assert.equal(errorCode(third.stderr), 'already_registered');
  });

  test('device remove signs again on top when another device stores a newer list between its read and its upload (device_list_conflict), and the device is still removed', { timeout: 180_000 }, async (t) => {
    const { relay, home } = await world(t);
    const [alice, laptop] = [home('alice'), home('laptop')];
    await setUpUser(alice, relay.url);
    const link = linkIn(t, laptop, relay.url, 'alice');
    await alice.ok(['device', 'approve', (await link.waiting).code, '--yes']);
    assert.equal((await link.done).code, 0);
    const laptopCore = await openCore(laptop);
    t.after(() => laptopCore.close());

    const { removeDevice } = await import('../client/core/linking.js');
    const { accountKeyOf } = await import('../client/core/keystore.js');
    const { relayTarget } = await import('../client/core/context.js');
    const { request } = await import('../client/core/relay-http.js');
    const r = await withCore(alice, (c) =>
      removeDevice(c, 2, async () => {
        // While alice confirms, the laptop stores version 3 (the same devices, signed again).
        const current = parseDeviceList((await listsOf(relay.url, 'alice')).at(-1)!);
        const next = nextDeviceList(accountKeyOf(laptopCore.secrets), current, current.devices);
        await request(relayTarget(laptopCore), 'PUT', '/v1/devices', { list: toBase64url(next.bytes) });
        return true;
      }),
    );
    assert.equal(r.deviceListVersion, 4, 'signed on top of the version the laptop stored');
    const lists = (await listsOf(relay.url, 'alice')).map(parseDeviceList);
    assert.deepEqual(lists.map((l) => [l.version, l.devices.map((d) => d.device)]), [[1, [1]], [2, [1, 2]], [3, [1, 2]], [4, [1]]]);
  });
});
