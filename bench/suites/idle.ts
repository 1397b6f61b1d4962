// Item 5: memory per idle authenticated WebSocket. RSS of the server process (from /proc) before
// and after N connections are open and settled; the same count against the baseline forwarder.
// Connections are devices of one account, so the figure is the connection's own cost (N distinct
// users with audiences connecting at once: the reconnect suite).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Peer, Target } from '../loadgen.js';
import type { Params } from '../lib/params.js';
import { openFileLimit, rssBytes, sleep, startWorker, type Worker } from '../lib/procs.js';
import { login, pool, registerUser, startBenchRelay } from '../lib/setup.js';
import type { Row } from '../lib/stats.js';

const SETTLE_MS = 2000;
/** Connections per load-generator process (each holds one fd per connection). */
const PER_WORKER = 5000;

async function measure(target: Target, pid: number, peers: Peer[], counts: number[], log: (s: string) => void): Promise<{ count: number; perConnection: number; rss: number }[]> {
  const held: Worker<unknown>[] = [];
  const out: { count: number; perConnection: number; rss: number }[] = [];
  try {
    await sleep(SETTLE_MS);
    const before = rssBytes(pid);
    let open = 0;
    for (const count of counts) {
      while (open < count) {
        const chunk = peers.slice(open, Math.min(count, open + PER_WORKER));
        const w = startWorker<unknown>('loadgen', { mode: 'idle', target, peers: chunk, concurrency: 64, timeoutMs: 300_000 }, 600_000);
        held.push(w);
        const ready = await w.waitFor('ready', 300_000);
        if (ready.failed > 0) throw new Error(`${ready.failed} of ${chunk.length} idle connections to the ${target.kind} failed`);
        open += chunk.length;
      }
      await sleep(SETTLE_MS);
      const rss = rssBytes(pid);
      log(`  idle ${target.kind}: ${count} connections, RSS +${((rss - before) / 1048576).toFixed(1)} MiB`);
      out.push({ count, rss, perConnection: (rss - before) / count });
    }
  } finally {
    for (const w of held) w.send({ type: 'close' });
    await Promise.all(held.map((w) => w.result.catch(() => undefined)));
  }
  return out;
}

export async function idleSuite(p: Params, log: (s: string) => void): Promise<{ rows: Row[]; details: unknown }> {
  // Each connection costs the relay one fd, and a load generator one per connection it holds.
  const room = openFileLimit() - 512;
  const counts = p.idleCounts.filter((n) => n <= room);
  const skipped = p.idleCounts.filter((n) => n > room);
  if (counts.length === 0) throw new Error(`open file limit ${openFileLimit()} is too low for ${p.idleCounts[0]} connections (raise it with ulimit -n)`);
  const max = counts[counts.length - 1]!;
  const rows: Row[] = [];
  const details: Record<string, unknown> = { skipped, openFileLimit: openFileLimit() };

  const baseline = startWorker<never>('baseline-server', {}, 3_600_000);
  let base;
  try {
    const { port } = await baseline.waitFor('listening', 10_000);
    base = await measure({ kind: 'baseline', wsUrl: `ws://127.0.0.1:${port}/` }, baseline.proc.pid!, Array.from({ length: max }, (_, i) => ({ name: `idle_${i}` })), counts, log);
  } finally {
    await baseline.stop();
  }

  // Logins happen on one relay process; a fresh one on the same database file is measured, so
  // the heap left over from thousands of logins does not blur the per-connection figure.
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-bench-idle-'));
  let ours;
  try {
    const db = join(dir, 'relay.db');
    const setup = await startBenchRelay([], {}, db);
    let tokens: string[];
    try {
      await registerUser(setup.url, 'idle_user');
      log(`  idle relay: ${max} device logins`);
      tokens = await pool(Array.from({ length: max }, (_, i) => i + 1), 8, (device) => login(setup.url, 'idle_user', device));
    } finally {
      await setup.stop();
    }
    const relay = await startBenchRelay([], {}, db);
    try {
      ours = await measure({ kind: 'relay', wsUrl: relay.wsUrl }, relay.proc.pid!, tokens.map((token) => ({ name: 'idle_user', token })), counts, log);
    } finally {
      await relay.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  counts.forEach((count, i) => {
    const r = ours[i]!.perConnection / 1024;
    rows.push({
      id: `idle_rss_${count}`, figure: `RSS per idle authed WebSocket, ${count.toLocaleString('en-US')} open`, unit: 'KiB', fastchat: r,
      baseline: base[i]!.perConnection / 1024, baselineName: 'ws forwarder', better: 'lower', target: '≤ 30 KiB', met: r <= 30,
    });
  });
  details.relay = ours;
  details.baseline = base;
  return { rows, details };
}
