// `fastchat device link` in a test home, in the background (docs/CLI.md "device"): the code it
// prints as soon as it prints it, and its end. Used by the linking and fan-out end-to-end tests.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { TEST_CLIENT_ENV, type TestHome } from './fastchat-cli.js';
import { FASTCHAT_BIN } from './paths.js';

export interface Linking {
  child: ChildProcess;
  /** The first JSON line: {state:'waiting', code, link, fingerprint, expiresAt}. */
  waiting: Promise<{ code: string; link: string; fingerprint: string }>;
  /** Exit code and output once the process ends. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** `device link --json` in `home`, in the background: its code as soon as it prints it. */
export function startLink(home: TestHome, relayUrl: string, user: string): Linking {
  const child = spawn(process.execPath, [FASTCHAT_BIN, 'device', 'link', '--relay', relayUrl, '--user', user, '--json'], {
    env: { ...process.env, ...TEST_CLIENT_ENV, ...home.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let onLine: ((l: any) => void) | undefined;
  const waiting = new Promise<{ code: string; link: string; fingerprint: string }>((resolve, reject) => {
    onLine = resolve;
    child.on('close', () => reject(new Error(`device link ended before printing a code\nstdout: ${stdout}\nstderr: ${stderr}`)));
  });
  waiting.catch(() => undefined);
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    const first = stdout.split('\n')[0];
    if (stdout.includes('\n') && first) onLine?.(JSON.parse(first));
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, waiting, done };
}

/** Ends the process if a failed assertion left it waiting (bounded: it exits on its own at expiry). */
export function stopLink(l: Linking): void {
  if (l.child.exitCode === null && l.child.signalCode === null) l.child.kill('SIGKILL');
}

/** startLink, stopped after the test if it is still waiting. */
export function linkIn(t: TestContext, home: TestHome, relayUrl: string, user: string): Linking {
  const l = startLink(home, relayUrl, user);
  t.after(() => stopLink(l));
  return l;
}
