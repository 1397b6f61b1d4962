// Issue 18's meeting of three: alice and bob each in a browser context of their own, carol a real
// `fastchat` home, one real relay process. alice ↔ bob (page to page, bob accepting alice's
// request) and alice ↔ carol both ways; then a group of the three made in alice's page, where an
// image from alice's page reaches carol's CLI byte-equal and is shown inline in bob's page, and an
// image from carol's CLI is shown inline in both pages, its bytes the ones carol sent.
// docs/WEB.md "Tests".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { jsonLines } from './util/fastchat-cli.js';
import { webScene } from './util/web-scene.js';
import { clickAndSettle, openUnlocked, registerInPage, sendFromPage } from './util/web-page.js';
import { openMenu } from './util/web-menu.js';
import { download, loadedImage, png, receivesFiles, sendFileFromPage, sha256 } from './util/web-files.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any;

const scene = webScene('fastchat-web-three-');

async function open(page: Page, peer: string): Promise<void> {
  await page.fill('#open-peer', peer);
  await page.click('#open-button');
}

/** Waits until the open conversation shows a row whose text ends with `text`. */
async function arrives(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages li')].some((e: any) => e.textContent.endsWith(t)), text, { timeout: 60_000 });
}

test('two browsers and a CLI: alice ↔ bob and alice ↔ carol both ways, and images both ways in a group of the three', { timeout: 300_000 }, async (t) => {
  const [a, b] = await Promise.all([openUnlocked(t, scene.chromium, scene.relay.url), openUnlocked(t, scene.chromium, scene.relay.url)]);
  const alice = a.page;
  const bob = b.page;
  await registerInPage(alice, 'alice');
  await registerInPage(bob, 'bob');

  // alice → bob, page to page: a message request on bob's side until he accepts it.
  await open(alice, 'bob');
  assert.equal(await sendFromPage(alice, 'hi bob, from a browser'), 'Sent.');
  await bob.waitForSelector('#request-list li[data-user="alice"]', { timeout: 60_000 });
  assert.match(await clickAndSettle(bob, '#request-list li[data-user="alice"] button[aria-label="Accept the request of @alice"]'), /^Accepted @alice/);
  await open(bob, 'alice');
  await arrives(bob, 'hi bob, from a browser');
  assert.equal(await sendFromPage(bob, 'hi alice, from another browser'), 'Sent.');
  await arrives(alice, 'hi alice, from another browser');

  // alice ↔ carol, page and CLI.
  await open(alice, 'carol');
  assert.equal(await sendFromPage(alice, 'hi carol'), 'Sent.');
  assert.deepEqual(jsonLines((await scene.carol.ok(['inbox', '--json'])).stdout).map((m) => [m.from, m.text]), [['alice', 'hi carol']]);
  await scene.carol.ok(['send', '@alice', 'hi alice, from the terminal']);
  await arrives(alice, 'hi alice, from the terminal');

  // A group of the three, made in alice's page (bob accepted alice: no invitation to answer).
  await openMenu(alice);
  await alice.fill('#group-name', 'three');
  await alice.fill('#group-members', 'bob carol');
  assert.match(await clickAndSettle(alice, '#group-create-button'), /^Created #three with @alice @bob @carol\.$/);

  // An image from alice's page: carol's CLI gets the bytes, bob's page shows it.
  const fromAlice = png(24, 16, 3);
  assert.equal(await sendFileFromPage(alice, { name: 'from-alice.png', mimeType: 'image/png', buffer: fromAlice }), 'Sent from-alice.png.');
  const got = await receivesFiles(scene.carol);
  assert.deepEqual(
    got.map((f) => [f.line.from, f.line.group, sha256(f.bytes)]),
    [['alice', 'three', sha256(fromAlice)]],
  );
  await bob.locator('#conversations button', { hasText: '#three' }).click();
  assert.equal((await loadedImage(bob, 'from-alice.png')).width, 24);
  assert.equal(sha256((await download(bob, 'from-alice.png', scene.tmp.root)).bytes), sha256(fromAlice));

  // An image from carol's CLI, shown inline in both pages with her bytes.
  const dir = join(scene.tmp.root, 'carol-files');
  mkdirSync(dir, { recursive: true });
  const fromCarol = png(32, 20, 9);
  writeFileSync(join(dir, 'from-carol.png'), fromCarol);
  await scene.carol.ok(['send-file', '#three', join(dir, 'from-carol.png')]);
  for (const page of [alice, bob]) {
    if (page === alice) await alice.locator('#conversations button', { hasText: '#three' }).click();
    assert.equal((await loadedImage(page, 'from-carol.png')).width, 32);
    assert.equal(sha256((await download(page, 'from-carol.png', scene.tmp.root)).bytes), sha256(fromCarol));
  }
  assert.deepEqual([...a.errors, ...b.errors], []);
});
