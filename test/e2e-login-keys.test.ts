// A login from a second home must not silently replace the account's identity key for every
// contact (issue 15, bug 5): it refuses and changes nothing, unless --replace-keys says so.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseDeviceList } from '../crypto/device-list.js';
import { fromBase64url, toBase64url } from '../crypto/encoding.js';
import { accountKeyOf } from '../client/core/keystore.js';
import { withCore } from './util/client-core.js';
import { RelayHttp } from './util/relay-client.js';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RelayProcess } from './util/relay-process.js';
import { makeHome, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';

describe('logging in from a second home', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let laptop: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob'], { prefix: 'fastchat-login-keys-' }));
    await alice.ok(['send', '@bob', 'hello from the first home']);
    await bob.ok(['inbox']);
    await bob.ok(['send', '@alice', 'hi alice']);
    // The same account, from a home with keys of its own.
    laptop = makeHome(tmp.root, 'laptop', { FASTCHAT_PASSWORD: alice.env.FASTCHAT_PASSWORD! });
    await laptop.ok(['keygen']);
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('refuses, keeps the published keys and stores no token, so contacts see no change', async () => {
    const before = JSON.parse((await bob.ok(['fingerprint', '@alice', '--json'])).stdout);
    const r = await laptop.run(['login', 'alice', '--relay', relay.url]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^fastchat: error: the relay has other keys for @alice \(device 1, fingerprint [0-9a-f ]+ …\) than this home/m);
    assert.match(r.stderr, /^hint: .*--replace-keys/m);
    assert.equal(existsSync(join(laptop.dir, 'token.json')), false, 'no token kept');
    const json = await laptop.run(['login', 'alice', '--relay', relay.url, '--json']);
    assert.equal(JSON.parse(json.stderr).error.code, 'keys_differ');

    const after = JSON.parse((await bob.ok(['fingerprint', '@alice', '--json'])).stdout);
    assert.equal(after.fingerprint, before.fingerprint);
    assert.equal(after.trust, 'unverified');
    await bob.ok(['send', '@alice', 'still the alice I know']);
    const got = await alice.ok(['inbox', '--json']);
    assert.match(got.stdout, /still the alice I know/);
  });

  it('lets the home that published the keys log in again', async () => {
    await alice.ok(['logout']);
    await alice.ok(['login', 'alice']);
  });

  it('refuses a home whose account key is not the one that signed the account\'s device list, publishing nothing', async () => {
    // A free device id (no identity clash), but the keystore's account key is its own.
    const tablet = makeHome(tmp.root, 'tablet', { FASTCHAT_PASSWORD: alice.env.FASTCHAT_PASSWORD! });
    await tablet.ok(['keygen']);
    const cfg = JSON.parse(readFileSync(join(tablet.dir, 'config.json'), 'utf8'));
    writeFileSync(join(tablet.dir, 'config.json'), JSON.stringify({ ...cfg, username: 'alice', deviceId: 2 }));
    const reader = new RelayHttp(relay.url);
    await reader.signup('reader');
    const listsBefore = (await reader.request('GET', '/v1/devices/alice')).body.lists;
    const r = await tablet.run(['login', 'alice', '--relay', relay.url, '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(JSON.parse(r.stderr).error.code, 'account_key_differs');
    assert.deepEqual((await reader.request('GET', '/v1/devices/alice')).body.lists, listsBefore, 'the list is as it was');
    assert.deepEqual((await reader.request('GET', '/v1/keys/alice/identity')).body.devices.map((d: { deviceId: number }) => d.deviceId), [1], 'no keys of device 2 published');
    assert.equal(existsSync(join(tablet.dir, 'token.json')), false, 'no token kept');
  });

  it('replaces them with --replace-keys, and then contacts see a changed key', async () => {
    const r = await laptop.ok(['login', 'alice', '--relay', relay.url, '--replace-keys']);
    assert.match(r.stdout, /^logged in as @alice /m);
    // The device list starts again under the laptop's account key.
    const reader = new RelayHttp(relay.url);
    await reader.login('reader', 'correct horse battery');
    const lists = (await reader.request('GET', '/v1/devices/alice')).body.lists as { version: number; list: string }[];
    const laptopKey = await withCore(laptop, (c) => toBase64url(accountKeyOf(c.secrets).publicKey));
    assert.deepEqual(lists.map((l) => [l.version, toBase64url(parseDeviceList(fromBase64url(l.list)).accountKey)]), [[1, laptopKey]]);
    const send = await bob.run(['send', '@alice', 'who are you now?']);
    assert.equal(send.code, 4);
    assert.match(send.stderr, /identity key of @alice has changed/);
    // And the first home, whose keys are no longer the account's, is now refused in turn.
    await alice.ok(['logout']);
    const back = await alice.run(['login', 'alice']);
    assert.equal(back.code, 1);
    assert.match(back.stderr, /other keys for @alice/);
  });
});
