// Issue 20, Capacity: how many active users one relay process carries at p99 < 100 ms with nothing
// refused. A realistic population against one real relay process at its shipped defaults: each
// user sends a 1 KiB opaque body every 30–60 s (80 % to one of its 5 contacts, 20 % to its group of
// 5–20), every recipient acks, 1 % of the users drop and reconnect per minute. Users are stepped up
// on the same relay (each step adds a cohort with its own contacts and groups); each step is held
// for a fixed window of scheduled send times, and the figures are those of that window: delivery
// latency (scheduled send → arrival, across processes), the relay's event-loop lag, CPU and RSS,
// refusals and failures, and the load generators' own CPU and lag.
//
// Accounts: one registered and logged in through a set-up relay, the rest written beside it through
// the relay's Store (bench/lib/seed.ts: no argon2 run per account); the measured relay runs on the
// same database with every limit at its default. No login happens while measuring.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PopulationJob, PopulationReport, PopulationUser } from '../population-peer.js';
import type { Params } from '../lib/params.js';
import { cpuSeconds } from '../lib/cpu.js';
import { openFileLimit, rssBytes, sleep, startWorker, track, type Worker } from '../lib/procs.js';
import { seedAccounts } from '../lib/seed.js';
import { relayProfilerArgs } from '../lib/setup.js';
import { summarize, type Row } from '../lib/stats.js';
import { startRelayProcess } from '../../test/util/relay-process.js';

const CONTACTS = 5;
const GROUP_MIN = 5;
const GROUP_MAX = 20;
/** Load-generator processes; each user lives in one, its recipients anywhere. */
const GENERATORS = 2;
/** Connects in flight per generator while a cohort joins. */
const CONCURRENCY = 64;
/** After a cohort joined, before the window opens (its sockets' first pushes settle). */
const SETTLE_MS = 3000;
/** After the window closed, before it is read: deliveries of its last sends still arrive. */
const GRACE_MS = 3000;
/** Room left for the relay's own files (database, WAL, listening socket, logs) under the fd limit. */
const FD_HEADROOM = 512;
const TARGET_P99_MS = 100;
/** A cohort's join (every socket open and greeted) must end within this, or the stepping stops. */
const JOIN_TIMEOUT_MS = 300_000;

type Any = Record<string, any>;

const userName = (i: number): string => `pop_${i}`;
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
const toList = (names: string[]): string => JSON.stringify(names.map((user) => ({ user, device: 1 })));

/** A fixed pseudo-random sequence (linear congruential), so every run builds the same population. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/**
 * Contacts and groups of the users [lo, hi): each has CONTACTS others of the cohort as contacts and
 * is in one group of GROUP_MIN..GROUP_MAX members of the cohort (a shuffled cohort cut in chunks).
 */
export function cohort(lo: number, hi: number, tokens: string[]): PopulationUser[] {
  const n = hi - lo;
  if (n < GROUP_MAX) throw new RangeError(`a cohort needs at least ${GROUP_MAX} users, got ${n}`);
  const rnd = lcg(lo + 20);
  const order = Array.from({ length: n }, (_, i) => lo + i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const groupOf = new Map<number, number[]>();
  for (let at = 0; at < n; ) {
    let size = GROUP_MIN + Math.floor(rnd() * (GROUP_MAX - GROUP_MIN + 1));
    if (n - at - size < GROUP_MIN) size = n - at; // the tail joins the last group (≤ 2 × GROUP_MAX)
    const members = order.slice(at, at + size);
    for (const m of members) groupOf.set(m, members);
    at += size;
  }
  return Array.from({ length: n }, (_, k) => {
    const i = lo + k;
    const contacts = new Set<number>();
    while (contacts.size < CONTACTS) {
      const c = lo + Math.floor(rnd() * n);
      if (c !== i) contacts.add(c);
    }
    const members = groupOf.get(i)!;
    return {
      name: userName(i),
      token: tokens[i]!,
      contacts: [...contacts].map((c) => toList([userName(c)])),
      group: toList(members.filter((m) => m !== i).map(userName)),
      groupSize: members.length,
    };
  });
}

/** Counters and gauges from the relay's /metrics, by their full line name (labels included). */
async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(60_000) })).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** The per-code refusals counted by the relay between two scrapes. */
function rejectsBetween(a: Map<string, number>, b: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of b) {
    const m = /^fastchat_rejects_total\{code="([^"]+)"\}$/.exec(k);
    if (m && v - (a.get(k) ?? 0) > 0) out[m[1]!] = v - (a.get(k) ?? 0);
  }
  return out;
}

/**
 * A histogram's observations between two scrapes: count, sum and the upper bound of the bucket
 * holding the 99th percentile (Infinity past the last bucket).
 */
function histogramBetween(a: Map<string, number>, b: Map<string, number>, name: string): { count: number; sum: number; p99Le: number } {
  const delta = (k: string): number => (b.get(k) ?? 0) - (a.get(k) ?? 0);
  const count = delta(`${name}_count`);
  const buckets = [...b.keys()]
    .map((k) => new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ le: m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), n: delta(m[0]) }))
    .sort((x, y) => x.le - y.le);
  const p99Le = count === 0 ? Number.NaN : buckets.find((x) => x.n >= 0.99 * count)?.le ?? Number.NaN;
  return { count, sum: delta(`${name}_sum`), p99Le };
}

function processFdLimit(pid: number): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!m) return Number.NaN;
  return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

export async function populationSuite(p: Params, log: (s: string) => void): Promise<{ rows: Row[]; details: unknown }> {
  const limit = openFileLimit();
  // BENCH_POPULATION_USERS=5000,10000 runs only those steps (to profile the relay at one of them).
  const wantedSteps = process.env.BENCH_POPULATION_USERS ? process.env.BENCH_POPULATION_USERS.split(',').map(Number) : p.populationUsers;
  if (wantedSteps.some((u) => !Number.isSafeInteger(u) || u < GROUP_MAX)) throw new Error(`BENCH_POPULATION_USERS must be integers ≥ ${GROUP_MAX}, got ${process.env.BENCH_POPULATION_USERS}`);
  const steps = wantedSteps.filter((u) => u + FD_HEADROOM <= limit);
  const skipped = wantedSteps.filter((u) => u + FD_HEADROOM > limit);
  const holdMs = p.populationHoldMs;
  const details: Any = { openFileLimit: limit, skipped, holdMs, contacts: CONTACTS, group: [GROUP_MIN, GROUP_MAX], steps: {} };
  log(`  population: open file limit ${limit} (ulimit -n); steps ${steps.join(', ')}${skipped.length ? ` (skipped over the limit: ${skipped.join(', ')})` : ''}; window ${holdMs / 1000} s; load ${load()}`);
  if (steps.length === 0) throw new Error(`open file limit ${limit} is too low for ${wantedSteps[0]} users (raise it with ulimit -n)`);
  const max = steps[steps.length - 1]!;
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-bench-population-'));
  const workers: Worker<{ users: number }>[] = [];
  try {
    const db = join(dir, 'relay.db');
    const t0 = Date.now();
    const tokens = await seedAccounts(db, Array.from({ length: max }, (_, i) => userName(i)));
    details.accountsSeconds = (Date.now() - t0) / 1000;
    log(`  population: ${max} accounts in ${details.accountsSeconds.toFixed(1)} s`);

    // The measured relay: shipped defaults (only its log level lowered).
    const relay = await startRelayProcess({ db, ...relayProfilerArgs(), args: ['--log-level', 'warn'], env: { FASTCHAT_RELAY_LOG_LEVEL: 'warn' } });
    track(relay.proc);
    const pid = relay.proc.pid!;
    details.relayFdLimit = processFdLimit(pid);
    log(`  population: relay pid ${pid}, its open file limit ${details.relayFdLimit}`);
    try {
      const bodies = Array.from({ length: 16 }, () => randomBytes(p.bodyBytes).toString('base64url'));
      // Every step: its join (at most JOIN_TIMEOUT_MS), settle, window, grace and report.
      const maxMs = steps.length * (JOIN_TIMEOUT_MS + SETTLE_MS + holdMs + GRACE_MS + 60_000);
      const job: PopulationJob = {
        wsUrl: relay.wsUrl, bodies, minIntervalMs: 30_000, maxIntervalMs: 60_000, groupShare: 0.2, reconnectsPerUserMinute: 0.01, concurrency: CONCURRENCY, maxMs,
      };
      for (let g = 0; g < GENERATORS; g++) workers.push(startWorker('population-peer', job, maxMs + 60_000));
      const genPids = workers.map((w) => w.proc.pid!);
      const ask = async (type: string, answer: string, msg: (w: number) => object, timeoutMs: number): Promise<any[]> => {
        for (let g = 0; g < workers.length; g++) workers[g]!.send({ type, ...msg(g) });
        return Promise.all(workers.map((w) => w.waitFor(answer, timeoutMs)));
      };
      let have = 0;
      let capacity = 0;
      let wallFound = false;
      for (const u of steps) {
        const users = cohort(have, u, tokens);
        const tAdd = Date.now();
        let added: any[];
        try {
          added = await ask('add', 'added', (g) => ({ users: users.filter((_, k) => k % workers.length === g) }), JOIN_TIMEOUT_MS);
        } catch (e) {
          // A cohort that cannot even join in time is past the wall: recorded, and the last step.
          const why = e instanceof Error ? e.message : String(e);
          log(`  population U=${u}: the cohort did not join: ${why}; stepping stops here`);
          details.steps[u] = { users: u, joinFailed: why, loadavg: loadavg() };
          rows.push({ id: `population_p99_${u}`, figure: `${u.toLocaleString('en-US')} active users: delivery p99 (did not join within ${JOIN_TIMEOUT_MS / 1000} s)`, unit: 'ms', fastchat: Number.NaN, baseline: Number.NaN, baselineName: 'none', better: 'lower', target: `< ${TARGET_P99_MS} ms, nothing refused`, met: false });
          have = u;
          break;
        }
        const joinFailed = added.reduce((a, x) => a + x.failed, 0);
        have = u;
        log(`  population U=${u}: ${users.length} joined in ${((Date.now() - tAdd) / 1000).toFixed(1)} s${joinFailed ? `, ${joinFailed} failed (${added.flatMap((x) => x.failures).join('; ')})` : ''}; load ${load()}`);
        await sleep(SETTLE_MS);

        const m0 = await scrape(relay.url); // also resets the relay's event-loop histogram
        await ask('lag-reset', 'lag-reset-done', () => ({}), 10_000);
        const relayCpu0 = cpuSeconds([pid]);
        const genCpu0 = cpuSeconds(genPids);
        const from = Date.now();
        await sleep(holdMs);
        const to = Date.now();
        const m1 = await scrape(relay.url);
        const relayCpu = cpuSeconds([pid]) - relayCpu0;
        const genCpu = cpuSeconds(genPids) - genCpu0;
        const rss = rssBytes(pid);
        const loadAt = loadavg();
        await sleep(GRACE_MS);
        const reports: PopulationReport[] = (await ask('report', 'report', () => ({ from, to }), 60_000)).map((r) => r.report);

        const latencies = reports.flatMap((r) => r.latencies);
        const s = summarize(latencies);
        const expected = reports.reduce((a, r) => a + r.expected, 0);
        const refusedFrames: Record<string, number> = {};
        for (const r of reports) for (const [k, v] of Object.entries(r.refused)) refusedFrames[k] = (refusedFrames[k] ?? 0) + v;
        const relayRejects = rejectsBetween(m0, m1);
        const refused = Object.values(refusedFrames).reduce((a, v) => a + v, 0) + Object.values(relayRejects).reduce((a, v) => a + v, 0);
        const reconnects = reports.reduce((a, r) => a + r.reconnects, 0);
        const reconnectFailed = reports.reduce((a, r) => a + r.reconnectFailed, 0);
        const lost = Math.max(0, expected - s.count);
        const failed = joinFailed + reconnectFailed + lost;
        const secs = (to - from) / 1000;
        const commits = histogramBetween(m0, m1, 'fastchat_commit_seconds');
        const d = {
          users: u, seconds: secs, sends: reports.reduce((a, r) => a + r.sends, 0), groupSends: reports.reduce((a, r) => a + r.groupSends, 0), deliveries: s.count, expected, lost,
          latency: s, refusedFrames, relayRejects, refused, joinFailed, reconnects, reconnectFailed, reconnectMsMax: Math.max(...reports.map((r) => r.reconnectMsMax)),
          presenceFrames: reports.reduce((a, r) => a + r.presence, 0),
          relayLagP99Ms: (m1.get('nodejs_eventloop_lag_p99_seconds') ?? Number.NaN) * 1000, relayLagMaxMs: (m1.get('nodejs_eventloop_lag_max_seconds') ?? Number.NaN) * 1000,
          commits: commits.count, commitMeanMs: (commits.sum / commits.count) * 1000, commitP99AtMostMs: commits.p99Le * 1000, commitBusyPercent: (commits.sum / secs) * 100,
          relayCpuPercent: (relayCpu / secs) * 100, relayRssMiB: rss / 1048576, relayConnections: m1.get('fastchat_ws_connections') ?? Number.NaN,
          generatorCpuPercent: (genCpu / secs) * 100, generatorLagP99Ms: Math.max(...reports.map((r) => r.lagP99Ms)), generatorLagMaxMs: Math.max(...reports.map((r) => r.lagMaxMs)),
          loadavg: loadAt,
        };
        details.steps[u] = d;
        const ok = s.p99 < TARGET_P99_MS && refused === 0 && failed === 0;
        if (ok && !wallFound) capacity = u;
        else wallFound = true;
        const f = (x: number): string => x.toFixed(1);
        log(
          `  population U=${u}: ${d.sends} sends (${d.groupSends} to groups) → ${s.count}/${expected} deliveries; latency p50 ${f(s.p50)} / p99 ${f(s.p99)} / p99.9 ${f(s.p999)} / max ${f(s.max)} ms; ` +
            `relay lag p99 ${f(d.relayLagP99Ms)} / max ${f(d.relayLagMaxMs)} ms, ${commits.count} commits (mean ${f(d.commitMeanMs)} ms, p99 ≤ ${f(d.commitP99AtMostMs)} ms, ${f(d.commitBusyPercent)} % of the window), CPU ${f(d.relayCpuPercent)} %, RSS ${f(d.relayRssMiB)} MiB, ${d.relayConnections} sockets; ` +
            `refused ${refused}${refused ? ` ${JSON.stringify({ ...refusedFrames, ...relayRejects })}` : ''}, failed ${failed} (join ${joinFailed}, reconnect ${reconnectFailed} of ${reconnects}, lost ${lost}); ` +
            `generators CPU ${f(d.generatorCpuPercent)} %, lag p99 ${f(d.generatorLagP99Ms)} ms; load ${loadAt.map((l) => l.toFixed(2)).join(' ')}${ok ? '' : ' — over the line'}`,
        );
        const n = u.toLocaleString('en-US');
        rows.push(
          {
            id: `population_p99_${u}`, figure: `${n} active users: delivery p99 (p50 ${f(s.p50)}, p99.9 ${f(s.p999)} ms)`, unit: 'ms', fastchat: s.p99,
            baseline: Number.NaN, baselineName: 'none', better: 'lower', target: `< ${TARGET_P99_MS} ms, nothing refused`, met: ok,
            note: `refused ${refused}, failed ${failed}, relay CPU ${f(d.relayCpuPercent)} %, lag p99 ${f(d.relayLagP99Ms)} ms, load ${loadAt[0]!.toFixed(1)}`,
          },
        );
        // Far past the wall (p99 over 5 s): the next step would only say so again, more slowly.
        if (s.p99 > 50 * TARGET_P99_MS) {
          log(`  population: p99 ${f(s.p99)} ms at ${u} users, stepping stops here`);
          break;
        }
      }
      details.capacity = capacity;
      rows.push({
        id: 'population_capacity', figure: 'active users per relay process at p99 < 100 ms, nothing refused', unit: 'users', fastchat: capacity,
        baseline: limit, baselineName: 'file-descriptor limit', better: 'higher', target: '≥ 15,000', met: capacity >= 15_000,
        note: `largest step tried ${have}`,
      });
      log(`  population: capacity ${capacity} users (largest step with p99 < ${TARGET_P99_MS} ms and nothing refused or failed; open file limit ${limit})`);
      for (const w of workers) w.send({ type: 'close' });
      await Promise.all(workers.map((w) => w.result.catch(() => undefined)));
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await relay.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  details.loadavgAtEnd = loadavg();
  return { rows, details };
}
