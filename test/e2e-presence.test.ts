// `fastchat who` with the real binary and relay: a user's presence is shown only to the users it
// has sent a message to; a stranger sees nobody (issue 15: `who` listed every online user).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitForSockets, type RelayProcess } from './util/relay-process.js';
import { makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';

describe('who is online, as the relay shows it', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let stranger: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob, stranger } } = await startUsers(['alice', 'bob', 'stranger'], { prefix: 'fastchat-presence-' }));
    await alice.ok(['send', '@bob', 'hi bob']);
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('shows alice to bob, whom she wrote to, and to no stranger', async () => {
    // alice is online while her inbox waits on its WebSocket.
    const waiting = alice.run(['inbox', '--wait', '60']);
    await waitForSockets(relay.url, 1);
    assert.match((await bob.ok(['who'])).stdout, /^@alice$/m);
    assert.deepEqual(JSON.parse((await bob.ok(['who', '--json'])).stdout), { online: ['alice'] });
    assert.deepEqual(JSON.parse((await stranger.ok(['who', '--json'])).stdout), { online: [] });
    assert.match((await stranger.ok(['who'])).stdout, /^nobody you can see is online/m);
    // (That writing to alice does not show her to the stranger is tested on the relay itself, in
    // relay/ws/ws.test.ts: here alice's client would answer with a receipt, which does.)
    await bob.ok(['send', '@alice', 'that ends your wait']);
    const r = await waiting;
    assert.equal(r.code, 0, r.stderr);
  });
});
