// Fixture of test/relay-process-reaper.test.ts (not a test itself): a test file that starts a
// relay, writes its pid to the file named by argv, and hangs until the runner kills it on its timeout.
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { startRelayProcess } from './relay-process.js';

test('hangs with a relay running', async () => {
  const relay = await startRelayProcess();
  writeFileSync(process.env.FASTCHAT_REAPER_PID_FILE!, String(relay.proc.pid));
  await new Promise((resolve) => setTimeout(resolve, 120_000));
});
