// Starting the relay for a measurement and making its accounts. The relay is the real
// `fastchat relay start` child process (test/util/relay-process.ts); setup uses a cheap argon2 cost
// and lifted rate limits (login, and sends per device) so making hundreds of accounts from 127.0.0.1 is quick — except for the
// login figure, which runs the relay at its default cost.
import { join } from 'node:path';
import { startRelayProcess, type RelayProcess } from '../../test/util/relay-process.js';
import { track } from './procs.js';

export const PASSWORD = 'bench password 1';

/** The relay's flags in every measurement (the login figure's cost aside). */
export const BENCH_RELAY_ARGS: readonly string[] = [
  '--log-level', 'warn',
  '--rate-limit-address', '100000000',
  '--rate-limit-account', '100000000',
  // One device pipelines ~30k msg/s here: the send limit would measure itself, not the relay.
  '--rate-limit-send', '100000000',
  '--rate-limit-send-burst', '100000000',
  '--rate-limit-send-account', '100000000',
  '--rate-limit-send-account-burst', '100000000',
  // The idle figure logs thousands of devices of one account in.
  '--max-devices', '100000000',
  // Room for the drain figure's backlog plus whatever a slow receiver leaves queued.
  '--queue-max-messages', '200000',
  '--argon2-memory-kib', '256',
  '--argon2-time', '1',
];

/** The environment of a client-core worker with its own home under `dir` and a cheap keystore KDF. */
export function clientEnv(dir: string, name: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    FASTCHAT_HOME: join(dir, name),
    FASTCHAT_PASSPHRASE: 'bench passphrase',
    FASTCHAT_PASSWORD: PASSWORD,
    FASTCHAT_KDF_MEMORY_KIB: '1024',
    FASTCHAT_KDF_ITERATIONS: '1',
    ...extra,
  };
}

/**
 * A set-up relay for making many accounts before a measurement at the shipped defaults: cheap
 * argon2 and lifted register/login limits, nothing else changed (reconnect, population).
 */
export const ACCOUNT_SETUP_ARGS: readonly string[] = ['--rate-limit-address', '100000000', '--rate-limit-account', '100000000', '--argon2-memory-kib', '256', '--argon2-time', '1', '--log-level', 'warn'];

/**
 * BENCH_RELAY_CPU_PROF=<dir>: every bench relay runs under node's CPU profiler, which writes
 * <dir>/CPU.*.cpuprofile when the relay stops (docs/PERFORMANCE.md).
 */
export function relayProfilerArgs(): { nodeArgs?: string[] } {
  const prof = process.env.BENCH_RELAY_CPU_PROF;
  return prof ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${prof}`] } : {};
}

export async function startBenchRelay(extraArgs: string[] = [], env: Record<string, string> = {}, db?: string): Promise<RelayProcess> {
  const relay = await startRelayProcess({
    ...(db ? { db } : {}),
    ...relayProfilerArgs(),
    args: [...BENCH_RELAY_ARGS, ...extraArgs],
    env: { FASTCHAT_RELAY_LOG_LEVEL: 'warn', ...env },
  });
  track(relay.proc);
  return relay;
}

async function post(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

export async function registerUser(url: string, username: string): Promise<void> {
  const r = await post(`${url}/v1/accounts`, { username, password: PASSWORD });
  if (r.status !== 201 && r.status !== 409) throw new Error(`register ${username}: ${r.status} ${JSON.stringify(r.json)}`);
}

export async function login(url: string, username: string, deviceId = 1): Promise<string> {
  const r = await post(`${url}/v1/sessions`, { username, password: PASSWORD, deviceId });
  if (r.status !== 200) throw new Error(`login ${username}/${deviceId}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.token as string;
}

/** Runs `fn` over items with at most `concurrency` at once. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

/** Accounts `names`, each logged in as device 1: name → token. */
export async function signupAll(url: string, names: string[], concurrency = 8): Promise<Map<string, string>> {
  const tokens = await pool(names, concurrency, async (n) => {
    await registerUser(url, n);
    return login(url, n);
  });
  return new Map(names.map((n, i) => [n, tokens[i]!]));
}
