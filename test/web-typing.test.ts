// Typing indicators in the page (web/src/typing.ts, docs/WEB.md "Typing indicators"): alice in
// Chromium, carol a real `fastchat chat` in tmux, one real relay process. What carol types shows
// under the page's conversation header as "carol is typing…" and goes when she stops or sends;
// what alice types in the page shows in carol's prompt; with the page's setting unchecked, nothing.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Tmux } from './util/tmux.js';
import { webScene } from './util/web-scene.js';
import { openUnlocked, registerInPage, sendFromPage } from './util/web-page.js';
import { closeMenu, openMenu } from './util/web-menu.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any;

const scene = webScene('fastchat-web-typing-');
const tmux = new Tmux('fastchat-web-typing');
after(() => tmux.killServer());

function appears(page: Page, text: string): Promise<unknown> {
  return page.waitForFunction((t) => [...document.querySelectorAll('#messages li')].some((e: any) => e.textContent === t), text, { timeout: 20_000 });
}

const keys = (text: string): void => void tmux.run('send-keys', '-t', 'carol', '-l', text);
const shownInPage = '#typing:not([hidden])';
const goneFromPage = (page: Page, timeout: number) => page.waitForSelector('#typing[hidden]', { state: 'attached', timeout });

test('typing shows both ways between the page and a terminal chat, clears on idle and on send, and the setting stops it', { timeout: 300_000 }, async (t) => {
  const { page, errors } = await openUnlocked(t, scene.chromium, scene.relay.url);
  await registerInPage(page, 'alice');
  await page.waitForSelector('#live-state[data-state="up"]', { timeout: 30_000 });
  // One message each way: contacts, and sessions past their first messages (the only ones that carry typing).
  await page.fill('#open-peer', 'carol');
  await page.click('#open-button');
  assert.equal(await sendFromPage(page, 'hi carol'), 'Sent.');
  await scene.carol.ok(['inbox']);
  await scene.carol.ok(['send', '@alice', 'hi alice']);
  await appears(page, 'hi alice');

  tmux.startFastchat('carol', scene.carol, ['chat', '@alice']);
  // Connected (the presence line follows the connection), not only drawn.
  await tmux.waitFor('carol', /\* @alice is (online|offline)/, 30_000);
  assert.equal(await page.isHidden('#typing'), true);

  // carol types: the page says so under the header, and no longer once she is idle (5 s).
  keys('typing to the page');
  await page.waitForSelector(shownInPage, { timeout: 15_000 });
  assert.equal(await page.textContent('#typing'), 'carol is typing…');
  await goneFromPage(page, 20_000);
  // Again, and she sends: it goes with her message.
  keys('!');
  await page.waitForSelector(shownInPage, { timeout: 15_000 });
  tmux.run('send-keys', '-t', 'carol', 'Enter');
  await appears(page, 'typing to the page!');
  await goneFromPage(page, 5_000);

  // alice types in the page: carol's prompt says so, until the message is there.
  await page.type('#message', 'from the page', { delay: 40 });
  await tmux.waitFor('carol', /alice is typing…/, 15_000);
  await page.click('#send-button');
  await tmux.waitFor('carol', /@alice: from the page/, 20_000);
  await tmux.waitFor('carol', /^@alice> $/m, 5_000);

  // Unchecked, the page sends none.
  await openMenu(page);
  await page.uncheck('#typing-setting');
  await closeMenu(page);
  await page.type('#message', 'quietly', { delay: 40 });
  await new Promise((r) => setTimeout(r, 3_000));
  assert.doesNotMatch(tmux.screen('carol'), /alice is typing…/);

  tmux.type('carol', '/quit');
  await tmux.waitFor('carol', /CHAT-EXIT=0/);
  assert.deepEqual(errors, []);
});
