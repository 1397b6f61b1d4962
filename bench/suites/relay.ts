// Items 1–4: the relay against the baseline forwarder, each with the same load generator, the
// same frames and the same 1 KiB pre-encrypted payload (random bytes standing in for ciphertext).
import { randomBytes } from 'node:crypto';
import type { LoadJob, Peer, Target } from '../loadgen.js';
import type { Params } from '../lib/params.js';
import { cpuSeconds } from '../lib/cpu.js';
import { commitsBetween, relayCommits } from '../lib/relay-commits.js';
import { startWorker, type Worker } from '../lib/procs.js';
import { signupAll, startBenchRelay } from '../lib/setup.js';
import { summarize, type Row } from '../lib/stats.js';

type Any = Record<string, any>;

export function runLoad<R = Any>(job: LoadJob, timeoutMs = 120_000): Promise<R> {
  return startWorker<R>('loadgen', job, timeoutMs).result;
}

export interface RelaySuiteOut {
  rows: Row[];
  details: Any;
  /** Baseline and relay 1:1 (1 pair) rates, reused by the end-to-end client figure. */
  relayOnePair: number;
}

export async function relaySuite(p: Params, log: (s: string) => void): Promise<RelaySuiteOut> {
  const body = randomBytes(p.bodyBytes).toString('base64url');
  const relay = await startBenchRelay();
  let baseline: Worker<never> | null = null;
  try {
    baseline = startWorker<never>('baseline-server', {}, 3_600_000);
    const { port } = await baseline.waitFor('listening', 10_000);
    const bt: Target = { kind: 'baseline', wsUrl: `ws://127.0.0.1:${port}/` };
    const rt: Target = { kind: 'relay', wsUrl: relay.wsUrl };

    const pairsN = 50;
    const names = [
      ...Array.from({ length: pairsN }, (_, i) => [`snd_${i}`, `rcv_${i}`]).flat(),
      ...Array.from({ length: p.fanoutRecipients }, (_, i) => `grp_${i}`),
      'fan_sender', 'store_sender', 'store_receiver',
    ];
    log(`  relay: creating ${names.length} accounts`);
    const tokens = await signupAll(relay.url, names);
    const peer = (t: Target, name: string): Peer => (t.kind === 'relay' ? { name, token: tokens.get(name)! } : { name });
    const pairs = (t: Target, n: number) => Array.from({ length: n }, (_, i) => ({ from: peer(t, `snd_${i}`), to: peer(t, `rcv_${i}`) }));
    const details: Any = {};
    const rows: Row[] = [];
    // The relay's CPU per message of each relay run (in details and the log): unlike the rates, it
    // barely moves with the machine's load, so it is what an A/B of relay code compares on a busy
    // machine (docs/PERFORMANCE.md).
    // With it, the relay's commits (transactions, each with its fsync) per 100 of the same unit:
    // how well acks and sends share commits, which no load on the machine changes much.
    const relayCpu = async (label: string, run: () => Promise<Any>, count: (r: Any) => number): Promise<Any> => {
      const k0 = await relayCommits(relay.url);
      const c0 = cpuSeconds([relay.proc.pid!]);
      const r = await run();
      const n = Math.max(1, count(r));
      const us = ((cpuSeconds([relay.proc.pid!]) - c0) * 1e6) / n;
      const { per100 } = commitsBetween(k0, await relayCommits(relay.url), n);
      log(`    relay CPU ${us.toFixed(1)} µs per ${label}, ${per100.toFixed(2)} commits per 100`);
      return { ...r, relayCpuUs: +us.toFixed(2), relayCommitsPer100: +per100.toFixed(3) };
    };

    // 1. Throughput, closed loop, 1 and 50 pairs.
    const tput: Any = {};
    for (const n of [1, 50]) {
      for (const t of [bt, rt]) {
        log(`  throughput ${t.kind} ${n} pair(s)`);
        const run = () => runLoad({
          mode: 'throughput', target: t, pairs: pairs(t, n), window: n === 1 ? 256 : 32, body,
          warmupMs: p.warmupMs, measureMs: p.measureMs, maxMessages: p.maxMessages,
        });
        tput[`${t.kind}_${n}`] = t.kind === 'relay' ? await relayCpu('message delivered', run, (r) => r.received) : await run();
      }
      const r = tput[`relay_${n}`].perSecond as number;
      const b = tput[`baseline_${n}`].perSecond as number;
      rows.push({
        id: `relay_1to1_${n}`, figure: `1:1 delivered, ${n} pair${n > 1 ? 's' : ''}`, unit: 'msg/s', fastchat: r, baseline: b,
        baselineName: 'ws forwarder', better: 'higher', target: '≥ 0.50×', met: r / b >= 0.5,
      });
    }
    details.throughput = tput;

    // 2. Latency at a fixed offered load.
    const lat: Any = {};
    for (const t of [bt, rt]) {
      log(`  latency ${t.kind} at ${p.latencyRate} msg/s`);
      const r = await runLoad<{ latenciesMs: number[]; lost: number; offeredPerSecond: number; errors: number }>({
        mode: 'latency', target: t, pairs: pairs(t, p.latencyPairs), rate: p.latencyRate, body, warmupMs: p.warmupMs, measureMs: p.latencyMeasureMs,
      });
      lat[t.kind] = { ...summarize(r.latenciesMs), lost: r.lost, offeredPerSecond: r.offeredPerSecond, errors: r.errors };
    }
    details.latency = lat;
    for (const [q, label] of [['p50', 'p50'], ['p99', 'p99'], ['p999', 'p99.9']] as const) {
      rows.push({
        id: `latency_${q}`, figure: `latency ${label} at ${p.latencyRate} msg/s`, unit: 'ms', fastchat: lat.relay[q], baseline: lat.baseline[q],
        baselineName: 'ws forwarder', better: 'lower',
        ...(q === 'p99' ? { target: '< 20 ms', met: lat.relay.p99 < 20 && lat.relay.lost === 0 } : {}),
      });
    }

    // 4. Group fan-out, one sender to 100 recipients per frame.
    const fan: Any = {};
    for (const t of [bt, rt]) {
      log(`  fan-out ${t.kind} 1→${p.fanoutRecipients}`);
      const run = () => runLoad({
        mode: 'fanout', target: t, from: peer(t, 'fan_sender'), to: Array.from({ length: p.fanoutRecipients }, (_, i) => peer(t, `grp_${i}`)),
        window: 8, body, warmupMs: p.warmupMs, measureMs: p.measureMs, maxMessages: Math.floor(p.maxMessages / 10),
      });
      fan[t.kind] = t.kind === 'relay' ? await relayCpu('delivery', run, (r) => r.deliveries) : await run();
    }
    details.fanout = fan;
    rows.push({
      id: 'fanout', figure: `group fan-out 1→${p.fanoutRecipients}`, unit: 'deliv/s', fastchat: fan.relay.perSecond, baseline: fan.baseline.perSecond,
      baselineName: 'ws forwarder', better: 'higher',
    });

    // 3. Durable store with the receiver offline, then the drain of that backlog on connect.
    log(`  store ${p.drainCount} for an offline receiver, then drain`);
    const stored = await relayCpu('message stored', () => runLoad<Any>({
      mode: 'store', target: rt, from: peer(rt, 'store_sender'), to: peer(rt, 'store_receiver'), count: p.drainCount, window: 256, body, timeoutMs: 60_000,
    }), (r) => r.acked);
    const drained = await runLoad<Any>({ mode: 'drain', target: rt, peer: peer(rt, 'store_receiver'), count: p.drainCount, timeoutMs: 60_000 });
    details.store = stored;
    details.drain = drained;
    const base1 = tput.baseline_1.perSecond as number;
    rows.push({
      id: 'store_offline', figure: 'durable store, receiver offline', unit: 'msg/s', fastchat: stored.perSecond, baseline: base1,
      baselineName: 'ws forwarder 1:1, no storage', better: 'higher', ...(stored.errors ? { note: `${stored.errors} refused` } : {}),
    });
    rows.push({
      id: 'drain_rate', figure: `drain of ${p.drainCount.toLocaleString('en-US')} queued on connect`, unit: 'msg/s', fastchat: drained.received === p.drainCount ? drained.perSecond : Number.NaN,
      baseline: base1, baselineName: 'ws forwarder 1:1, no storage', better: 'higher', target: '≥ 20,000 msg/s', met: drained.received === p.drainCount && drained.perSecond >= 20_000,
    });
    rows.push({
      id: 'drain_time', figure: `time to drain ${p.drainCount.toLocaleString('en-US')}`, unit: 'ms', fastchat: drained.ms, baseline: (p.drainCount * 1000) / base1,
      baselineName: 'same count at forwarder rate', better: 'lower',
    });
    return { rows, details, relayOnePair: tput.relay_1.perSecond as number };
  } finally {
    await baseline?.stop();
    await relay.stop();
  }
}
