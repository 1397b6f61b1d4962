// What the page's groups part needs of the core, checked without a browser on a real relay process:
// the seam of its lock (client/core/sync.ts `stopWaiting`): a receive pass waiting for live
// messages ends its wait when asked, and still reports a complete pass, so the page can let a send
// have the relay connection at once instead of after up to 20 s (a second socket of the device
// would replace the listening one: web/src/session.ts exclusive); and declineCmd, which the page's
// Decline and `fastchat requests decline` share. docs/WEB.md "Groups".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { withCore } from './util/client-core.js';

let relay: RelayProcess;
let tmp: ReturnType<typeof makeTempRoot>;
let carol: TestHome;
let dave: TestHome;

before(async () => {
  tmp = makeTempRoot('fastchat-web-groups-sync-');
  relay = await startRelayProcess();
  carol = makeHome(tmp.root, 'carol');
  dave = makeHome(tmp.root, 'dave', { FASTCHAT_REQUESTS: 'on' });
  await setUpUser(carol, relay.url);
  await setUpUser(dave, relay.url);
});
after(async () => {
  await relay?.stop();
  tmp?.cleanup();
});

test('a receive pass waiting for live messages ends its wait when stopWaiting aborts, and reports a drained pass', { timeout: 120_000 }, async () => {
  await withCore(carol, async (c) => {
    const { syncInbox } = await import('../client/core/sync.js');
    const { relayTarget } = await import('../client/core/context.js');
    const pass = (stop: AbortSignal) => syncInbox(c, relayTarget(c), { waitSeconds: 20, stopWaiting: stop, onIncoming: () => {}, onWarning: () => {} });

    // Aborted while it waits.
    const stop = new AbortController();
    const started = Date.now();
    const running = pass(stop.signal);
    setTimeout(() => stop.abort(), 1000);
    const r = await running;
    const took = Date.now() - started;
    assert.equal(r.drained, true);
    assert.ok(took >= 1000 && took < 10_000, `the pass took ${took} ms`);

    // Aborted before it starts waiting: it does not wait at all.
    const already = new AbortController();
    already.abort();
    const t0 = Date.now();
    assert.equal((await pass(already.signal)).drained, true);
    assert.ok(Date.now() - t0 < 10_000, `the pass took ${Date.now() - t0} ms`);
  });
});

test('`requests decline` leaves an invited group, which its members see, and a second decline finds nothing pending', { timeout: 120_000 }, async () => {
  await carol.ok(['group', 'create', '#side', '@dave']);
  await dave.ok(['inbox']);
  assert.match((await dave.ok(['requests'])).stdout, /side/);
  assert.deepEqual(JSON.parse((await dave.ok(['requests', 'decline', '#side', '--json'])).stdout), { declined: 'side', groupId: JSON.parse((await carol.ok(['group', 'info', '#side', '--json'])).stdout).groupId });
  await carol.ok(['inbox']);
  assert.deepEqual(JSON.parse((await carol.ok(['group', 'info', '#side', '--json'])).stdout).members.map((m: any) => m.user), ['carol']);
  const again = await dave.run(['requests', 'decline', '#side']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /#side is not an invitation waiting for you/);
});
