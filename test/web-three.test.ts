// Issue 18's meeting of three: alice and bob each in a browser context of their own, carol a real
// `fastchat` home, one real relay process. alice ↔ bob (page to page, bob accepting alice's
// request) and alice ↔ carol both ways; then a group of the three made in alice's page, where an
// image from alice's page reaches carol's CLI byte-equal and is shown inline in bob's page, and an
// image from carol's CLI is shown inline in both pages, its bytes the ones carol sent.
// docs/WEB.md "Tests".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { startBrowser, type BrowserHandle } from './util/browser.js';
import { jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { openUnlocked, sendFromPage, showsOrFails } from './util/web-page.js';
import { download, loadedImage, png, receivesFiles, sendFileFromPage, sha256 } from './util/web-files.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any;

let relay: RelayProcess;
let chromium: BrowserHandle;
let tmp: ReturnType<typeof makeTempRoot>;
let carol: TestHome;

before(async () => {
  tmp = makeTempRoot('fastchat-web-three-');
  [relay, chromium] = await Promise.all([startRelayProcess(), startBrowser()]);
  carol = makeHome(tmp.root, 'carol');
  await setUpUser(carol, relay.url);
});
after(async () => {
  await Promise.all([relay?.stop(), chromium?.stop()]);
  tmp?.cleanup();
});

async function register(page: Page, name: string): Promise<void> {
  await page.waitForSelector('#register:not([hidden])');
  await page.fill('#username', name);
  await page.fill('#password', `password-of-${name}`);
  await page.click('#register-button');
  await showsOrFails(page, '#chat:not([hidden])');
}

async function open(page: Page, peer: string): Promise<void> {
  await page.fill('#open-peer', peer);
  await page.click('#open-button');
}

/** Waits until the open conversation shows a row whose text ends with `text`. */
async function arrives(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages li')].some((e: any) => e.textContent.endsWith(t)), text, { timeout: 60_000 });
}

/** Clicks and waits until the page is done working; the status line then. */
async function act(page: Page, selector: string): Promise<string> {
  await page.click(selector);
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'working', undefined, { timeout: 60_000 });
  return (await page.textContent('#status')) ?? '';
}

test('two browsers and a CLI: alice ↔ bob and alice ↔ carol both ways, and images both ways in a group of the three', { timeout: 300_000 }, async (t) => {
  const [a, b] = await Promise.all([openUnlocked(t, chromium, relay.url), openUnlocked(t, chromium, relay.url)]);
  const alice = a.page;
  const bob = b.page;
  await register(alice, 'alice');
  await register(bob, 'bob');

  // alice → bob, page to page: a message request on bob's side until he accepts it.
  await open(alice, 'bob');
  assert.equal(await sendFromPage(alice, 'hi bob, from a browser'), 'Sent.');
  await bob.waitForSelector('#request-list li[data-user="alice"]', { timeout: 60_000 });
  assert.match(await act(bob, '#request-list li[data-user="alice"] button[aria-label="Accept the request of @alice"]'), /^Accepted @alice/);
  await open(bob, 'alice');
  await arrives(bob, 'hi bob, from a browser');
  assert.equal(await sendFromPage(bob, 'hi alice, from another browser'), 'Sent.');
  await arrives(alice, 'hi alice, from another browser');

  // alice ↔ carol, page and CLI.
  await open(alice, 'carol');
  assert.equal(await sendFromPage(alice, 'hi carol'), 'Sent.');
  assert.deepEqual(jsonLines((await carol.ok(['inbox', '--json'])).stdout).map((m) => [m.from, m.text]), [['alice', 'hi carol']]);
  await carol.ok(['send', '@alice', 'hi alice, from the terminal']);
  await arrives(alice, 'hi alice, from the terminal');

  // A group of the three, made in alice's page (bob accepted alice: no invitation to answer).
  await alice.fill('#group-name', 'three');
  await alice.fill('#group-members', 'bob carol');
  assert.match(await act(alice, '#group-create-button'), /^Created #three with @alice @bob @carol\.$/);

  // An image from alice's page: carol's CLI gets the bytes, bob's page shows it.
  const fromAlice = png(24, 16, 3);
  assert.equal(await sendFileFromPage(alice, { name: 'from-alice.png', mimeType: 'image/png', buffer: fromAlice }), 'Sent from-alice.png.');
  const got = await receivesFiles(carol);
  assert.deepEqual(
    got.map((f) => [f.line.from, f.line.group, sha256(f.bytes)]),
    [['alice', 'three', sha256(fromAlice)]],
  );
  await bob.locator('#conversations button', { hasText: '#three' }).click();
  assert.equal((await loadedImage(bob, 'from-alice.png')).width, 24);
  assert.equal(sha256((await download(bob, 'from-alice.png', tmp.root)).bytes), sha256(fromAlice));

  // An image from carol's CLI, shown inline in both pages with her bytes.
  const dir = join(tmp.root, 'carol-files');
  mkdirSync(dir, { recursive: true });
  const fromCarol = png(32, 20, 9);
  writeFileSync(join(dir, 'from-carol.png'), fromCarol);
  await carol.ok(['send-file', '#three', join(dir, 'from-carol.png')]);
  for (const page of [alice, bob]) {
    if (page === alice) await alice.locator('#conversations button', { hasText: '#three' }).click();
    assert.equal((await loadedImage(page, 'from-carol.png')).width, 32);
    assert.equal(sha256((await download(page, 'from-carol.png', tmp.root)).bytes), sha256(fromCarol));
  }
  assert.deepEqual([...a.errors, ...b.errors], []);
});
