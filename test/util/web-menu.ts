// The page's menu (web/src/layout.ts): once an account is open, this browser's identity, the notes,
// the settings, the new-group form and the blocked list are in a side panel opened from the top
// bar. A test that uses one of them opens the menu first, and closes it before it clicks what the
// panel may cover.
import type { Page } from 'playwright-core';

/** Opens the menu (if closed) and waits for it to show. */
export async function openMenu(page: Page): Promise<void> {
  if ((await page.getAttribute('#menu-button', 'aria-expanded')) !== 'true') await page.click('#menu-button');
  await page.waitForSelector('#menu:not([hidden])');
}

/** Closes the menu (if open) with its close button and waits for it to go. */
export async function closeMenu(page: Page): Promise<void> {
  if ((await page.getAttribute('#menu-button', 'aria-expanded')) === 'true') await page.click('#menu-close');
  await page.waitForSelector('#menu', { state: 'hidden' });
}
