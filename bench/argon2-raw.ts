// Baseline for logins: argon2id verify alone (the same library, cost and concurrency the relay
// uses), with no HTTP, no database and no token. Bounded by time.
import argon2 from 'argon2';
import { performance } from 'node:perf_hooks';
import { workerMain } from './lib/procs.js';

export interface Argon2Job {
  memoryKiB: number;
  time: number;
  parallelism: number;
  concurrency: number;
  durationMs: number;
}

workerMain<Argon2Job, unknown>(async (j) => {
  const password = 'bench password 1';
  const hash = await argon2.hash(password, { type: argon2.argon2id, memoryCost: j.memoryKiB, timeCost: j.time, parallelism: j.parallelism });
  let ok = 0;
  const t0 = performance.now();
  const end = t0 + j.durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) if (await argon2.verify(hash, password)) ok++;
  };
  await Promise.all(Array.from({ length: j.concurrency }, worker));
  return { perSecond: (ok * 1000) / (performance.now() - t0), verifies: ok };
});
