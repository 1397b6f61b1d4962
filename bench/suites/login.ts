// Item 8: logins/s at the relay's default argon2 cost (vs argon2 verify alone, same cost and
// concurrency), and what a login flood does to other users' message latency.
import { randomBytes } from 'node:crypto';
import { DEFAULTS } from '../../relay/config.js';
import type { Params } from '../lib/params.js';
import { startWorker } from '../lib/procs.js';
import { PASSWORD, signupAll, startBenchRelay } from '../lib/setup.js';
import { summarize, type Row } from '../lib/stats.js';
import { runLoad } from './relay.js';

const FLOOD_CONCURRENCY = 16;

export async function loginSuite(p: Params, log: (s: string) => void): Promise<{ rows: Row[]; details: unknown }> {
  const cost = { memoryKiB: DEFAULTS.argon2MemoryKiB, time: DEFAULTS.argon2Time, parallelism: DEFAULTS.argon2Parallelism, concurrency: DEFAULTS.argon2Concurrency };
  log(`  raw argon2id verify (${cost.memoryKiB} KiB, t=${cost.time}, ${cost.concurrency} at once)`);
  const raw = await startWorker<{ perSecond: number }>('argon2-raw', { ...cost, durationMs: p.loginMs }, 120_000).result;

  const relay = await startBenchRelay(['--argon2-memory-kib', String(cost.memoryKiB), '--argon2-time', String(cost.time), '--argon2-concurrency', String(cost.concurrency)]);
  try {
    // Few accounts: each costs two argon2 runs at the default cost just to set up.
    const n = Math.min(p.latencyPairs, 4);
    const names = ['flood_user', ...Array.from({ length: n }, (_, i) => [`lat_s${i}`, `lat_r${i}`]).flat()];
    log(`  login relay: ${names.length} accounts at the default cost`);
    const tokens = await signupAll(relay.url, names, 4);
    const pairs = Array.from({ length: n }, (_, i) => ({ from: { name: `lat_s${i}`, token: tokens.get(`lat_s${i}`)! }, to: { name: `lat_r${i}`, token: tokens.get(`lat_r${i}`)! } }));
    const body = randomBytes(p.bodyBytes).toString('base64url');
    const target = { kind: 'relay' as const, wsUrl: relay.wsUrl };
    const latencyJob = { mode: 'latency' as const, target, pairs, rate: p.latencyRate, body, warmupMs: p.warmupMs, measureMs: p.loginMs };
    const floodJob = { mode: 'logins' as const, url: relay.url, username: 'flood_user', password: PASSWORD, concurrency: FLOOD_CONCURRENCY, durationMs: p.loginMs };

    log('  logins/s alone');
    const alone = await runLoad<{ perSecond: number; statuses: Record<string, number> }>(floodJob);
    log('  latency without a flood');
    const quiet = await runLoad<{ latenciesMs: number[]; lost: number; errors: number }>(latencyJob);
    log('  latency during a login flood');
    const [flooded, during] = await Promise.all([
      runLoad<{ latenciesMs: number[]; lost: number; errors: number }>(latencyJob),
      runLoad<{ perSecond: number; statuses: Record<string, number> }>({ ...floodJob, durationMs: p.warmupMs + p.loginMs + 500 }),
    ]);
    const q = summarize(quiet.latenciesMs);
    const f = summarize(flooded.latenciesMs);
    const rows: Row[] = [
      {
        id: 'logins', figure: `logins/s at default argon2id (${cost.memoryKiB / 1024} MiB, t=${cost.time})`, unit: '/s', fastchat: alone.perSecond, baseline: raw.perSecond,
        baselineName: 'argon2 verify alone', better: 'higher',
      },
      {
        id: 'latency_p99_login_flood', figure: `p99 at ${p.latencyRate} msg/s during a login flood`, unit: 'ms', fastchat: f.p99, baseline: q.p99,
        baselineName: 'same, no flood', better: 'lower', ...(flooded.lost ? { note: `${flooded.lost} not delivered in time` } : {}),
      },
    ];
    return { rows, details: { cost, raw, alone, during, quiet: { ...q, lost: quiet.lost, errors: quiet.errors }, flooded: { ...f, lost: flooded.lost, errors: flooded.errors }, floodConcurrency: FLOOD_CONCURRENCY } };
  } finally {
    await relay.stop();
  }
}
