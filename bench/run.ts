// `npm run bench [-- --quick] [-- --only relay,cluster,idle,reconnect,crypto,client,backlog,login,cli,groups,population]`
// Runs every figure next to its baseline in this one run, prints the table and writes
// bench/results.json with machine information (an `--only` run replaces only its suites' entries
// there: bench/lib/results.ts). Every child process is stopped on the way out, including on an
// error or Ctrl-C.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { params } from './lib/params.js';
import { BENCH_DIR, killAllNow, stopAll } from './lib/procs.js';
import { mergeResults, readResults, type Results, type SuiteRun } from './lib/results.js';
import { formatMarkdown, formatTable, ratio, type Row } from './lib/stats.js';
import { cliSuite } from './suites/cli.js';
import { clusterSuite } from './suites/cluster.js';
import { backlogSuite } from './suites/backlog.js';
import { clientSuite } from './suites/client.js';
import { cryptoSuite } from './suites/crypto.js';
import { groupsSuite } from './suites/groups.js';
import { idleSuite } from './suites/idle.js';
import { loginSuite } from './suites/login.js';
import { populationSuite } from './suites/population.js';
import { reconnectSuite } from './suites/reconnect.js';
import { relaySuite } from './suites/relay.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const onlyArg = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? (argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined);
const only = onlyArg ? new Set(onlyArg.split(',')) : null;
const wanted = (name: string): boolean => only === null || only.has(name);
const p = params(quick);
const log = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    log(`bench: ${sig}, stopping child processes`);
    void stopAll(2000).finally(() => process.exit(130));
  });
}
process.once('exit', killAllNow);

async function main(): Promise<void> {
  const started = performance.now();
  // The machine may be shared: only ratios against a baseline of the same run mean much, and the
  // load average says how busy it was (printed with the table).
  const loadavgAtStart = loadavg();
  const rows: (Row & { suite: string })[] = [];
  const details: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const suites: Record<string, SuiteRun> = {};
  const suite = async (name: string, fn: () => Promise<{ rows: Row[]; details: unknown }>): Promise<void> => {
    if (!wanted(name) || interrupted) return;
    const t0 = performance.now();
    const run = { date: new Date().toISOString(), mode: quick ? ('quick' as const) : ('full' as const), loadavgAtStart: loadavg() };
    log(`bench: ${name}`);
    try {
      const r = await fn();
      rows.push(...r.rows.map((row) => ({ ...row, suite: name })));
      details[name] = r.details;
    } catch (e) {
      errors[name] = e instanceof Error ? e.message : String(e);
      log(`bench: ${name} failed: ${errors[name]}`);
    } finally {
      await stopAll();
      const seconds = +((performance.now() - t0) / 1000).toFixed(1);
      suites[name] = { ...run, seconds, loadavgAtEnd: loadavg() };
      log(`bench: ${name} took ${seconds} s`);
    }
  };

  let relayOnePair = Number.NaN;
  await suite('relay', async () => {
    const r = await relaySuite(p, log);
    relayOnePair = r.relayOnePair;
    return r;
  });
  await suite('cluster', () => clusterSuite(p, log));
  await suite('client', () => clientSuite(p, relayOnePair, log));
  await suite('backlog', () => backlogSuite(p, log));
  await suite('crypto', () => cryptoSuite(p));
  await suite('idle', () => idleSuite(p, log));
  await suite('reconnect', () => reconnectSuite(p, log));
  await suite('login', () => loginSuite(p, log));
  await suite('cli', () => cliSuite(p));
  await suite('groups', () => groupsSuite(p, log));
  await suite('population', () => populationSuite(p, log));

  const cpu = cpus();
  const results: Results = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    seconds: +((performance.now() - started) / 1000).toFixed(1),
    machine: { cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: `${process.platform}-${process.arch}`, loadavgAtStart, loadavgAtEnd: loadavg() },
    only: only ? [...only] : null,
    suites,
    rows: rows.map((r) => ({ ...r, ratio: ratio(r.fastchat, r.baseline) })),
    errors,
    details,
  };
  const file = join(BENCH_DIR, '../../bench/results.json');
  // An --only run keeps the other suites' entries of the file (the last full run's, say).
  const previous = only ? readResults(file) : null;
  if (only && !previous) log('bench: no readable bench/results.json to update: writing this run alone');
  const written = previous && only ? mergeResults(previous, results, only) : results;
  writeFileSync(file, `${JSON.stringify(written, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  const la = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  process.stdout.write(`\nfastchat bench (${results.mode}) — ${results.machine.cpu}, ${results.machine.cores} cores, node ${results.machine.node}, ${results.date}\n`);
  process.stdout.write(`load average (1, 5, 15 min): ${la(loadavgAtStart)} at start, ${la(results.machine.loadavgAtEnd)} at end\n\n`);
  process.stdout.write(`${formatTable(rows)}\n`);
  if (argv.includes('--markdown')) process.stdout.write(`\n${formatMarkdown(rows)}\n`);
  for (const [name, message] of Object.entries(errors)) process.stdout.write(`\n${name}: FAILED — ${message}\n`);
  process.stdout.write(`\n${results.seconds} s; details in bench/results.json${only ? ` (entries of ${[...only].join(', ')} replaced, the other suites' kept)` : ''}\n`);
  if (Object.keys(errors).length > 0) process.exitCode = 1;
}

main().catch(async (e: unknown) => {
  log(`bench: ${e instanceof Error ? e.stack : String(e)}`);
  await stopAll();
  process.exit(1);
});
