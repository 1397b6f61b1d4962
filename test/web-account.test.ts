// The page's account after it is open (web/src/account.ts, docs/WEB.md "Logging in again", "History
// into a linked page", "Auto-lock"), on one real relay process with real `fastchat` homes:
// - alice registered in the page; her password changed elsewhere revokes the page's token: the page
//   asks for the password, refuses the old one in words, logs in with the new one through the
//   core's login, gets what carol sent meanwhile and after, and keeps the token across a reload;
// - a page linked as dave's device 2 with `device approve CODE --history` shows dave's earlier
//   conversation with bob; then `fastchat passwd` on dave's CLI logs the page out, and it logs in
//   again as device 2;
// - the idle lock, on Playwright's clock: input moves the deadline, none for the chosen time locks
//   the page as the Lock button does.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { startBrowser, type BrowserHandle } from './util/browser.js';
import { RelayHttp } from './util/relay-client.js';
import { jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { openUnlocked, PASSPHRASE, sendFromPage, shown, showsOrFails, unlock } from './util/web-page.js';
import { closeMenu, openMenu } from './util/web-menu.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any;

let relay: RelayProcess;
let chromium: BrowserHandle;
let tmp: ReturnType<typeof makeTempRoot>;
let carol: TestHome;
let bob: TestHome;

before(async () => {
  tmp = makeTempRoot('fastchat-web-account-');
  [relay, chromium] = await Promise.all([startRelayProcess(), startBrowser()]);
  carol = makeHome(tmp.root, 'carol');
  bob = makeHome(tmp.root, 'bob');
  await Promise.all([setUpUser(carol, relay.url), setUpUser(bob, relay.url)]);
});
after(async () => {
  await Promise.all([relay?.stop(), chromium?.stop()]);
  tmp?.cleanup();
});

const inbox = async (h: TestHome): Promise<any[]> => jsonLines((await h.ok(['inbox', '--json'])).stdout);
const status = async (page: Page): Promise<string> => (await page.textContent('#status')) ?? '';

async function showsMessage(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages li')].some((e: any) => e.textContent === t), text, { timeout: 60_000 });
}

async function liveUp(page: Page): Promise<void> {
  await page.waitForSelector('#live-state[data-state="up"]', { timeout: 60_000 });
}

/** Waits until the status line holds `pattern` (the page may say an error before the one awaited). */
async function statusSays(page: Page, pattern: RegExp): Promise<void> {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById('status')?.textContent ?? ''), pattern.source, { timeout: 60_000 });
}

test("the relay ends the page's login (a password change elsewhere): the page asks for the password, refuses a wrong one in words, and the right one reconnects", { timeout: 300_000 }, async (t) => {
  const oldPassword = 'password-of-alice';
  const newPassword = 'alice changed it elsewhere';
  const { page, errors } = await openUnlocked(t, chromium, relay.url);
  await page.waitForSelector('#register:not([hidden])');
  await page.fill('#username', 'alice');
  await page.fill('#password', oldPassword);
  await page.click('#register-button');
  await showsOrFails(page, '#chat:not([hidden])');
  await liveUp(page);
  assert.equal(await page.isHidden('#relogin'), true);
  // alice writes first, so carol is no stranger to the page (a stranger's message is a request).
  await page.fill('#open-peer', 'carol');
  await page.click('#open-button');
  assert.equal(await sendFromPage(page, 'hello carol'), 'Sent.');
  assert.deepEqual((await inbox(carol)).map((m) => [m.from, m.text]), [['alice', 'hello carol']]);

  // The password changes through the relay's API (as `fastchat passwd` on another device does):
  // the relay revokes every token of the account, the page's too, and closes its socket.
  const elsewhere = new RelayHttp(relay.url);
  await elsewhere.login('alice', oldPassword);
  const changed = await elsewhere.request('POST', '/v1/password', { oldPassword, newPassword });
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  assert.equal(changed.body.revoked, 2, "the page's token and the one just made");

  await page.waitForSelector('#relogin:not([hidden])', { timeout: 60_000 });
  assert.equal(await page.textContent('#relogin-user'), '@alice');
  assert.match(await status(page), /The relay ended this browser's login as @alice\. Enter the relay password to log in again\./);
  assert.equal(await page.getAttribute('#live-state', 'data-state'), 'down');
  // Written while the page is logged out: the relay keeps it for alice's device.
  await carol.ok(['send', '@alice', 'while you were out']);

  // The old password is wrong now: said in words, the form stays, nothing connects.
  await page.fill('#relogin-password', oldPassword);
  await page.click('#relogin-button');
  await statusSays(page, /^Not logged in: /);
  assert.equal(await status(page), 'Not logged in: wrong username or password for @alice.');
  assert.equal(await page.isHidden('#relogin'), false);
  assert.equal(await page.getAttribute('#live-state', 'data-state'), 'down');

  // The new one: logged in through the core's login, reconnected, and what carol sent arrives.
  await page.fill('#relogin-password', newPassword);
  await page.click('#relogin-button');
  await page.waitForSelector('#relogin', { state: 'hidden', timeout: 60_000 });
  assert.equal(await status(page), 'Logged in again as @alice.');
  assert.equal(await page.inputValue('#relogin-password'), '', 'the password is not kept in the form');
  await liveUp(page);
  await showsMessage(page, 'while you were out');
  await carol.ok(['send', '@alice', 'welcome back']);
  await showsMessage(page, 'welcome back');
  // Over HTTP too: a send from the page goes out with the new token.
  assert.equal(await sendFromPage(page, 'thanks'), 'Sent.');
  assert.deepEqual((await inbox(carol)).map((m) => [m.from, m.text]), [['alice', 'thanks']]);
  assert.deepEqual(await shown(page), ['out: hello carol', 'in: while you were out', 'in: welcome back', 'out: thanks']);

  // The new token is in the vault: after a reload the page connects without asking.
  await page.reload();
  await unlock(page);
  await showsOrFails(page, '#chat:not([hidden])');
  await liveUp(page);
  assert.equal(await page.isHidden('#relogin'), true);
  assert.deepEqual(errors, []);
});

test("a page linked as dave's device 2 with `device approve --history` shows his earlier conversation with bob; after `fastchat passwd` on his CLI it logs in again as device 2", { timeout: 300_000 }, async (t) => {
  const dave = makeHome(tmp.root, 'dave');
  await setUpUser(dave, relay.url);
  await dave.ok(['send', '@bob', 'from dave, before the browser']);
  assert.deepEqual((await inbox(bob)).map((m) => [m.from, m.text]), [['dave', 'from dave, before the browser']]);
  await bob.ok(['send', '@dave', 'and bob answers']);
  assert.deepEqual((await inbox(dave)).map((m) => [m.from, m.text]), [['bob', 'and bob answers']]);

  const { page, errors } = await openUnlocked(t, chromium, relay.url);
  await page.waitForSelector('#link:not([hidden])');
  await page.fill('#link-username', 'dave');
  await page.click('#link-button');
  await showsOrFails(page, '#pairing:not([hidden])');
  const code = (await page.textContent('#pairing-code'))!;
  // The approval waits for the page to finish linking, then sends it the history.
  const approved = JSON.parse((await dave.ok(['device', 'approve', code, '--yes', '--history', '--json'], { timeoutMs: 120_000 })).stdout);
  assert.equal(approved.device, 2);
  assert.equal(approved.history.entries, 2);
  await showsOrFails(page, '#chat:not([hidden])');

  // The history arrives as a conversation with bob (accepted, not a request), the texts in order.
  await page.waitForFunction(() => [...document.querySelectorAll('#conversations button')].some((b: any) => b.textContent === '@bob'), undefined, { timeout: 60_000 });
  await page.click('#conversations button');
  await showsMessage(page, 'and bob answers');
  assert.deepEqual(await shown(page), ['out: from dave, before the browser', 'in: and bob answers']);
  assert.equal(await page.isVisible('#requests-empty'), true, 'bob is no message request');
  // It is kept: after a reload it is still there, and bob's next message shows in the conversation.
  await page.reload();
  await unlock(page);
  await showsOrFails(page, '#chat:not([hidden])');
  await page.click('#conversations button');
  await showsMessage(page, 'and bob answers');
  await liveUp(page);
  await bob.ok(['send', '@dave', 'hello to your browser too']);
  await showsMessage(page, 'hello to your browser too');

  // dave changes his password on the CLI: the page, device 2, is logged out and logs in again.
  const newPassword = 'dave changed his password';
  const passwd = JSON.parse((await dave.ok(['passwd', '--json'], { env: { FASTCHAT_NEW_PASSWORD: newPassword } })).stdout);
  assert.equal(passwd.changed, true);
  await page.waitForSelector('#relogin:not([hidden])', { timeout: 60_000 });
  assert.equal(await page.textContent('#relogin-user'), '@dave');
  await page.fill('#relogin-password', newPassword);
  await page.click('#relogin-button');
  await page.waitForSelector('#relogin', { state: 'hidden', timeout: 60_000 });
  await liveUp(page);
  const devices = jsonLines((await dave.ok(['device', 'list', '--json'])).stdout);
  assert.deepEqual(devices.map((d) => d.device), [1, 2], 'still device 2 of the same list');
  assert.equal(await sendFromPage(page, 'from the browser, logged in again'), 'Sent.');
  assert.deepEqual((await inbox(bob)).map((m) => [m.from, m.text]), [['dave', 'from the browser, logged in again']]);
  assert.deepEqual(errors, []);
});

test('the page locks itself after the chosen time without input, as the Lock button does; input moves the deadline', { timeout: 300_000 }, async (t) => {
  const context = await chromium.browser.newContext();
  t.after(() => context.close());
  // The page's clock is Playwright's: time flows as usual until the test jumps it forward.
  await context.clock.install();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(relay.url);
  await unlock(page);
  await page.waitForSelector('#register:not([hidden])');
  await page.fill('#username', 'erin');
  await page.fill('#password', 'password-of-erin');
  await page.click('#register-button');
  await showsOrFails(page, '#chat:not([hidden])');
  assert.equal(await page.inputValue('#auto-lock'), '0', 'off unless chosen');

  // Off: an hour without input changes nothing.
  await context.clock.fastForward('01:00:00');
  assert.equal(await page.isVisible('#chat'), true);

  await openMenu(page);
  await page.selectOption('#auto-lock', '15');
  await closeMenu(page);
  await statusSays(page, /^This page locks after 15 minutes without input\.$/);
  await context.clock.fastForward('10:00');
  await page.mouse.move(20, 20); // the user is there: the deadline moves to 15 minutes from now
  await page.mouse.move(40, 40);
  await context.clock.fastForward('10:00');
  assert.equal(await page.isVisible('#chat'), true, 'input 10 minutes ago: not locked');
  await context.clock.fastForward('05:30');
  await page.waitForSelector('#unlock:not([hidden])', { timeout: 30_000 });
  assert.equal(await page.isHidden('#home'), true);
  assert.equal(await status(page), 'Locked after 15 minutes without input. Enter your passphrase to unlock.');

  // As the Lock button: the passphrase opens it again, and the choice was kept in the vault.
  await page.fill('#passphrase', PASSPHRASE);
  await page.click('#unlock-button');
  await showsOrFails(page, '#chat:not([hidden])');
  await page.waitForFunction(() => document.getElementById('auto-lock')?.value === '15');
  assert.deepEqual(errors, []);
});
