// The seam the page's lock needs from the core (client/core/sync.ts `stopWaiting`): a receive pass
// waiting for live messages ends its wait when asked, and still reports a complete pass, so the
// page can let a send have the relay connection at once instead of after up to 20 s (a second
// socket of the device would replace the listening one: web/src/session.ts exclusive). A real
// relay process and a real home, its core opened in this process. docs/WEB.md "Groups".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { withCore } from './util/client-core.js';

let relay: RelayProcess;
let tmp: ReturnType<typeof makeTempRoot>;
let carol: TestHome;

before(async () => {
  tmp = makeTempRoot('fastchat-web-groups-sync-');
  relay = await startRelayProcess();
  carol = makeHome(tmp.root, 'carol');
  await setUpUser(carol, relay.url);
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
