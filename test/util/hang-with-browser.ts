// Fixture of test/relay-process-reaper.test.ts (not a test itself): a test file that starts
// Chromium, writes its pid to the file named in the environment, and hangs until the runner kills
// it on its timeout.
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { startBrowser } from './browser.js';

test('hangs with a browser running', async () => {
  const chromium = await startBrowser();
  writeFileSync(process.env.FASTCHAT_REAPER_PID_FILE!, String(chromium.pid));
  await new Promise((resolve) => setTimeout(resolve, 120_000));
});
