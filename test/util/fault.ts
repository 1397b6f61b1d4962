// Helpers for the relay's fault and robustness tests (test/relay-*.test.ts): memory sampling of
// a relay process, a seeded PRNG so a failing fuzz run can be replayed, raw HTTP over a socket
// (for requests `fetch` refuses to make), and byte scans of files.
import { connect } from 'node:net';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { until } from './until.js';

/** Resident set size of a process in KiB, from /proc (Linux). Null once the process is gone. */
export function rssKiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; `max` is the peak seen (KiB). */
export class RssSampler {
  max = 0;
  samples = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(
    readonly pid: number,
    everyMs = 100,
  ) {
    const tick = (): void => {
      const r = rssKiB(pid);
      if (r !== null) {
        this.samples += 1;
        if (r > this.max) this.max = r;
      }
    };
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }
  stop(): number {
    clearInterval(this.timer);
    const r = rssKiB(this.pid);
    if (r !== null && r > this.max) this.max = r;
    return this.max;
  }
}

/** mulberry32: a small seeded PRNG. The seed is printed by the fuzz test so a failure replays. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T; bytes(n: number): Buffer } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]!,
    bytes: (n: number): Buffer => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    },
  };
}

export interface RawResponse {
  status: number;
  head: string;
  body: string;
  /** Milliseconds from connect to the end of the response (or the socket closing). */
  elapsedMs: number;
  /** How many request body bytes we managed to write before the response came back. */
  bytesWritten: number;
}

/**
 * Writes `head` then up to `bodyBytes` bytes of body in chunks over a plain TCP socket, and
 * returns whatever response arrives. Stops writing as soon as a response starts, so a server that
 * answers 413 from the Content-Length header shows up as a small `bytesWritten`.
 */
export function rawHttp(port: number, head: string, body: Buffer | { fill: number; bytes: number; chunk?: number } = Buffer.alloc(0), timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = connect({ host: '127.0.0.1', port });
    let response = Buffer.alloc(0);
    let responded = false;
    let bytesWritten = 0;
    let finished = false;
    const timer = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      if (err && response.length === 0) return reject(err);
      const text = response.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const headPart = split >= 0 ? text.slice(0, split) : text;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(headPart);
      resolve({ status: m ? Number(m[1]) : 0, head: headPart, body: split >= 0 ? text.slice(split + 4) : '', elapsedMs: Date.now() - started, bytesWritten });
    };
    sock.on('error', () => finish(new Error('socket error')));
    sock.on('close', () => finish());
    sock.on('data', (d) => {
      responded = true;
      response = Buffer.concat([response, d]);
      if (responseComplete(response)) finish();
    });
    sock.on('connect', () => {
      sock.write(head);
      if (Buffer.isBuffer(body)) {
        bytesWritten = body.length;
        sock.write(body);
        return;
      }
      const { fill, bytes, chunk = 64 * 1024 } = body;
      const buf = Buffer.alloc(chunk, fill);
      const pump = (): void => {
        while (!responded && !finished && bytesWritten < bytes) {
          const n = Math.min(chunk, bytes - bytesWritten);
          bytesWritten += n;
          if (!sock.write(n === chunk ? buf : buf.subarray(0, n))) {
            sock.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
}

function responseComplete(buf: Buffer): boolean {
  const text = buf.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) return false;
  const head = text.slice(0, split);
  const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (len) return buf.length - (split + 4) >= Number(len[1]);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return text.endsWith('0\r\n\r\n');
  return false;
}

/** Every file of a SQLite database that can hold data: the db, its WAL and its shared memory. */
export function sqliteFiles(db: string): string[] {
  return [db, `${db}-wal`, `${db}-shm`, `${db}-journal`].filter((f) => existsSync(f));
}

/** Which of `needles` occur anywhere in the given files (raw bytes). */
export function findInFiles(files: string[], needles: { label: string; bytes: Buffer }[]): string[] {
  const hits: string[] = [];
  for (const f of files) {
    const data = readFileSync(f);
    for (const n of needles) if (n.bytes.length > 0 && data.indexOf(n.bytes) >= 0) hits.push(`${n.label} in ${f}`);
  }
  return hits;
}

/** Rejects after `ms` with a message naming what was awaited. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every `everyMs` until true; fails after `ms` (until, with a quicker poll for fault tests). */
export function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 20): Promise<void> {
  return until(cond, what, { timeoutMs: ms, everyMs });
}

/**
 * Relay flags for fault tests: every test account logs in from 127.0.0.1, so the per-address and
 * per-account login limits are lifted, and so is the per-device send limit, since these tests
 * stream thousands of messages from one device (the rate limiter has its own tests; a later
 * repeat of a flag overrides these).
 */
export const RELAY_TEST_ARGS: string[] = [
  '--rate-limit-address', '100000',
  '--rate-limit-account', '100000',
  '--rate-limit-send', '1000000',
  '--rate-limit-send-burst', '1000000',
  '--rate-limit-send-account', '1000000',
  '--rate-limit-send-account-burst', '1000000',
  '--rate-limit-bundles', '1000000',
  '--rate-limit-bundles-burst', '1000000',
  '--rate-limit-bundles-per-target', '1000000',
  '--rate-limit-device-lists', '1000000',
];

/**
 * Calls `fn` for every frame of a RelayWs from now on, starting with those it already queued.
 * A listener added after `RelayWs.connect()` resolves can miss frames that came in the same TCP
 * read as the upgrade response (ws emits them on nextTick, before the awaiting code resumes);
 * RelayWs keeps those in `frames`, so they are taken from there first.
 */
export function onFrames(ws: { frames: { type: string; [k: string]: any }[]; ws: { on(ev: 'message', fn: (data: unknown) => void): unknown } }, fn: (f: { type: string; [k: string]: any }) => void): void {
  for (const f of ws.frames.splice(0)) fn(f);
  ws.ws.on('message', (data) => fn(JSON.parse(String(data)) as { type: string }));
}

/** Runs `fastchat relay start ARGS` expecting it to exit (a refused start); kills it after `ms`. */
export async function relayStartExit(args: string[], env: Record<string, string> = {}, ms = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { spawn } = await import('node:child_process');
  const { FASTCHAT_BIN } = await import('./paths.js');
  const { TEST_RELAY_ENV } = await import('./relay-process.js');
  const child = spawn(process.execPath, [FASTCHAT_BIN, 'relay', 'start', '--host', '127.0.0.1', ...args], { env: { ...process.env, ...TEST_RELAY_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * Environment that runs a process with its wall clock moved by `offset` (libfaketime, e.g. '+31d'),
 * its monotonic clock left alone, as a stepped system clock would. Debian: apt-get install
 * faketime (.ci/run installs it).
 */
export function fakeTimeEnv(offset: string): Record<string, string> {
  const candidates = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1', '/usr/local/lib/faketime/libfaketime.so.1'];
  const lib = candidates.find((p) => existsSync(p));
  if (!lib) throw new Error('libfaketime is not installed: apt-get install faketime (.ci/run installs it)');
  return { LD_PRELOAD: lib, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' };
}

/** A tmpfs of `bytes` mounted on `dir` (root only), or why not. */
export async function mountTmpfs(dir: string, bytes: number): Promise<{ unmount(): Promise<void> } | { reason: string }> {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return { reason: `cannot mount a tmpfs on ${dir} (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}); the disk-full test needs root (CI runs as root)` };
  return {
    unmount: async () => {
      for (let i = 0; i < 20; i++) {
        if (spawnSync('umount', [dir]).status === 0) return;
        await sleep(100); // a process we stopped may still hold a file open for a moment
      }
      spawnSync('umount', ['-l', dir]);
    },
  };
}

/** Size, used and free bytes of the file system holding `dir`. */
export function diskUsage(dir: string): { size: number; used: number; free: number } {
  const s = statfsSync(dir);
  return { size: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize, free: s.bavail * s.bsize };
}
