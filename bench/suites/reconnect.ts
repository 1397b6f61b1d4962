// Issue 20, Capacity: U users, each with an audience (it has written to the next AUDIENCE users, so
// each is also in the audience of the AUDIENCE before it), connect at once to a fresh relay process
// ("cold": like a relay restart — every user comes online, its connected audience hears it), then all
// drop their sockets and reconnect at once ("warm": every user is back within the presence grace,
// so nobody should hear anything). Meanwhile a few other users keep messaging each other: the p99
// of their send-to-delivery time during the cold connect is the figure, its baseline the same
// probe while the relay is quiet. The warm reconnect runs twice: at the default grace and with
// --presence-grace-ms 0 (the rule before the grace: offline at the close, online at the reconnect).
//
// Accounts: registered and logged in through a set-up relay with cheap argon2 and lifted
// register/login limits (--argon2-*, --rate-limit-address, --rate-limit-account). The measured
// relay runs on the same database with every limit at its default: nothing a connect or a send
// meets is lifted (the send limits, the queue quotas, the recipients per send).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Peer, Target } from '../loadgen.js';
import type { Params } from '../lib/params.js';
import { cpuSeconds } from '../lib/cpu.js';
import { openFileLimit, rssBytes, sleep, startWorker, track, type Worker } from '../lib/procs.js';
import { ACCOUNT_SETUP_ARGS, login, pool, registerUser, relayProfilerArgs, PASSWORD } from '../lib/setup.js';
import { summarize, type Row } from '../lib/stats.js';
import { startRelayProcess, type RelayProcess } from '../../test/util/relay-process.js';

/** Each user has written to this many others. */
const AUDIENCE = 3;
/** Connections per load-generator process (each holds one fd per connection). */
const PER_WORKER = 5000;
/** Connection attempts in flight per load-generator process. */
const CONCURRENCY = 256;
const PROBE_PAIRS = 5;
const PROBE_RATE = 200;
const QUIET_MS = 3000;

type Any = Record<string, any>;
interface Phase { ms: number; failed: number; presence: number; messages: number }

const name = (i: number): string => `crowd_${i}`;
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

async function startRelay(db: string, args: string[] = []): Promise<RelayProcess> {
  const r = await startRelayProcess({ db, ...relayProfilerArgs(), args: ['--log-level', 'warn', ...args], env: { FASTCHAT_RELAY_LOG_LEVEL: 'warn' } });
  track(r.proc);
  return r;
}

/**
 * The event-loop lag the relay saw since the last scrape (prom-client resets its histogram then),
 * and its commits so far: how many, and their wall time in ms, fsync included (cumulative).
 */
async function scrape(url: string): Promise<{ maxMs: number; p99Ms: number; commits: number; commitMs: number }> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(60_000) })).text();
  const get = (m: string, scale = 1000): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${m} `));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) * scale : Number.NaN;
  };
  return {
    maxMs: get('nodejs_eventloop_lag_max_seconds'), p99Ms: get('nodejs_eventloop_lag_p99_seconds'),
    commits: get('fastchat_commit_seconds_count', 1), commitMs: get('fastchat_commit_seconds_sum'),
  };
}

/** Runs one crowd of `peers` against `target` through its two phases, with the probe and the relay's own figures. */
async function runCrowd(target: Target, peers: Peer[], relay: RelayProcess | null, probePairs: { from: Peer; to: Peer }[] | null, body: string, timeoutMs: number): Promise<Any> {
  const workers: Worker<unknown>[] = [];
  let probe: Worker<{ at: number[]; ms: number[]; lost: number; errors: number }> | null = null;
  try {
    if (probePairs) {
      probe = startWorker('loadgen', { mode: 'probe', target, pairs: probePairs, rate: PROBE_RATE, body, maxMs: timeoutMs }, timeoutMs + 60_000);
      await probe.waitFor('ready', 60_000);
    }
    for (let i = 0; i < peers.length; i += PER_WORKER) {
      workers.push(startWorker('loadgen', { mode: 'crowd', target, peers: peers.slice(i, i + PER_WORKER), concurrency: CONCURRENCY, timeoutMs }, timeoutMs + 60_000));
    }
    await Promise.all(workers.map((w) => w.waitFor('up', 60_000)));
    const pid = relay?.proc.pid;
    const step = async (cmd: string, answer: string): Promise<Any> => {
      const before = relay ? await scrape(relay.url) : null;
      const cpu0 = pid ? cpuSeconds([pid]) : 0;
      const t0 = Date.now();
      for (const w of workers) w.send({ type: cmd });
      const got: Phase[] = await Promise.all(workers.map((w) => w.waitFor(answer, timeoutMs)));
      // Each worker sleeps a settle second after its last user is back; that second is not counted.
      const ms = Math.max(...got.map((g) => g.ms));
      const t1 = t0 + ms;
      const out: Any = {
        seconds: ms / 1000, t0, t1, failed: sum(got, 'failed'), presenceFrames: sum(got, 'presence'), messages: sum(got, 'messages'), loadavg: loadavg(),
      };
      if (relay && pid && before) {
        const after = await scrape(relay.url);
        Object.assign(out, {
          lag: after, relayCpuSeconds: cpuSeconds([pid]) - cpu0, relayRssMiB: rssBytes(pid) / 1048576,
          commits: after.commits - before.commits, commitMs: after.commitMs - before.commitMs,
        });
      }
      return out;
    };
    await sleep(QUIET_MS);
    const quietUntil = Date.now();
    const cold = await step('connect', 'connected');
    await sleep(1000);
    const warm = await step('reconnect', 'reconnected');
    for (const w of workers) w.send({ type: 'close' });
    await Promise.all(workers.map((w) => w.result));
    const out: Any = { cold, warm };
    if (probe) {
      probe.send({ type: 'close' });
      const r = await probe.result;
      const within = (a: number, b: number): number[] => r.ms.filter((_, i) => r.at[i]! >= a && r.at[i]! < b);
      out.probe = { quiet: summarize(within(0, quietUntil)), cold: summarize(within(cold.t0, cold.t1)), warm: summarize(within(warm.t0, warm.t1)), lost: r.lost, errors: r.errors };
    }
    return out;
  } finally {
    await Promise.all([...workers, ...(probe ? [probe] : [])].map((w) => w.stop()));
  }
}

/** A fixed permutation (Fisher–Yates over a linear congruential sequence). */
function shuffled<T>(xs: T[]): T[] {
  const out = [...xs];
  let seed = 20;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function sum(xs: Phase[], k: keyof Phase): number {
  return xs.reduce((a, x) => a + x[k], 0);
}

export async function reconnectSuite(p: Params, log: (s: string) => void): Promise<{ rows: Row[]; details: unknown }> {
  // The relay holds one fd per connection, plus the probe's and its own.
  const limit = openFileLimit();
  const steps = p.crowdUsers.filter((u) => u + 512 <= limit);
  const details: Any = { openFileLimit: limit, skipped: p.crowdUsers.filter((u) => u + 512 > limit), audience: AUDIENCE, steps: {} };
  log(`  reconnect: open file limit ${limit}; steps ${steps.join(', ')}; load ${load()}`);
  if (steps.length === 0) throw new Error(`open file limit ${limit} is too low for ${p.crowdUsers[0]} users (raise it with ulimit -n)`);
  const max = steps[steps.length - 1]!;
  const body = randomBytes(p.bodyBytes).toString('base64url');
  const timeoutMs = p.quick ? 180_000 : 600_000;
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-bench-crowd-'));
  try {
    const db = join(dir, 'relay.db');
    const probeNames = Array.from({ length: PROBE_PAIRS * 2 }, (_, i) => `probe_${i}`);
    const setup = await startRelay(db, [...ACCOUNT_SETUP_ARGS]);
    let tokens: string[];
    let probeTokens: string[];
    try {
      log(`  reconnect: ${max} accounts`);
      const account = async (n: string): Promise<string> => {
        await registerUser(setup.url, n);
        return login(setup.url, n);
      };
      tokens = await pool(Array.from({ length: max }, (_, i) => name(i)), 8, account);
      probeTokens = await pool(probeNames, 8, account);
    } finally {
      await setup.stop();
    }
    const peers = tokens.map((token, i) => ({ name: name(i), token }));
    const probePeers = probeNames.map((n, i) => ({ name: n, token: probeTokens[i]! }));
    const probePairs = Array.from({ length: PROBE_PAIRS }, (_, i) => ({ from: probePeers[2 * i]!, to: probePeers[2 * i + 1]! }));

    const baseline = startWorker<never>('baseline-server', {}, 3_600_000);
    try {
      const { port } = await baseline.waitFor('listening', 10_000);
      const bt: Target = { kind: 'baseline', wsUrl: `ws://127.0.0.1:${port}/` };
      for (const u of steps) {
        // Users come in a shuffled order (the same in every run), so about half of a user's
        // audience is already connected when it connects, as after a real restart.
        const crowd = shuffled(peers.slice(0, u));
        const d: Any = {};
        log(`  reconnect U=${u}: ws forwarder; load ${load()}`);
        d.baseline = await runCrowd(bt, crowd.map((c) => ({ name: c.name })), null, null, body, timeoutMs);
        for (const grace of [null, 0]) {
          const relay = await startRelay(db, grace === null ? [] : ['--presence-grace-ms', String(grace)]);
          try {
            // Each user writes to the next AUDIENCE (at the relay's default send limits): they
            // may see it, and it has a few messages queued when it connects.
            await pool(peers.slice(0, u), 16, async (c, i) => {
              const to = Array.from({ length: AUDIENCE }, (_, k) => ({ user: name((i + 1 + k) % u), device: 1 }));
              const res = await fetch(`${relay.url}/v1/messages`, {
                method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` },
                body: JSON.stringify({ id: `aud${Date.now().toString(36)}_${i}`, to, body }), signal: AbortSignal.timeout(60_000),
              });
              await res.arrayBuffer();
              if (res.status !== 200) throw new Error(`audience message of ${c.name}: ${res.status}`);
            });
            const key = grace === null ? 'relay' : 'relayGrace0';
            log(`  reconnect U=${u}: relay${grace === null ? '' : ` --presence-grace-ms ${grace}`}; load ${load()}`);
            d[key] = await runCrowd({ kind: 'relay', wsUrl: relay.wsUrl }, crowd, relay, probePairs, body, timeoutMs);
            const r = d[key];
            log(
              `    cold ${r.cold.seconds.toFixed(1)} s (${r.cold.presenceFrames} presence frames, lag max ${r.cold.lag.maxMs.toFixed(0)} ms, relay CPU ${r.cold.relayCpuSeconds.toFixed(2)} s, ` +
                `${r.cold.commits} commits taking ${r.cold.commitMs.toFixed(0)} ms, RSS ${r.cold.relayRssMiB.toFixed(0)} MiB, p99 ${r.probe.cold.p99.toFixed(1)} ms, load ${r.cold.loadavg[0].toFixed(2)}); ` +
                `warm ${r.warm.seconds.toFixed(1)} s (${r.warm.presenceFrames} presence frames, p99 ${r.probe.warm.p99.toFixed(1)} ms); quiet p99 ${r.probe.quiet.p99.toFixed(1)} ms`,
            );
          } finally {
            await relay.stop();
          }
        }
        details.steps[u] = d;
        const r = d.relay;
        const n = u.toLocaleString('en-US');
        const target10k = u >= 10_000 ? { target: '≤ 30 s', met: r.cold.seconds <= 30 && r.cold.failed === 0 } : {};
        rows.push(
          {
            id: `crowd_cold_${u}`, figure: `${n} users with audiences connect at once (fresh relay)`, unit: 's', fastchat: r.cold.seconds,
            baseline: d.baseline.cold.seconds, baselineName: 'ws forwarder', better: 'lower', ...target10k, note: `${r.cold.failed} failed, load ${r.cold.loadavg[0].toFixed(1)}`,
          },
          {
            id: `crowd_warm_${u}`, figure: `${n} users drop and reconnect at once`, unit: 's', fastchat: r.warm.seconds,
            baseline: d.baseline.warm.seconds, baselineName: 'ws forwarder', better: 'lower', ...target10k, note: `${r.warm.failed} failed, load ${r.warm.loadavg[0].toFixed(1)}`,
          },
          {
            id: `crowd_p99_${u}`, figure: `p99 send→delivery of others while ${n} connect`, unit: 'ms', fastchat: r.probe.cold.p99,
            baseline: r.probe.quiet.p99, baselineName: 'same relay, quiet', better: 'lower', target: '< 100 ms', met: r.probe.cold.p99 < 100,
          },
          {
            id: `crowd_presence_${u}`, figure: `presence frames in the reconnect of ${n}`, unit: 'frames', fastchat: r.warm.presenceFrames,
            baseline: d.relayGrace0.warm.presenceFrames, baselineName: 'grace 0 (old rule)', better: 'lower',
          },
        );
      }
    } finally {
      await baseline.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  details.loadavgAtEnd = loadavg();
  return { rows, details };
}
