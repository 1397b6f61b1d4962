// Starts Debian's Chromium, headless, for tests of the web client (docs/WEB.md), driven by
// playwright-core (no browser download: the system's binary through executablePath).
//
//   const chromium = await startBrowser();
//   t.after(() => chromium.stop());
//   const page = await (await chromium.browser.newContext()).newPage();
//
// Unlike a relay (relay-process.ts), a browser needs no reaper: Playwright always drives Chromium
// over --remote-debugging-pipe, a pipe only this process holds (close-on-exec, so no child of a
// test inherits it). However this process ends (the runner's SIGTERM on a timeout, SIGKILL, a
// crash), the pipe closes and Chromium shuts down with its whole process group, within 200 ms
// here; test/relay-process-reaper.test.ts checks that, and fails if Chromium is ever launched over
// a debugging port instead.
import { existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { chromium, type Browser, type BrowserServer } from 'playwright-core';

/** The Chromium binary: Debian's package (.ci/run installs it); FASTCHAT_CHROMIUM overrides. */
export const CHROMIUM_PATH = process.env.FASTCHAT_CHROMIUM ?? '/usr/bin/chromium';

/** --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start. The rest keep it quiet and offline. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];

export interface BrowserHandle {
  browser: Browser;
  /** The browser's main process (the leader of its process group). */
  pid: number;
  /** Closes the browser; SIGKILLs its process group if it has not exited within graceMs. */
  stop(graceMs?: number): Promise<void>;
}

/** Playwright starts Chromium as the leader of its own process group: kill the group (renderers, GPU, zygote). */
function killGroup(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    proc.kill('SIGKILL');
  }
}

export async function startBrowser(): Promise<BrowserHandle> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install chromium (.ci/run installs it), or set FASTCHAT_CHROMIUM`);
  }
  const server: BrowserServer = await chromium.launchServer({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    // Playwright's own handlers would race the relay reaper's (reaper.ts) for the same signals.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  const proc = server.process();
  const browser = await chromium.connect(server.wsEndpoint());
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  return {
    browser,
    pid: proc.pid!,
    async stop(graceMs = 5000) {
      const timer = setTimeout(() => killGroup(proc), graceMs);
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
      await exited;
      clearTimeout(timer);
    },
  };
}
