// `fastchat passwd` and `fastchat logout --all`, the real binary against a real relay, when
// someone else holds a session of the account (a stolen token with an open socket). The relay's
// periodic socket re-check is set to an hour, so a socket that closes was closed by the command.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs } from './util/relay-client.js';
import { within } from './util/fault.js';
import { jsonLines, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';

const CLOSE_WAIT_MS = 15_000;

describe('changing the password and logging out everywhere from the command line', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  const sockets: RelayWs[] = [];

  before(async () => {
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob'], { prefix: 'fastchat-account-', relayArgs: ['--auth-recheck-seconds', '3600'] }));
  });
  after(async () => {
    for (const s of sockets) await s.terminate();
    await relay?.stop();
    tmp?.cleanup();
  });

  /** Someone else's session of alice's account, with an open socket. */
  async function thief(password: string, deviceId = 2): Promise<{ http: RelayHttp; ws: RelayWs }> {
    const http = new RelayHttp(relay.url);
    const ws = await RelayWs.connect(relay.wsUrl, await http.login('alice', password, deviceId));
    sockets.push(ws);
    await ws.next('hello');
    return { http, ws };
  }

  it('documents both in --help', async () => {
    assert.match((await alice.ok(['passwd', '--help'])).stdout, /FASTCHAT_NEW_PASSWORD/);
    assert.match((await alice.ok(['logout', '--help'])).stdout, /--all/);
  });

  it('passwd with a wrong current password exits 1, changes nothing and logs no one out', async () => {
    const other = await thief(alice.env.FASTCHAT_PASSWORD!);
    const r = await alice.run(['passwd'], { env: { FASTCHAT_PASSWORD: 'not the password', FASTCHAT_NEW_PASSWORD: 'another password 1' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^fastchat: error: wrong current password for @alice; nothing was changed/m);
    other.ws.send({ type: 'ping' });
    await other.ws.next('pong');
    await other.ws.close();
  });

  it('passwd changes the password, closes every other session at once, and this home keeps working', async () => {
    const stolen = await thief(alice.env.FASTCHAT_PASSWORD!);
    const r = await alice.ok(['passwd', '--json'], { env: { FASTCHAT_NEW_PASSWORD: 'the new password of alice' } });
    const out = jsonLines(r.stdout)[0];
    assert.deepEqual({ ...out, revoked: undefined }, { changed: true, username: 'alice', revoked: undefined });
    assert.ok(out.revoked >= 2, `revoked ${out.revoked}: this home's old token and the stolen one at least`);
    assert.equal((await within(stolen.ws.closed, CLOSE_WAIT_MS, 'the stolen session\'s socket to close')).code, 4001);
    assert.equal((await stolen.http.request('GET', '/v1/keys/count')).status, 401);
    // The old password no longer logs in; the new one does.
    assert.equal((await new RelayHttp(relay.url).request('POST', '/v1/sessions', { username: 'alice', password: alice.env.FASTCHAT_PASSWORD, deviceId: 2 })).status, 401);
    // This home got a new token: it still sends.
    assert.match((await alice.ok(['send', '@bob', 'still here'])).stdout, /sent to @bob/);
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['still here']);
    alice.env.FASTCHAT_PASSWORD = 'the new password of alice';
  });

  it('logout --all logs out every device of the account, closes their sockets at once, and this home too', async () => {
    const stolen = await thief(alice.env.FASTCHAT_PASSWORD!);
    const r = await alice.ok(['logout', '--all', '--json']);
    const out = jsonLines(r.stdout)[0];
    assert.equal(out.loggedOut, true);
    assert.equal(out.all, true);
    assert.ok(out.revoked >= 2, `revoked ${out.revoked}`);
    assert.equal((await within(stolen.ws.closed, CLOSE_WAIT_MS, 'the stolen session\'s socket to close')).code, 4001);
    assert.equal((await stolen.http.request('GET', '/v1/keys/count')).status, 401);
    assert.equal(jsonLines((await alice.ok(['whoami', '--json'])).stdout)[0].loggedIn, false);
    const send = await alice.run(['send', '@bob', 'after logout']);
    assert.equal(send.code, 1);
    assert.match(send.stderr, /not logged in/);
  });

  it('logout --all with the relay down fails and keeps the token, so the other devices are not falsely reported logged out', async () => {
    await alice.ok(['login', 'alice']);
    await relay.stop();
    const r = await alice.run(['logout', '--all']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the relay/);
    assert.equal(jsonLines((await alice.ok(['whoami', '--json'])).stdout)[0].loggedIn, true);
  });
});
