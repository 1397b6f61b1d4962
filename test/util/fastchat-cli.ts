// Client homes for end-to-end tests: each is a temp FASTCHAT_HOME with its own passphrase and
// cheap argon2 (the defaults would make every command take a quarter second longer), and `run`
// spawns the real `node bin/fastchat.cjs`.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FASTCHAT_BIN } from './paths.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface TestHome {
  name: string;
  dir: string;
  env: Record<string, string>;
  run(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult>;
  /** run, and throw with the output unless it exits 0. */
  ok(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult>;
}

export const TEST_CLIENT_ENV: Record<string, string> = {
  FASTCHAT_KDF_MEMORY_KIB: '1024',
  FASTCHAT_KDF_ITERATIONS: '1',
  // Most tests start conversations between fresh homes and read them at once; message requests
  // (client/core/requests.ts) are tested where they are the subject, with FASTCHAT_REQUESTS=on.
  FASTCHAT_REQUESTS: 'off',
};

/** A temp dir holding several homes; remove it with `cleanup()` in `after`. */
export function makeTempRoot(prefix = 'fastchat-e2e-'): { root: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export function runFastchat(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FASTCHAT_BIN, ...args], {
      env: { ...process.env, ...TEST_CLIENT_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fastchat ${args.join(' ')} timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function makeHome(root: string, name: string, extraEnv: Record<string, string> = {}): TestHome {
  const dir = join(root, name);
  const env = { FASTCHAT_HOME: dir, FASTCHAT_PASSPHRASE: `pass-${name}-phrase`, FASTCHAT_PASSWORD: `password-of-${name}`, ...extraEnv };
  const run: TestHome['run'] = (args, opts = {}) => runFastchat(args, { ...env, ...(opts.env ?? {}) }, opts.timeoutMs);
  return {
    name,
    dir,
    env,
    run,
    async ok(args, opts) {
      const r = await run(args, opts);
      if (r.code !== 0) throw new Error(`fastchat ${args.join(' ')} (home ${name}) exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      return r;
    },
  };
}

/** keygen + register on `relayUrl`. */
export async function setUpUser(home: TestHome, relayUrl: string): Promise<void> {
  await home.ok(['keygen']);
  await home.ok(['register', home.name, '--relay', relayUrl]);
}

/** The process is gone, or a zombie (it has ended, only not been reaped yet). */
export function processEnded(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

export function jsonLines(s: string): any[] {
  return s
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l));
}

/**
 * The usual end-to-end world: a temp root, a real relay on `<root>/relay/relay.db` (so a test can restart
 * it on the same file), and one registered home per name, set up in parallel. The caller stops
 * the relay and cleans up the root in `after`.
 */
export async function startUsers<N extends string>(
  names: readonly N[],
  opts: { relayArgs?: string[]; prefix?: string } = {},
): Promise<{ tmp: ReturnType<typeof makeTempRoot>; relay: RelayProcess; dbPath: string; homes: Record<N, TestHome> }> {
  const tmp = makeTempRoot(opts.prefix);
  // The relay gets a folder of its own, so a scan of "the relay's disk" never sees the homes.
  mkdirSync(join(tmp.root, 'relay'));
  const dbPath = join(tmp.root, 'relay', 'relay.db');
  const relay = await startRelayProcess({ db: dbPath, ...(opts.relayArgs ? { args: opts.relayArgs } : {}) });
  const homes = Object.fromEntries(names.map((n) => [n, makeHome(tmp.root, n)])) as Record<N, TestHome>;
  await Promise.all(Object.values<TestHome>(homes).map((h) => setUpUser(h, relay.url)));
  return { tmp, relay, dbPath, homes };
}

/**
 * One relay for many small scenarios: each `homes(...)` call registers fresh users (names get a
 * per-call number, since usernames are unique on a relay). The relay allows many registrations from
 * 127.0.0.1. Stop it and clean the root with `close()` in `after`.
 */
export async function startScenarios(prefix: string): Promise<{
  relay: RelayProcess;
  root: string;
  homes<N extends string>(...names: N[]): Promise<Record<N, TestHome>>;
  close(): Promise<void>;
}> {
  const tmp = makeTempRoot(prefix);
  const relay = await startRelayProcess({ args: ['--rate-limit-address', '1000'] });
  let n = 0;
  return {
    relay,
    root: tmp.root,
    async homes<N extends string>(...names: N[]): Promise<Record<N, TestHome>> {
      n++;
      const hs = Object.fromEntries(names.map((name) => [name, makeHome(tmp.root, `${name}${n}`)])) as Record<N, TestHome>;
      await Promise.all(Object.values<TestHome>(hs).map((h) => setUpUser(h, relay.url)));
      return hs;
    },
    async close() {
      await relay.stop();
      tmp.cleanup();
    },
  };
}

/** a → b and b → a, so both hold a session and a contact record for the other. */
export async function converse(a: TestHome, b: TestHome): Promise<void> {
  await a.ok(['send', `@${b.name}`, `hello ${b.name}`]);
  await b.ok(['inbox']);
  await b.ok(['send', `@${a.name}`, `hello ${a.name}`]);
  await a.ok(['inbox']);
}

/** `a`'s own messages to `peer`, text → status, after an inbox pass took in the receipts that came. */
export async function statusesTo(a: TestHome, peer: string): Promise<Record<string, string>> {
  await a.ok(['inbox']);
  const h = jsonLines((await a.ok(['history', `@${peer}`, '-n', '100', '--json'])).stdout);
  return Object.fromEntries(h.filter((m) => m.from === a.name).map((m) => [m.text, m.status]));
}
