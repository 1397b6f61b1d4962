// Item 7: two client cores (client/core, no CLI), each in its own process and home, exchanging
// messages through a relay process with real crypto and real local stores. Baseline: the same
// relay path with pre-encrypted payloads and no client store (the 1:1 figure of this run).
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Params } from '../lib/params.js';
import { cpuSeconds } from '../lib/cpu.js';
import { commitsBetween, relayCommits } from '../lib/relay-commits.js';
import { startWorker, step, type Worker } from '../lib/procs.js';
import { clientEnv, startBenchRelay } from '../lib/setup.js';
import type { Row } from '../lib/stats.js';

export async function clientSuite(p: Params, relayOnePair: number, log: (s: string) => void): Promise<{ rows: Row[]; details: unknown }> {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-bench-client-'));
  const relay = await startBenchRelay();
  const peers: Worker<unknown>[] = [];
  try {
    for (const name of ['bench_alice', 'bench_bob']) {
      peers.push(startWorker<unknown>('client-peer', { username: name, relay: relay.url }, 600_000, { env: clientEnv(dir, name) }));
    }
    await Promise.all(peers.map((w) => w.waitFor('ready', 60_000)));
    const [a, b] = peers as [Worker<unknown>, Worker<unknown>];
    // Sessions both ways first, so the timed part is steady-state messaging.
    await step(a, { step: 'send', peer: 'bench_bob', count: 1, bytes: 64 }, 30_000);
    await step(b, { step: 'receive', count: 1, timeoutMs: 30_000 }, 35_000);
    await step(b, { step: 'send', peer: 'bench_alice', count: 1, bytes: 64 }, 30_000);
    await step(a, { step: 'receive', count: 1, timeoutMs: 30_000 }, 35_000);

    const half = Math.floor(p.clientMessages / 2);
    /** Received so far by each side: the receive steps count from the start. */
    let total = 0;
    /** `count` lines each way, queued `perQueue` per transaction; resolves when both received them. */
    const exchange = async (count: number, perQueue: number) => {
      const done = await Promise.all([
        step(a, { step: 'send', peer: 'bench_bob', count, bytes: 1000, perQueue }, 300_000),
        step(b, { step: 'send', peer: 'bench_alice', count, bytes: 1000, perQueue }, 300_000),
        step(a, { step: 'receive', count: total + 1 + count, timeoutMs: 240_000 }, 300_000),
        step(b, { step: 'receive', count: total + 1 + count, timeoutMs: 240_000 }, 300_000),
      ]);
      total += count;
      return done;
    };
    // Untimed warm-up, as the relay's 1:1 figure drops its first second: the relay is a fresh
    // process and both clients start cold, and the first exchange was compiled as it ran (82
    // optimisations and 11 deopts in the relay during it, none in the one after; typed lines cost the
    // relay 120, 108, then 85 µs per message over its first exchanges: "Relay in the client exchange,
    // round ten").
    log(`  client cores: warm-up, ${Math.min(1000, half)} each way, untimed`);
    await exchange(Math.min(1000, half), 1);
    // Typed lines (one transaction each), then the same count queued as pastes of 100 lines.
    const runs = [
      { id: 'client_cores', perQueue: 1, how: 'one queue transaction per line, as typed' },
      { id: 'client_cores_paste', perQueue: 100, how: '100 lines per queue transaction, as a paste' },
    ];
    const rows: Row[] = [];
    const details: Record<string, unknown> = {};
    for (const run of runs) {
      log(`  client cores: ${half} each way, ${run.how}`);
      await Promise.all(peers.map((w) => step(w, { step: 'measureStart' }, 30_000)));
      const commits0 = await relayCommits(relay.url);
      const relayCpu0 = cpuSeconds([relay.proc.pid!]);
      const t0 = performance.now();
      const before = total;
      const [sa, sb, ra, rb] = await exchange(half, run.perQueue);
      const ms = performance.now() - t0;
      const relayUs = ((cpuSeconds([relay.proc.pid!]) - relayCpu0) * 1e6) / (2 * half);
      // The relay's commits: the clients' sends arrive a few dozen per commit here, against ~160 in
      // the relay's own 1:1 figure, and each commit has a fixed cost (round ten).
      const commits = commitsBetween(commits0, await relayCommits(relay.url), 2 * half);
      // CPU per message, both processes together: the cost a loaded machine does not hide. With the
      // relay's, it bounds the rate on this machine: every core busy, nothing else running.
      const cpu = (await Promise.all(peers.map((w) => step(w, { step: 'measureStop' }, 60_000)))) as { cpuMs: number }[];
      const cpuMs = cpu.reduce((a, x) => a + x.cpuMs, 0);
      const clientUs = (cpuMs * 1000) / (2 * half);
      const bound = (availableParallelism() * 1e6) / (clientUs + relayUs);
      log(`  client cores: ${(ms / 1000).toFixed(1)} s, ${clientUs.toFixed(0)} µs CPU per message (both clients), relay ${relayUs.toFixed(0)} µs (${commits.per100.toFixed(2)} commits per 100, ${commits.sendsPerCommit.toFixed(0)} sends each): at most ${bound.toFixed(0)} msg/s on ${availableParallelism()} cores`);
      const received = ra.texts - 1 - before + (rb.texts - 1 - before);
      const rate = received === 2 * half ? (received * 1000) / ms : Number.NaN;
      rows.push({
        id: run.id, figure: `2 client cores, ${(2 * half).toLocaleString('en-US')} msgs (both ways; ${run.how})`, unit: 'msg/s', fastchat: rate, baseline: relayOnePair,
        baselineName: 'relay 1:1, pre-encrypted', better: 'higher', ...(received !== 2 * half ? { note: `${received} of ${2 * half} received` } : {}),
      });
      details[run.id] = { ms, cpuMs, cpuUsPerMessage: clientUs, relayCpuUsPerMessage: relayUs, relayCommitsPer100: commits.per100, relaySendsPerCommit: commits.sendsPerCommit, cpuBoundMsgPerS: bound, received, send: [sa, sb], receive: [ra, rb] };
    }
    for (const w of peers) w.send({ type: 'finish' });
    await Promise.all(peers.map((w) => w.result.catch(() => undefined)));
    return { rows, details };
  } finally {
    await Promise.all(peers.map((w) => w.stop()));
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
