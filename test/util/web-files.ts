// Files and images in the page, for the browser tests (web-files, web-three): a real PNG, sending
// a file from the page, waiting for an inline image, and saving what a download link offers.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { jsonLines, type TestHome } from './fastchat-cli.js';

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const document: any;

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A real PNG of `w`×`h` pixels (RGB, colours from `seed`), so a browser decodes it. */
export function png(w: number, h: number, seed: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) for (let x = 0; x < 3 * w; x++) rows[y * (1 + 3 * w) + 1 + x] = (x * 7 + y * 13 + seed) & 0xff;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

/** Attaches `file` in the open conversation and sends it; the status line once the page is done. */
export async function sendFileFromPage(page: Page, file: { name: string; mimeType: string; buffer: Buffer }): Promise<string> {
  await page.setInputFiles('#file-input', file);
  await page.click('#file-send');
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'working', undefined, { timeout: 60_000 });
  return (await page.textContent('#status')) ?? '';
}

/** The files `home`'s inbox saved (their JSON lines), read from disk. */
export async function receivesFiles(home: TestHome): Promise<{ line: any; bytes: Buffer }[]> {
  const lines = jsonLines((await home.ok(['inbox', '--json'])).stdout).filter((m) => m.file);
  return lines.map((line) => ({ line, bytes: readFileSync(line.file.path) }));
}

/** The message row of the open conversation whose text holds `text`. */
export const rowWith = (page: Page, text: string) => page.locator('#messages li', { hasText: text });

/** Waits until the image in `row` has loaded; its natural width and its src. */
export async function loadedImage(page: Page, text: string): Promise<{ width: number; src: string }> {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#messages li')].some((li: any) => li.textContent.includes(t) && li.querySelector('img[src^="blob:"]')?.complete && li.querySelector('img[src^="blob:"]').naturalWidth > 0),
    text,
    { timeout: 60_000 },
  );
  const img = rowWith(page, text).locator('img[src^="blob:"]');
  return { width: await img.evaluate((e: any) => e.naturalWidth), src: (await img.getAttribute('src'))! };
}

let downloads = 0;

/** Clicks the download link in the row holding `text`: the name it suggests and the bytes (saved under `dir`). */
export async function download(page: Page, text: string, dir: string): Promise<{ name: string; bytes: Buffer }> {
  const link = rowWith(page, text).locator('a[download]');
  const [d] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const to = join(dir, `download-${++downloads}`);
  await d.saveAs(to);
  return { name: d.suggestedFilename(), bytes: readFileSync(to) };
}
