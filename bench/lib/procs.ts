// Every process the benchmark starts is registered here and stopped on the way out: normal end,
// an error, SIGINT or SIGTERM. A child that ignores SIGTERM is killed after a grace period.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const live = new Set<ChildProcess>();
export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url))); // dist/bench

export function track(p: ChildProcess): ChildProcess {
  live.add(p);
  p.once('exit', () => live.delete(p));
  return p;
}

/** SIGTERM every live child, SIGKILL whatever is left after graceMs. */
export async function stopAll(graceMs = 3000): Promise<void> {
  const waits = [...live].map(
    (p) =>
      new Promise<void>((resolve) => {
        if (p.exitCode !== null || p.signalCode !== null) return resolve();
        const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
        p.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        p.kill('SIGTERM');
      }),
  );
  await Promise.all(waits);
}

/** Synchronous last resort for process 'exit': no waiting possible there. */
export function killAllNow(): void {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

export interface Worker<Res> {
  proc: ChildProcess;
  /** The first message of type 'result' (rejects if the child exits first or times out). */
  result: Promise<Res>;
  /** Resolves at the first message of the given type. */
  waitFor(type: string, timeoutMs: number): Promise<any>;
  send(msg: unknown): void;
  stop(): Promise<void>;
}

/**
 * Forks dist/bench/<script>.js with an IPC channel. The job travels over IPC (never argv: it may
 * hold bearer tokens, and argv is visible in `ps`). Rejects after timeoutMs and kills the child.
 */
export function startWorker<Res>(script: string, job: unknown, timeoutMs: number, opts: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {}): Worker<Res> {
  const proc = track(
    fork(join(BENCH_DIR, `${script}.js`), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: opts.execArgv ?? [], env: opts.env ?? process.env }),
  );
  const messages: any[] = [];
  const waiters: { type: string; resolve: (m: any) => void }[] = [];
  proc.on('message', (m: any) => {
    const i = waiters.findIndex((w) => w.type === m?.type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
    else messages.push(m);
  });
  const exited = new Promise<never>((_, reject) => {
    proc.once('exit', (code, signal) => reject(new Error(`bench worker ${script} exited (code ${code}, signal ${signal}) before answering`)));
  });
  exited.catch(() => {});
  const waitFor = (type: string, ms: number): Promise<any> => {
    const i = messages.findIndex((m) => m?.type === type);
    if (i >= 0) return Promise.resolve(messages.splice(i, 1)[0]);
    let timer: NodeJS.Timeout;
    const got = new Promise<any>((resolve) => waiters.push({ type, resolve }));
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`bench worker ${script} gave no '${type}' within ${ms} ms`));
      }, ms);
    });
    return Promise.race([got, exited, late]).finally(() => clearTimeout(timer));
  };
  proc.send({ type: 'job', job });
  const result = waitFor('result', timeoutMs).then((m) => {
    if (m.error) throw new Error(`bench worker ${script}: ${m.error}`);
    return m.value as Res;
  });
  result.catch(() => {}); // servers never answer; callers that await `result` still see the error
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise<void>((r) => proc.once('exit', () => r()));
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    proc.kill('SIGTERM');
    await done;
    clearTimeout(t);
  };
  const send = (m: unknown): void => {
    if (proc.connected) proc.send(m as object);
  };
  return { proc, result, waitFor, send, stop };
}

/** Inside a worker: receive the job, run it, post the result (or the error), then exit. */
export function workerMain<Job, Res>(run: (job: Job, ctl: { post(m: object): void; on(type: string, fn: (m: any) => void): void }) => Promise<Res>): void {
  const handlers = new Map<string, (m: any) => void>();
  const post = (m: object): void => {
    process.send?.(m);
  };
  // A large result (e.g. 20,000 latencies) is still being written when run() returns: exit only
  // once the IPC layer has handed it over, or it is lost with the channel.
  const postThenExit = (m: object, code: number): void => {
    if (!process.send) process.exit(code);
    process.send(m, undefined, {}, () => {
      process.exitCode = code;
      process.disconnect?.();
    });
  };
  process.on('message', (m: any) => {
    if (m?.type === 'job') {
      run(m.job as Job, { post, on: (type, fn) => handlers.set(type, fn) }).then(
        (value) => postThenExit({ type: 'result', value }, 0),
        (e: unknown) => postThenExit({ type: 'result', error: e instanceof Error ? e.stack ?? e.message : String(e) }, 1),
      );
    } else handlers.get(m?.type)?.(m);
  });
  // The parent went away (killed, or Ctrl-C): nothing left to report to.
  process.on('disconnect', () => setTimeout(() => process.exit(), 100).unref());
}

// ---- workers driven step by step over IPC (client-peer, backlog-peer) ------------------------

let stepTag = 0;

/** Asks worker `w` to run step `s.step` (with the other fields of `s`) and returns its answer. */
export async function step(w: Worker<unknown>, s: Record<string, unknown>, timeoutMs: number): Promise<any> {
  const t = ++stepTag;
  w.send({ type: 'step', tag: t, ...s });
  const m = await w.waitFor(`done:${s.step as string}:${t}`, timeoutMs);
  if (m.error) throw new Error(`worker step ${s.step as string}: ${m.error}`);
  return m.value;
}

type Ctl = { post(m: object): void; on(type: string, fn: (m: any) => void): void };

/**
 * Inside such a worker: answers each step with its handler's result, posts `ready`, and resolves
 * once the parent says `finish`.
 */
export function serveSteps(ctl: Ctl, steps: Map<string, (m: any) => Promise<unknown>>): Promise<void> {
  ctl.on('step', (m) => {
    void steps.get(m.step)!(m).then(
      (value) => ctl.post({ type: `done:${m.step}:${m.tag}`, value }),
      (e: unknown) => ctl.post({ type: `done:${m.step}:${m.tag}`, error: e instanceof Error ? e.stack ?? e.message : String(e) }),
    );
  });
  const finished = new Promise<void>((r) => ctl.on('finish', () => r()));
  ctl.post({ type: 'ready' });
  return finished;
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Soft limit on open files of this process (children inherit it). */
export function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  if (!m) return 1024;
  return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
