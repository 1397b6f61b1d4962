// Files and images between the page and the CLI (docs/WEB.md "Files and images"): alice in
// Chromium, carol a real `fastchat` home, one real relay process. alice's image reaches carol's
// inbox byte-equal, to carol and to a group carol made; carol's image is shown inline in the page
// (loaded, and its bytes the ones carol sent), a file named like HTML is shown as text and offered
// under its safe name, a text file named .png is not shown as an image, and a file over the page's
// limit is refused with a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { safeFileName } from '../client/core/files/names.js';
import { webScene } from './util/web-scene.js';
import { openUnlocked, showsOrFails } from './util/web-page.js';
import { download, loadedImage, png, receivesFiles, rowWith, sendFileFromPage, sha256 } from './util/web-files.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any, window: any, DataTransfer: any, File: any;

const scene = webScene('fastchat-web-files-');

test('images go both ways between the page and the CLI, to a user and to a group, shown inline and byte-equal', { timeout: 300_000 }, async (t) => {
  const { page, errors } = await openUnlocked(t, scene.chromium, scene.relay.url);
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.waitForSelector('#register:not([hidden])');
  await page.fill('#username', 'alice');
  await page.fill('#password', 'password-of-alice');
  await page.click('#register-button');
  await showsOrFails(page, '#chat:not([hidden])');
  await page.fill('#open-peer', 'carol');
  await page.click('#open-button');

  // Every label the progress line shows, in order (what a person sees while a file moves).
  await page.evaluate(() => {
    const w = window as any;
    w.progressSeen = [];
    const line = document.getElementById('file-progress-line');
    // Each record keeps the text it added, so labels replaced within one task are all seen.
    new w.MutationObserver((records: any[]) => {
      for (const r of records) for (const n of r.addedNodes) w.progressSeen.push(n.textContent);
    }).observe(line, { subtree: true, childList: true });
  });
  const progressSeen = async (): Promise<string[]> => page.evaluate(() => (window as any).progressSeen);

  // alice → carol: carol's CLI saves exactly the bytes alice chose in the page.
  const view = png(40, 30, 1);
  assert.equal(await sendFileFromPage(page, { name: 'view.png', mimeType: 'image/png', buffer: view }), 'Sent view.png.');
  const got = await receivesFiles(scene.carol);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.line.from, 'alice');
  assert.equal(got[0]!.line.file.name, 'view.png');
  assert.equal(sha256(got[0]!.bytes), sha256(view), 'carol got the bytes alice sent');
  // alice's own copy is shown too, from the vault.
  assert.equal((await loadedImage(page, '[file] view.png')).width, 40);
  assert.ok((await progressSeen()).some((l) => /^Encrypting view\.png: .* of /.test(l)), 'progress while encrypting');
  assert.ok((await progressSeen()).some((l) => /^Uploading view\.png: .* of /.test(l)), 'progress while uploading');

  // carol → alice: an image whose name is HTML. It is shown inline (decoded: naturalWidth), the
  // bytes behind it are carol's, and its name is text: the sanitized name, no element made of it.
  const evilName = '<img src=x onerror=alert(1)>.png';
  const safe = safeFileName(evilName);
  const dir = join(scene.tmp.root, 'carol-files');
  mkdirSync(dir);
  const sunset = png(64, 48, 2);
  writeFileSync(join(dir, evilName), sunset);
  await scene.carol.ok(['send-file', '@alice', join(dir, evilName)]);
  const shownImage = await loadedImage(page, safe);
  assert.equal(shownImage.width, 64);
  assert.ok((await progressSeen()).some((l) => l.startsWith(`Receiving ${safe}: `)), 'progress while receiving');
  assert.match(shownImage.src, /^blob:/);
  const saved = await download(page, safe, scene.tmp.root);
  assert.equal(await rowWith(page, safe).locator('a[download]').getAttribute('download'), safe, 'offered under its safe name');
  assert.equal(saved.name, safe);
  assert.equal(sha256(saved.bytes), sha256(sunset), 'the page shows the bytes carol sent');
  assert.equal(await rowWith(page, safe).locator('a[download]').getAttribute('href'), shownImage.src, 'the image is those bytes');
  assert.equal(await page.locator('#messages img:not([src^="blob:"])').count(), 0, 'an element was made of the file name');
  assert.equal(await rowWith(page, safe).locator('img').getAttribute('alt'), `image: ${safe}`);
  assert.deepEqual(dialogs, []);

  // A text file named .png is a download, never an image: the bytes decide.
  const notImage = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(2)"></svg> not a png');
  writeFileSync(join(dir, 'fake.png'), notImage);
  await scene.carol.ok(['send-file', '@alice', join(dir, 'fake.png')]);
  await page.waitForSelector('#messages li:has-text("fake.png") a[download]', { timeout: 60_000 });
  assert.equal(await rowWith(page, 'fake.png').locator('img').count(), 0, 'shown as an image by its name');
  const fake = await download(page, 'fake.png', scene.tmp.root);
  assert.equal(sha256(fake.bytes), sha256(notImage));

  // Over the page's limit: refused before anything is read or sent, with the reason.
  const before = (await page.$$('#messages li')).length;
  // (made in the page: 26 MB through the DevTools protocol is slow on a loaded machine)
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(26_000_000)], 'big.bin'));
    document.getElementById('file-input').files = dt.files;
  });
  await page.click('#file-send');
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'working', undefined, { timeout: 60_000 });
  assert.match((await page.textContent('#status'))!, /"big\.bin" is 26 MB: the page sends files up to 25 MB/);
  assert.equal((await page.$$('#messages li')).length, before);

  // A group carol makes with alice: alice's image to it reaches carol byte-equal, as a group file.
  await scene.carol.ok(['group', 'create', '#pics', '@alice']);
  await page.waitForSelector('#conversations button:has-text("#pics")', { timeout: 60_000 });
  await page.click('#conversations button:has-text("#pics")');
  const groupImage = png(20, 20, 3);
  assert.equal(await sendFileFromPage(page, { name: 'for-the-group.png', mimeType: 'image/png', buffer: groupImage }), 'Sent for-the-group.png.');
  const inGroup = await receivesFiles(scene.carol);
  assert.equal(inGroup.length, 1);
  assert.equal(inGroup[0]!.line.from, 'alice');
  assert.equal(inGroup[0]!.line.group, 'pics');
  assert.equal(sha256(inGroup[0]!.bytes), sha256(groupImage), 'carol got the bytes alice sent to the group');
  assert.deepEqual(errors, []);
});
