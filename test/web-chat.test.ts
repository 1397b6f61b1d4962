// A browser that chats: alice registers in Chromium (keys made by crypto/ in the page, the account
// and keys published over fetch, the home kept in the vault), carol uses the real `fastchat` CLI,
// both on one real relay process. alice → carol and carol → alice arrive with the exact text, and
// after a reload and the passphrase alice's history is still there. docs/WEB.md "Tests".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { startBrowser, type BrowserHandle } from './util/browser.js';
import { jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const window: any, document: any;

let relay: RelayProcess;
let chromium: BrowserHandle;
let tmp: ReturnType<typeof makeTempRoot>;
let carol: TestHome;

before(async () => {
  tmp = makeTempRoot('fastchat-web-chat-');
  [relay, chromium] = await Promise.all([startRelayProcess(), startBrowser()]);
  carol = makeHome(tmp.root, 'carol');
  await setUpUser(carol, relay.url);
});
after(async () => {
  await Promise.all([relay?.stop(), chromium?.stop()]);
  tmp?.cleanup();
});

const PASSPHRASE = 'correct horse battery staple';

async function unlock(page: Page): Promise<void> {
  await page.waitForSelector('#status[data-state="ready"]');
  await page.fill('#passphrase', PASSPHRASE);
  await page.click('#unlock-button');
  await page.waitForSelector('#home:not([hidden])', { timeout: 60_000 });
}

/** Waits for `selector` to show; a status error meanwhile fails at once, with its text. */
async function showsOrFails(page: Page, selector: string): Promise<void> {
  await page.waitForFunction((sel) => document.querySelector(sel) !== null || document.getElementById('status')?.dataset.state === 'error', selector, { timeout: 60_000 });
  if ((await page.locator(selector).count()) === 0) assert.fail(`the page says: ${await page.textContent('#status')}`);
}

/** The texts of the open conversation, in order, with their direction. */
function shown(page: Page): Promise<string[]> {
  return page.$$eval('#messages li', (els) => els.map((e: any) => `${e.dataset.direction}: ${e.textContent}`));
}

test('alice in Chromium and carol on the CLI talk both ways through one relay, and a reload keeps the history', { timeout: 240_000 }, async (t) => {
  const context = await chromium.browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(relay.url);
  await unlock(page);

  // A name the relay refuses (carol's) is said so, and nothing is kept: after a reload the page
  // asks for an account again.
  await page.waitForSelector('#register:not([hidden])');
  await page.fill('#username', 'carol');
  await page.fill('#password', 'password-of-alice');
  await page.click('#register-button');
  await page.waitForSelector('#status[data-state="error"]', { timeout: 60_000 });
  assert.match((await page.textContent('#status'))!, /already taken/);
  await page.reload();
  await unlock(page);
  await page.waitForSelector('#register:not([hidden])');
  assert.equal(await page.isHidden('#chat'), true);

  await page.fill('#username', 'alice');
  await page.fill('#password', 'password-of-alice');
  await page.click('#register-button');
  await showsOrFails(page, '#chat:not([hidden])');
  assert.equal(await page.textContent('#me'), '@alice');

  // alice → carol, with markup in it: it reaches carol as these characters and is shown as text.
  const toCarol = 'hello carol <script>window.pwned=1</script> ✓';
  await page.fill('#open-peer', 'carol');
  await page.click('#open-button');
  await page.fill('#message', toCarol);
  await page.click('#send-button');
  await page.waitForFunction(() => /^(Sent|Queued)|/.test(document.getElementById('status')?.textContent ?? '') && document.getElementById('status')?.textContent !== 'Signed in as @alice.', undefined, { timeout: 60_000 });
  assert.equal(await page.textContent('#status'), 'Sent.');
  assert.deepEqual(jsonLines((await carol.ok(['inbox', '--json'])).stdout).map((m) => [m.from, m.text]), [['alice', toCarol]]);

  // carol → alice: the page's receive pass shows it.
  const toAlice = 'hi alice, from the terminal';
  await carol.ok(['send', '@alice', toAlice]);
  await page.waitForFunction((text) => [...document.querySelectorAll('#messages li')].some((e: any) => e.textContent === text), toAlice, { timeout: 60_000 });
  assert.deepEqual(await shown(page), [`out: ${toCarol}`, `in: ${toAlice}`]);
  assert.equal(await page.locator('#messages script').count(), 0, 'the message was parsed as HTML');
  assert.equal(await page.evaluate(() => window.pwned ?? null), null);

  // The home is in the vault: after a reload and the passphrase, the conversation is still there.
  await page.reload();
  await unlock(page);
  await showsOrFails(page, '#chat:not([hidden])');
  assert.equal(await page.textContent('#me'), '@alice', 'config.json came back from the vault');
  await page.click('#conversations button');
  await page.waitForSelector('#messages li');
  assert.deepEqual(await shown(page), [`out: ${toCarol}`, `in: ${toAlice}`]);
  assert.deepEqual(errors, []);
});
