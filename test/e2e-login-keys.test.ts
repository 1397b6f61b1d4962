// A login from a second home must not silently replace the account's identity key for every
// contact (issue 15, bug 5): it refuses and changes nothing, unless --replace-keys says so.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
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

  it('replaces them with --replace-keys, and then contacts see a changed key', async () => {
    const r = await laptop.ok(['login', 'alice', '--relay', relay.url, '--replace-keys']);
    assert.match(r.stdout, /^logged in as @alice /m);
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
