// Item 9: CLI cold start, `fastchat --version` and `fastchat whoami` against `node -e ''`, runs
// interleaved so a noisy neighbour hits all three alike; medians.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FASTCHAT_BIN } from '../../test/util/paths.js';
import type { Params } from '../lib/params.js';
import { median, type Row } from '../lib/stats.js';

function timeRun(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString().slice(0, 300)}`);
  return ms;
}

export async function cliSuite(p: Params): Promise<{ rows: Row[]; details: unknown }> {
  const home = mkdtempSync(join(tmpdir(), 'fastchat-bench-cli-'));
  try {
    const env = { ...process.env, FASTCHAT_HOME: join(home, 'h'), FASTCHAT_PASSPHRASE: 'bench passphrase', FASTCHAT_KDF_MEMORY_KIB: '1024', FASTCHAT_KDF_ITERATIONS: '1' };
    timeRun([FASTCHAT_BIN, 'keygen'], env);
    const runs = { node: [] as number[], version: [] as number[], whoami: [] as number[] };
    timeRun(['-e', ''], env); // warm the page cache for the node binary
    timeRun([FASTCHAT_BIN, 'whoami'], env);
    for (let i = 0; i < p.cliRuns; i++) {
      runs.node.push(timeRun(['-e', ''], env));
      runs.version.push(timeRun([FASTCHAT_BIN, '--version'], env));
      runs.whoami.push(timeRun([FASTCHAT_BIN, 'whoami'], env));
    }
    const node = median(runs.node);
    const rows: Row[] = [
      { id: 'cli_version', figure: '`fastchat --version` cold start (median)', unit: 'ms', fastchat: median(runs.version), baseline: node, baselineName: "node -e ''", better: 'lower', target: '≤ 2.5×', met: median(runs.version) / node <= 2.5 },
      { id: 'cli_whoami', figure: '`fastchat whoami` cold start (median)', unit: 'ms', fastchat: median(runs.whoami), baseline: node, baselineName: "node -e ''", better: 'lower', target: '≤ 2.5×', met: median(runs.whoami) / node <= 2.5 },
    ];
    return { rows, details: runs };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
