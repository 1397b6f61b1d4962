// `fastchat device link` in a test home, in the background (docs/CLI.md "device"): the code it
// prints as soon as it prints it, and its end. Used by the linking and fan-out end-to-end tests.
import type { TestContext } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { converse, makeHome, makeTempRoot, setUpUser, TEST_CLIENT_ENV, type TestHome } from './fastchat-cli.js';
import { FASTCHAT_BIN } from './paths.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';
import { RELAY_TEST_ARGS } from './fault.js';

export interface Linking {
  child: ChildProcess;
  /** The first JSON line: {state:'waiting', code, link, fingerprint, expiresAt}. */
  waiting: Promise<{ code: string; link: string; fingerprint: string }>;
  /** What it wrote on stderr so far. */
  stderr(): string;
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
  return { child, waiting, stderr: () => stderr, done };
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

/**
 * A relay process, alice and bob registered and each a contact of the other (one message each
 * way), and an empty home for alice's laptop: the start of the multi-device tests. All of it is
 * gone after the test.
 */
export async function aliceBobAndLaptop(t: TestContext, prefix: string): Promise<{ relay: RelayProcess; alice: TestHome; bob: TestHome; laptop: TestHome }> {
  const tmp = makeTempRoot(prefix);
  const relay = await startRelayProcess({ args: RELAY_TEST_ARGS });
  t.after(async () => {
    await relay.stop();
    tmp.cleanup();
  });
  const alice = makeHome(tmp.root, 'alice');
  const bob = makeHome(tmp.root, 'bob');
  const laptop = makeHome(tmp.root, 'laptop');
  await Promise.all([setUpUser(alice, relay.url), setUpUser(bob, relay.url)]);
  await converse(alice, bob);
  return { relay, alice, bob, laptop };
}
