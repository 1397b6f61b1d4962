// Every process a test starts is stopped by the test, even when the test runner kills the test
// file on its timeout (it sends SIGTERM) before the test's own cleanup runs: the relays the file
// started are killed when its process exits (test/util/relay-process.ts, reaper.ts); its browsers
// end themselves when their pipe to it closes (test/util/browser.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

/** Running, as opposed to gone or a zombie (killed, not yet reaped by whoever adopted it). */
function processRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** A process of the group led by `leader` still running (Chromium's renderers and zygote are in its group). */
function groupRunning(leader: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so split after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === leader && state !== 'Z') return true;
    } catch {
      // gone while we looked
    }
  }
  return false;
}

/** Runs `fixture` under a runner of its own that kills it on `timeoutMs`; the pid the fixture wrote, and whether it (by `running`) still runs. */
async function outlives(
  t: { after(fn: () => void): void },
  fixture: string,
  timeoutMs: number,
  running: (pid: number) => boolean = processRunning,
): Promise<{ pid: number; alive: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-reaper-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pidFile = join(dir, 'pid');
  // A runner of its own: NODE_TEST_CONTEXT would make it report to ours instead of running the file.
  const env: NodeJS.ProcessEnv = { ...process.env, FASTCHAT_REAPER_PID_FILE: pidFile };
  delete env.NODE_TEST_CONTEXT;
  const runner = spawn(process.execPath, ['--test', `--test-timeout=${timeoutMs}`, fileURLToPath(new URL(fixture, import.meta.url))], { env, stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => runner.once('exit', resolve));
  assert.notEqual(code, 0, 'the fixture times out');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  let alive = running(pid);
  for (let i = 0; i < 20 && alive; i++) {
    await new Promise((r) => setTimeout(r, 100));
    alive = running(pid);
  }
  return { pid, alive };
}

// The two wait for their fixture's timeout (15 s and 20 s, most of it idle): run side by side they
// take the longer of the two instead of the sum. Each has its own fixture, directory and process.
describe('processes outliving a test file killed on its timeout', { concurrency: true }, () => {
  test('a test file killed on its timeout leaves no relay running', { timeout: 60_000 }, async (t) => {
    const { pid, alive } = await outlives(t, './util/hang-with-relay.js', 15_000);
    if (alive) process.kill(pid, 'SIGKILL');
    assert.ok(!alive, `the relay ${pid} outlived the test file that started it`);
  });

  test('a test file killed on its timeout leaves no browser running: Chromium ends when its pipe to the file closes', { timeout: 90_000 }, async (t) => {
    // Nothing of ours kills it (test/util/browser.ts registers no reaper): this fails if Chromium
    // is launched over a debugging port, which outlives the process that launched it.
    // Chromium starts in a few seconds on a loaded machine: the fixture's timeout leaves room for it.
    const { pid, alive } = await outlives(t, './util/hang-with-browser.js', 20_000, groupRunning);
    if (alive) process.kill(-pid, 'SIGKILL');
    assert.ok(!alive, `the browser ${pid} outlived the test file that started it`);
  });
});
