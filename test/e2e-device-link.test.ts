// Linking a device end to end (docs/PROTOCOL.md D.12, docs/CLI.md "device"): the real `fastchat`
// binary in two homes of alice and one of bob, a real relay process. The new device gets a login
// without the password, the account's list then names both devices under one account key, and the
// new home holds the account key and alice's contacts with their trust. Refused: a code typed
// wrong, a code approved from another account's home, a code approved twice, an expired code, and
// a provisioning message a relay altered on its way.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fromBase64url, toBase64url } from '../crypto/encoding.js';
import { firstDeviceList, parseDeviceList } from '../crypto/device-list.js';
import { generateAccountKey } from '../crypto/account.js';
import { generateIdentity } from '../crypto/identity.js';
import { sodiumReady, systemRandom } from '../crypto/sodium.js';
import { converse, jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { linkIn } from './util/linking.js';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp } from './util/relay-client.js';
import { RELAY_TEST_ARGS } from './util/fault.js';

await sodiumReady();

/**
 * A relay as a client behind it sees it: every request forwarded to `upstream` as is, and each
 * answer handed to `rewrite`, which may replace it (status and JSON body).
 */
async function startProxy(upstream: string, rewrite: Rewrite): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reqBody = Buffer.concat(chunks);
      const up = http.request(upstream + req.url, { method: req.method, headers: req.headers }, (ur) => {
        const body: Buffer[] = [];
        ur.on('data', (c: Buffer) => body.push(c));
        ur.on('end', () => {
          let out = Buffer.concat(body);
          let status = ur.statusCode ?? 502;
          const changed = rewrite(req.url ?? '', status, out, reqBody);
          if (changed) {
            status = changed.status;
            out = Buffer.from(JSON.stringify(changed.body));
          }
          const headers = { ...ur.headers, 'content-length': String(out.length), 'content-type': 'application/json' };
          delete headers['transfer-encoding'];
          res.writeHead(status, headers);
          res.end(out);
        });
      });
      up.on('error', () => res.destroy());
      up.end(reqBody);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

type Rewrite = (path: string, status: number, body: Buffer, reqBody: Buffer) => { status: number; body: unknown } | undefined;

/** A temp root and a relay process (with a rewriting proxy in front when asked), all gone after the test. */
async function world(t: TestContext, opts: { relayArgs?: string[]; rewrite?: Rewrite } = {}) {
  const tmp = makeTempRoot('fastchat-link-');
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, ...(opts.relayArgs ?? [])] });
  const proxy = opts.rewrite ? await startProxy(relay.url, opts.rewrite) : undefined;
  t.after(async () => {
    await proxy?.close();
    await relay.stop();
    tmp.cleanup();
  });
  return { relay, proxyUrl: proxy?.url ?? relay.url, home: (name: string, env: Record<string, string> = {}) => makeHome(tmp.root, name, env) };
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

test('a new device linked with a code: it logs in as device 2, the list names both devices under one account key, and it holds the account key and the contacts; wrong-account, mistyped and replayed approvals are refused', { timeout: 240_000 }, async (t) => {
  const { relay, home } = await world(t);
  const alice = home('alice');
  const bob = home('bob');
  const laptop = home('laptop');
  await Promise.all([setUpUser(alice, relay.url), setUpUser(bob, relay.url)]);
  await converse(alice, bob);
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
  // laptop, both under one account key.
  const lists = (await listsOf(relay.url, 'alice')).map(parseDeviceList);
  assert.deepEqual(lists.map((l) => [l.version, l.devices.map((d) => d.device)]), [[1, [1]], [2, [1, 2]]]);
  assert.equal(toBase64url(lists[0]!.accountKey), toBase64url(lists[1]!.accountKey));

  // Each home checks the relay's lists under the account key it holds: the same key on both.
  for (const home of [alice, laptop]) {
    const rows = jsonLines((await home.ok(['device', 'list', '--json'])).stdout);
    assert.deepEqual(rows.map((r) => [r.device, r.version]), [[1, 2], [2, 2]], home.name);
    assert.equal(rows.find((r) => r.this).device, home === alice ? 1 : 2);
  }
  const contacts = jsonLines((await laptop.ok(['contacts', '--json'])).stdout);
  assert.deepEqual(contacts.map((k) => [k.username, k.trust]), [['bob', 'verified']]);
  const bobOnAlice = jsonLines((await alice.ok(['contacts', '--json'])).stdout);
  assert.equal(contacts[0].fingerprint, bobOnAlice[0].fingerprint);

  // The code is spent: approving it again finds nothing.
  const again = await alice.run(['device', 'approve', code, '--yes', '--json']);
  assert.equal(again.code, 1, again.stderr);
  assert.equal(errorCode(again.stderr), 'link_not_found');
  assert.equal((await listsOf(relay.url, 'alice')).length, 2);
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
  const forged = firstDeviceList(own, 'alice', [{ device: 1, dhPublic: fake.dh.publicKey, signPublic: fake.signPublic, addedAt: 1 }]).bytes;
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
