// An honest client under the relay's default bundle-fetch limits (6 per pair of accounts, then 6
// an hour): once a session with a contact exists, nothing the user does fetches that contact's
// bundle again, so everyday use never meets the limit that stops a stranger draining prekeys.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RelayProcess } from './util/relay-process.js';
import { RelayHttp } from './util/relay-client.js';
import { makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';

describe('an honest client within the default bundle fetch limits', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob'], { prefix: 'fastchat-bundles-' }));
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('sends and creates groups with the same contact more often than the per-pair limit, spending one of its one-time prekeys', async () => {
    const bobHttp = new RelayHttp(relay.url);
    await bobHttp.login('bob', bob.env.FASTCHAT_PASSWORD!);
    const before = (await bobHttp.request('GET', '/v1/keys/count')).body.oneTimePreKeys as number;
    await alice.ok(['send', '@bob', 'first']);
    for (let i = 0; i < 8; i++) await alice.ok(['send', '@bob', `again ${i}`]);
    for (let i = 0; i < 8; i++) await alice.ok(['group', 'create', `#g${i}`, '@bob']);
    assert.equal((await bobHttp.request('GET', '/v1/keys/count')).body.oneTimePreKeys, before - 1);
  });
});
