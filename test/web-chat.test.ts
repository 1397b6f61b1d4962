// A browser that chats: alice registers in Chromium (keys made by crypto/ in the page, the account
// and keys published over fetch, the home kept in the vault), carol uses the real `fastchat` CLI,
// both on one real relay process. alice → carol and carol → alice arrive with the exact text, and
// after a reload and the passphrase alice's history is still there. docs/WEB.md "Tests".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines } from './util/fastchat-cli.js';
import { webScene } from './util/web-scene.js';
import { openUnlocked, sendFromPage, shown, showsOrFails, unlock } from './util/web-page.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const window: any, document: any;

const scene = webScene('fastchat-web-chat-');

test('alice in Chromium and carol on the CLI talk both ways through one relay, and a reload keeps the history', { timeout: 240_000 }, async (t) => {
  const { page, errors } = await openUnlocked(t, scene.chromium, scene.relay.url);

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
  assert.equal(await sendFromPage(page, toCarol), 'Sent.');
  assert.deepEqual(jsonLines((await scene.carol.ok(['inbox', '--json'])).stdout).map((m) => [m.from, m.text]), [['alice', toCarol]]);

  // carol → alice: the page's receive pass shows it.
  const toAlice = 'hi alice, from the terminal';
  await scene.carol.ok(['send', '@alice', toAlice]);
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
