// The browser as a linked device of an existing account (issue 18: "a person's browser is simply
// another linked device of their account"): alice and bob registered with the real `fastchat`
// binary on one real relay process; the page in Chromium links as alice's device 2 through the
// core's linkDevice, alice's CLI approving with `device approve CODE --yes`. Then the page and
// alice's CLI are two devices of one account: what the page sends reaches bob and shows as sent in
// alice's CLI, what bob sends reaches both, and after a reload the page is still alice's device 2
// under the account's key (its next send is again copied to the CLI). docs/WEB.md "Tests".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { startBrowser, type BrowserHandle } from './util/browser.js';
import { jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { openUnlocked, sendFromPage, shown, showsOrFails, unlock } from './util/web-page.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any;

let relay: RelayProcess;
let chromium: BrowserHandle;
let tmp: ReturnType<typeof makeTempRoot>;
let alice: TestHome;
let bob: TestHome;

before(async () => {
  tmp = makeTempRoot('fastchat-web-link-');
  [relay, chromium] = await Promise.all([startRelayProcess(), startBrowser()]);
  alice = makeHome(tmp.root, 'alice');
  bob = makeHome(tmp.root, 'bob');
  await Promise.all([setUpUser(alice, relay.url), setUpUser(bob, relay.url)]);
});
after(async () => {
  await Promise.all([relay?.stop(), chromium?.stop()]);
  tmp?.cleanup();
});

const inbox = async (h: TestHome): Promise<any[]> => jsonLines((await h.ok(['inbox', '--json'])).stdout);

test("the page links as alice's device 2, approved from her CLI, and both devices chat with bob as alice", { timeout: 300_000 }, async (t) => {
  const { page, errors } = await openUnlocked(t, chromium, relay.url);

  // The page asks the relay for a channel and shows the code and its own fingerprint.
  await page.waitForSelector('#link:not([hidden])');
  await page.fill('#link-username', 'alice');
  await page.click('#link-button');
  await showsOrFails(page, '#pairing:not([hidden])');
  const code = (await page.textContent('#pairing-code'))!;
  assert.match(code, /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/);
  assert.equal(await page.textContent('#pairing-command'), `fastchat device approve ${code}`);
  const fingerprint = await page.textContent('#fingerprint');
  assert.equal(await page.textContent('#pairing-fingerprint'), fingerprint, "the fingerprint to compare is this browser's identity");

  // alice's CLI approves: it is shown the page's fingerprint, and the page becomes device 2.
  const approved = JSON.parse((await alice.ok(['device', 'approve', code, '--yes', '--json'])).stdout);
  assert.deepEqual([approved.user, approved.device, approved.fingerprint], ['alice', 2, fingerprint]);
  await showsOrFails(page, '#chat:not([hidden])');
  assert.equal(await page.textContent('#me'), '@alice');
  assert.equal(await page.isHidden('#pairing'), true);
  const devices = jsonLines((await alice.ok(['device', 'list', '--json'])).stdout);
  assert.deepEqual(devices.map((d) => [d.device, d.this]), [[1, true], [2, false]]);
  assert.equal(devices[1].fingerprint, fingerprint, "device 2 in alice's signed list is this browser");

  // From the page: bob gets it from alice, and alice's CLI has it as sent by her device 2.
  const fromPage = 'written in the browser <b>as text</b>';
  await page.fill('#open-peer', 'bob');
  await page.click('#open-button');
  assert.equal(await sendFromPage(page, fromPage), 'Sent.');
  assert.deepEqual((await inbox(bob)).map((m) => [m.from, m.text]), [['alice', fromPage]]);
  assert.deepEqual((await inbox(alice)).map((m) => [m.from, m.to, m.text, m.sentFrom]), [['alice', 'bob', fromPage, 2]]);
  const onCli = jsonLines((await alice.ok(['history', '@bob', '--json'])).stdout);
  assert.deepEqual(onCli.map((m) => [m.from, m.text]), [['alice', fromPage]]);

  // From bob: both of alice's devices get it.
  const fromBob = 'to both of your devices';
  await bob.ok(['send', '@alice', fromBob]);
  assert.deepEqual((await inbox(alice)).map((m) => [m.from, m.text]), [['bob', fromBob]]);
  await page.waitForFunction((text) => [...document.querySelectorAll('#messages li')].some((e: any) => e.textContent === text), fromBob, { timeout: 60_000 });
  assert.deepEqual(await shown(page), [`out: ${fromPage}`, `in: ${fromBob}`]);

  // From alice's CLI: bob gets it, and the page shows it as hers, sent (the sync copy, D.13).
  const fromCli = 'typed on the CLI, device 1';
  await alice.ok(['send', '@bob', fromCli]);
  assert.deepEqual((await inbox(bob)).map((m) => [m.from, m.text]), [['alice', fromCli]]);
  await page.waitForFunction((text) => [...document.querySelectorAll('#messages li')].some((e: any) => e.textContent === text), fromCli, { timeout: 60_000 });
  assert.deepEqual(await shown(page), [`out: ${fromPage}`, `in: ${fromBob}`, `out: ${fromCli}`]);

  // After a reload the vault holds the linked home: the conversation, and the account's key (the
  // next send is copied to the CLI again, which needs the page's own device list to verify).
  await page.reload();
  await unlock(page);
  await showsOrFails(page, '#chat:not([hidden])');
  assert.equal(await page.textContent('#me'), '@alice');
  await page.click('#conversations button');
  await page.waitForSelector('#messages li');
  assert.deepEqual(await shown(page), [`out: ${fromPage}`, `in: ${fromBob}`, `out: ${fromCli}`]);
  const again = 'and again after a reload';
  assert.equal(await sendFromPage(page, again), 'Sent.');
  assert.deepEqual((await inbox(bob)).map((m) => [m.from, m.text]), [['alice', again]]);
  assert.deepEqual((await inbox(alice)).map((m) => [m.from, m.text, m.sentFrom]), [['alice', again, 2]]);
  assert.deepEqual(errors, []);
});

test('a link that stops after the page logged in with the ticket (its device list upload failed) is finished at the next unlock', { timeout: 300_000 }, async (t) => {
  const carol = makeHome(tmp.root, 'carol');
  await setUpUser(carol, relay.url);
  const { page, errors } = await openUnlocked(t, chromium, relay.url);
  // The relay "goes away" for the list upload only: the ticket has logged the page in by then.
  await page.route('**/v1/devices', (route) => (route.request().method() === 'PUT' ? route.abort() : route.continue()));
  await page.waitForSelector('#link:not([hidden])');
  await page.fill('#link-username', 'carol');
  await page.click('#link-button');
  await showsOrFails(page, '#pairing:not([hidden])');
  await carol.ok(['device', 'approve', (await page.textContent('#pairing-code'))!, '--yes']);
  await page.waitForSelector('#status[data-state="error"]', { timeout: 60_000 });
  assert.match((await page.textContent('#status'))!, /Reload the page and unlock to finish it/);
  assert.equal(await page.isHidden('#chat'), true);
  assert.deepEqual(jsonLines((await carol.ok(['device', 'list', '--json'])).stdout).map((d) => d.device), [1], 'not in the list yet');

  await page.unroute('**/v1/devices');
  await page.reload();
  await unlock(page);
  await showsOrFails(page, '#chat:not([hidden])');
  assert.equal(await page.textContent('#me'), '@carol');
  const devices = jsonLines((await carol.ok(['device', 'list', '--json'])).stdout);
  assert.deepEqual(devices.map((d) => d.device), [1, 2]);
  assert.equal(devices[1].fingerprint, await page.textContent('#fingerprint'));
  // Its keys are published: bob reaches both of carol's devices.
  await bob.ok(['send', '@carol', 'hello carol']);
  assert.deepEqual((await inbox(carol)).map((m) => [m.from, m.text]), [['bob', 'hello carol']]);
  await page.fill('#open-peer', 'bob');
  await page.click('#open-button');
  const fromPage = 'hi bob, from carol in the browser';
  assert.equal(await sendFromPage(page, fromPage), 'Sent.');
  assert.deepEqual((await inbox(bob)).map((m) => [m.from, m.text]), [['carol', fromPage]]);
  assert.deepEqual((await inbox(carol)).map((m) => [m.from, m.text, m.sentFrom]), [['carol', fromPage, 2]]);
  assert.deepEqual(errors, []);
});
