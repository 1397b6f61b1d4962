// The PostgreSQL store against SQLite, in one run: the same load generator, frames and 1 KiB
// payloads against (a) one relay on SQLite (synchronous=full), (b) one relay node on PostgreSQL
// (fsync and synchronous_commit on, its defaults) with a NATS bus, (c) two and (d) three such
// nodes, where every sender is connected to another node than its receiver, so every live push
// crosses NATS. Each figure's baseline is the SQLite relay of the same run.
//
// All of it shares this machine's two cores with PostgreSQL, nats-server and the load generator:
// more nodes cannot add capacity here, they add hops. These figures price the hops and the
// database round trips; docs/SCALING.md turns them into per-node and per-database capacity.
import { randomBytes } from 'node:crypto';
import type { LoadJob, Peer, Target } from '../loadgen.js';
import type { Params } from '../lib/params.js';
import { track } from '../lib/procs.js';
import { BENCH_RELAY_ARGS, signupAll, startBenchRelay } from '../lib/setup.js';
import { summarize, type Row } from '../lib/stats.js';
import { runLoad } from './relay.js';
import pg from 'pg';
import { startCluster, type Cluster } from '../../test/util/cluster.js';
import { childrenOf } from '../../test/util/postgres.js';
import { cpuSeconds } from '../lib/cpu.js';

type Any = Record<string, any>;

interface Setup {
  label: string;
  /** ws URL of each node (one for SQLite and for a single PostgreSQL node). */
  nodes: string[];
  url: string;
  /** Processes whose CPU is counted per component: relay nodes, the database, the bus. */
  cpu: { relay: () => number[]; db: () => number[]; bus: () => number[] };
  /** PostgreSQL: its WAL position and the relay tables' size (write amplification, bytes per queued message). */
  pg?: pg.Client;
}

/** CPU seconds per component while `fn` runs, and what it returned. */
async function withCpu<T>(s: Setup, fn: () => Promise<T>): Promise<{ r: T; cpu: { relay: number; db: number; bus: number } }> {
  const before = { relay: cpuSeconds(s.cpu.relay()), db: cpuSeconds(s.cpu.db()), bus: cpuSeconds(s.cpu.bus()) };
  const r = await fn();
  return { r, cpu: { relay: cpuSeconds(s.cpu.relay()) - before.relay, db: cpuSeconds(s.cpu.db()) - before.db, bus: cpuSeconds(s.cpu.bus()) - before.bus } };
}

async function walBytes(c: pg.Client): Promise<number> {
  return Number((await c.query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS b")).rows[0].b);
}

/** The figures measured on every setup. */
async function measure(s: Setup, p: Params, body: string, log: (m: string) => void): Promise<Any> {
  const pairsN = 20;
  const names = [...Array.from({ length: pairsN }, (_, i) => [`csnd_${i}`, `crcv_${i}`]).flat(), ...Array.from({ length: p.fanoutRecipients }, (_, i) => `cgrp_${i}`), 'cfan', 'cstore_s', 'cstore_r'];
  const tokens = await signupAll(s.url, names);
  const n = s.nodes.length;
  const t: Target = { kind: 'relay', wsUrl: s.nodes[0]! };
  // Sender i on node i mod n, its receiver on the next node: with several nodes, every push crosses the bus.
  const at = (name: string, node: number): Peer => ({ name, token: tokens.get(name)!, wsUrl: s.nodes[node % n]! });
  const pairs = (k: number) => Array.from({ length: k }, (_, i) => ({ from: at(`csnd_${i}`, i), to: at(`crcv_${i}`, i + 1) }));
  const out: Any = {};
  log(`  ${s.label}: durable store, receiver offline`);
  const storeWal0 = s.pg ? await walBytes(s.pg) : 0;
  const st = await withCpu(s, () => runLoad<Any>({ mode: 'store', target: t, from: at('cstore_s', 0), to: at('cstore_r', 1), count: p.drainCount, window: 256, body, timeoutMs: 120_000 }));
  out.store = { ...st.r, cpuMicrosPerMessage: { relay: (st.cpu.relay * 1e6) / p.drainCount, db: (st.cpu.db * 1e6) / p.drainCount, bus: (st.cpu.bus * 1e6) / p.drainCount } };
  if (s.pg) {
    out.store.walBytesPerMessage = ((await walBytes(s.pg)) - storeWal0) / p.drainCount;
    // What a queued message takes in the database: this runs first, on a fresh database, so the
    // tables hold the 10,000 just stored and little else (a few dozen accounts).
    const size = await s.pg.query("SELECT sum(pg_total_relation_size(c)) AS b FROM unnest(ARRAY['messages', 'deliveries', 'sent_ids', 'queue_heads']::regclass[]) AS c");
    out.store.tableBytesPerQueuedMessage = Number(size.rows[0].b) / p.drainCount;
  }
  log(`  ${s.label}: throughput, ${pairsN} pairs`);
  const wal0 = s.pg ? await walBytes(s.pg) : 0;
  const tp = await withCpu(s, () => runLoad<Any>({ mode: 'throughput', target: t, pairs: pairs(pairsN), window: 32, body, warmupMs: p.warmupMs, measureMs: p.measureMs, maxMessages: p.maxMessages } satisfies LoadJob));
  const delivered = tp.r.received as number;
  out.throughput = {
    ...tp.r,
    // Per message sent, pushed and acked, over the whole run (warm-up included).
    cpuMicrosPerMessage: { relay: (tp.cpu.relay * 1e6) / delivered, db: (tp.cpu.db * 1e6) / delivered, bus: (tp.cpu.bus * 1e6) / delivered },
    ...(s.pg ? { walBytesPerMessage: ((await walBytes(s.pg)) - wal0) / delivered } : {}),
  };
  log(`  ${s.label}: latency at ${p.latencyRate} msg/s`);
  const lat = await runLoad<{ latenciesMs: number[]; lost: number; errors: number }>({ mode: 'latency', target: t, pairs: pairs(p.latencyPairs), rate: p.latencyRate, body, warmupMs: p.warmupMs, measureMs: p.latencyMeasureMs });
  out.latency = { ...summarize(lat.latenciesMs), lost: lat.lost, errors: lat.errors };
  log(`  ${s.label}: fan-out 1→${p.fanoutRecipients}`);
  out.fanout = await runLoad({
    mode: 'fanout', target: t, from: at('cfan', 0), to: Array.from({ length: p.fanoutRecipients }, (_, i) => at(`cgrp_${i}`, i + 1)),
    window: 8, body, warmupMs: p.warmupMs, measureMs: p.measureMs, maxMessages: Math.floor(p.maxMessages / 10),
  });
  return out;
}

export async function clusterSuite(p: Params, log: (s: string) => void): Promise<{ rows: Row[]; details: Any }> {
  const body = randomBytes(p.bodyBytes).toString('base64url');
  const details: Any = {};
  const sqlite = await startBenchRelay();
  try {
    // SQLite is inside the relay process: its CPU is the relay's.
    details.sqlite = await measure({ label: 'sqlite', nodes: [sqlite.wsUrl], url: sqlite.url, cpu: { relay: () => [sqlite.proc.pid!], db: () => [], bus: () => [] } }, p, body, log);
  } finally {
    await sqlite.stop();
  }
  let peek: pg.Client | null = null;
  for (const n of [1, 2, 3]) {
    let c: Cluster | null = null;
    try {
      log(`  postgres: starting PostgreSQL, NATS and ${n} node(s)`);
      c = await startCluster(n, { args: [...BENCH_RELAY_ARGS, '--postgres-pool', '10'], env: { FASTCHAT_RELAY_LOG_LEVEL: 'warn' } });
      for (const node of c.nodes) track(node.proc);
      for (const ch of [c.pg.child(), c.nats.child()]) if (ch) track(ch);
      const cl = c;
      const postmaster = cl.pg.child()!.pid!;
      peek = new pg.Client({ connectionString: cl.store });
      await peek.connect();
      details[`postgres_${n}`] = await measure(
        {
          label: `postgres ${n} node(s)`,
          nodes: cl.nodes.map((r) => r.wsUrl),
          url: cl.nodes[0]!.url,
          cpu: { relay: () => cl.nodes.map((r) => r.proc.pid!), db: () => [postmaster, ...childrenOf(postmaster)], bus: () => [cl.nats.child()!.pid!] },
          pg: peek,
        },
        p,
        body,
        log,
      );
    } finally {
      await peek?.end();
      peek = null;
      await c?.stop();
    }
  }
  const rows: Row[] = [];
  const base = details.sqlite;
  for (const n of [1, 2, 3]) {
    const d = details[`postgres_${n}`];
    const who = `PostgreSQL, ${n} node${n > 1 ? 's' : ''}`;
    const vs = 'SQLite relay, same run';
    rows.push({ id: `pg${n}_1to1`, figure: `${who}: 1:1 delivered, 20 pairs`, unit: 'msg/s', fastchat: d.throughput.perSecond, baseline: base.throughput.perSecond, baselineName: vs, better: 'higher' });
    rows.push({ id: `pg${n}_p99`, figure: `${who}: latency p99 at ${p.latencyRate} msg/s`, unit: 'ms', fastchat: d.latency.p99, baseline: base.latency.p99, baselineName: vs, better: 'lower', ...(d.latency.lost ? { note: `${d.latency.lost} lost` } : {}) });
    rows.push({ id: `pg${n}_fanout`, figure: `${who}: group fan-out 1→${p.fanoutRecipients}`, unit: 'deliv/s', fastchat: d.fanout.perSecond, baseline: base.fanout.perSecond, baselineName: vs, better: 'higher' });
    rows.push({ id: `pg${n}_store`, figure: `${who}: durable store, receiver offline`, unit: 'msg/s', fastchat: d.store.perSecond, baseline: base.store.perSecond, baselineName: vs, better: 'higher', ...(d.store.errors ? { note: `${d.store.errors} refused` } : {}) });
    // CPU per message delivered (sent, pushed, acked) in the throughput run: the capacity model's inputs.
    const sq = base.throughput.cpuMicrosPerMessage.relay as number;
    rows.push({ id: `pg${n}_relay_cpu`, figure: `${who}: relay CPU per message (all nodes)`, unit: 'µs', fastchat: d.throughput.cpuMicrosPerMessage.relay, baseline: sq, baselineName: 'SQLite relay, database included', better: 'lower' });
    rows.push({ id: `pg${n}_db_cpu`, figure: `${who}: PostgreSQL CPU per message`, unit: 'µs', fastchat: d.throughput.cpuMicrosPerMessage.db, baseline: sq, baselineName: 'SQLite relay, database included', better: 'lower', note: `WAL ${Math.round(d.throughput.walBytesPerMessage)} B/msg; NATS ${d.throughput.cpuMicrosPerMessage.bus.toFixed(1)} µs/msg` });
  }
  return { rows, details };
}
