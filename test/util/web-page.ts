// The web client's page as the chat tests drive it (test/web-chat.test.ts, test/web-link.test.ts):
// unlock the vault, wait for a part of the page or for its error, read the open conversation.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import type { BrowserHandle } from './browser.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any;

export const PASSPHRASE = 'correct horse battery staple';

/** Creates or unlocks the vault with PASSPHRASE. */
export async function unlock(page: Page): Promise<void> {
  await page.waitForSelector('#status[data-state="ready"]');
  await page.fill('#passphrase', PASSPHRASE);
  await page.click('#unlock-button');
  await page.waitForSelector('#home:not([hidden])', { timeout: 60_000 });
}

/**
 * A page of the relay at `url` in a new browser context (closed after the test), its vault created
 * with PASSPHRASE; `errors` collects the page's uncaught errors.
 */
export async function openUnlocked(t: TestContext, chromium: BrowserHandle, url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await chromium.browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await unlock(page);
  return { page, errors };
}

/** Waits for `selector` to show; a status error meanwhile fails at once, with its text. */
export async function showsOrFails(page: Page, selector: string, timeout = 60_000): Promise<void> {
  await page.waitForFunction((sel) => document.querySelector(sel) !== null || document.getElementById('status')?.dataset.state === 'error', selector, { timeout });
  if ((await page.locator(selector).count()) === 0) assert.fail(`the page says: ${await page.textContent('#status')}`);
}

/** The texts of the open conversation, in order, with their direction. */
export function shown(page: Page): Promise<string[]> {
  return page.$$eval('#messages li', (els) => els.map((e: any) => `${e.dataset.direction}: ${e.textContent}`));
}

/** Sends `text` in the open conversation; the status line once the page is done sending (Sent., Queued: …, or the error). */
export async function sendFromPage(page: Page, text: string): Promise<string> {
  await page.fill('#message', text);
  await page.click('#send-button');
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'working', undefined, { timeout: 60_000 });
  return (await page.textContent('#status')) ?? '';
}

/** Clicks `selector` and waits until the page is done working; the status line then. */
export async function clickAndSettle(page: Page, selector: string): Promise<string> {
  await page.click(selector);
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'working', undefined, { timeout: 60_000 });
  return (await page.textContent('#status')) ?? '';
}

/** Registers `name` (password `password-of-NAME`) in an unlocked page and waits for its chats. */
export async function registerInPage(page: Page, name: string): Promise<void> {
  await page.waitForSelector('#register:not([hidden])');
  await page.fill('#username', name);
  await page.fill('#password', `password-of-${name}`);
  await page.click('#register-button');
  await showsOrFails(page, '#chat:not([hidden])');
}
