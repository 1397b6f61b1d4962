// Starts a real `fastchat relay start` process for end-to-end tests and waits for its one
// "listening" line. Shared by the relay, ops and client tests: keep this API stable.
//
//   const relay = await startRelayProcess();      // fresh temp db, port 0, cheap argon2
//   t.after(() => relay.stop());                  // SIGTERM, then SIGKILL after a grace period
//   relay.url / relay.wsUrl / relay.port / relay.db / relay.stderr (JSON log lines)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FASTCHAT_BIN } from './paths.js';
import { killOnExit } from './reaper.js';
import { until } from './until.js';

export interface StartRelayOptions {
  /** Extra CLI args appended after the defaults (a repeated option overrides the default). */
  args?: string[];
  /** Extra environment; merged over process.env and the cheap-argon2 defaults. */
  env?: Record<string, string>;
  /** Database file; default: a fresh file in a temp dir removed by stop() when the dir is ours. */
  db?: string;
  /** A `--store` URL instead of the SQLite file (postgres://…: a node of a cluster, test/util/cluster.ts). */
  store?: string;
  /** Port to bind (default 0 = any free port). Use the old port to restart "the same" relay. */
  port?: number;
  /** Milliseconds to wait for the listening line (default 20 s). */
  timeoutMs?: number;
  /** Options for node itself, before the script (the bench's `--cpu-prof`). */
  nodeArgs?: string[];
}

export interface RelayProcess {
  /** http(s)://127.0.0.1:PORT */
  url: string;
  /** ws(s)://127.0.0.1:PORT/v1/ws */
  wsUrl: string;
  port: number;
  db: string;
  proc: ChildProcess;
  /** stdout and stderr lines seen so far (stderr = pino JSON lines). Live arrays. */
  stdout: string[];
  stderr: string[];
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, wait up to graceMs (default 5 s), then SIGKILL. Resolves with the exit status. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL right away (crash tests). Keeps the db. */
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Cheap argon2 for tests: the relay's defaults (64 MiB, t=3) would make every login slow. */
export const TEST_RELAY_ENV: Record<string, string> = {
  FASTCHAT_RELAY_ARGON2_MEMORY_KIB: '1024',
  FASTCHAT_RELAY_ARGON2_TIME: '1',
  FASTCHAT_RELAY_LOG_LEVEL: 'info',
};

export async function startRelayProcess(opts: StartRelayOptions = {}): Promise<RelayProcess> {
  let ownDir: string | null = null;
  let db = opts.db;
  if (!db) {
    ownDir = mkdtempSync(join(tmpdir(), 'fastchat-relay-'));
    db = join(ownDir, 'relay.db');
  }
  const where = opts.store ? ['--store', opts.store] : ['--db', db];
  const args = [FASTCHAT_BIN, 'relay', 'start', '--host', '127.0.0.1', '--port', String(opts.port ?? 0), ...where, ...(opts.args ?? [])];
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...args], {
    env: { ...process.env, ...TEST_RELAY_ENV, ...(opts.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(proc);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  collectLines(proc.stdout!, stdout);
  collectLines(proc.stderr!, stderr);

  const timeoutMs = opts.timeoutMs ?? 20_000;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`relay did not start within ${timeoutMs} ms; stderr:\n${stderr.join('\n')}`));
    }, timeoutMs);
    const onData = (): void => {
      for (const line of stdout) {
        const m = /^fastchat relay listening on (https?:\/\/\S+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          proc.stdout!.off('data', onData);
          resolve(m[1]!);
          return;
        }
      }
    };
    proc.stdout!.on('data', () => setImmediate(onData));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`relay exited before listening (code ${code}, signal ${signal}); stderr:\n${stderr.join('\n')}`));
    });
  });
  const port = Number(new URL(url).port);
  const wsUrl = `${url.replace(/^http/, 'ws')}/v1/ws`;

  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned || !ownDir) return;
    cleaned = true;
    rmSync(ownDir, { recursive: true, force: true });
  };
  const stop = async (graceMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(timer);
      cleanup();
      return r;
    }
    const r = await exited;
    cleanup();
    return r;
  };
  const kill = async (): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    return exited;
  };
  return { url, wsUrl, port, db, proc, stdout, stderr, exited, stop, kill };
}

function collectLines(stream: NodeJS.ReadableStream, into: string[]): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      into.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => {
    if (buf) into.push(buf);
  });
}

/**
 * Waits (bounded by a deadline, polling /metrics) until the relay holds `n` WebSocket connections:
 * how a test knows a client command is connected, e.g. `inbox --wait` running in the background.
 */
export function waitForSockets(url: string, n: number, deadlineMs = 20_000): Promise<void> {
  const line = new RegExp(`^fastchat_ws_connections ${n}$`, 'm');
  return until(async () => line.test(await (await fetch(`${url}/metrics`)).text()), `the relay to hold ${n} WebSocket connection(s)`, { timeoutMs: deadlineMs, everyMs: 100 });
}
