// Self and inclusive time per function of a V8 .cpuprofile (BENCH_CPU_PROF, BENCH_RELAY_CPU_PROF,
// node --cpu-prof), optionally over a window and per message:
//   node scripts/cpuprofile-summary.mjs FILE [messages=1] [fromMs toMs] [top=40]
//   HIST=1 ...   first prints the busy share of every half second, to find the timed windows.
// The profiler samples wall time: a synchronous fsync counts as busy (in its caller), and so does
// time the process was waiting for a core, so read the shares, and scale them by CPU time measured
// apart (/proc, or `perf record -e cpu-clock`) when the machine is loaded (docs/PERFORMANCE.md, round ten).
import { readFileSync } from 'node:fs';

const [file, nArg, fromArg, toArg, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: cpuprofile-summary.mjs FILE [messages] [fromMs toMs] [top]');
const p = JSON.parse(readFileSync(file, 'utf8'));
const n = Number(nArg ?? 1) || 1;
const nodes = new Map(p.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
const name = (x) => {
  const f = x.callFrame;
  return `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
};
const from = fromArg ? p.startTime + Number(fromArg) * 1000 : -Infinity;
const to = toArg ? p.startTime + Number(toArg) * 1000 : Infinity;
const self = new Map();
const incl = new Map();
const halves = new Map();
let busy = 0;
let idle = 0;
let t = p.startTime;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i] ?? 0;
  const x = nodes.get(p.samples[i]);
  const d = p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0; // the time until the next sample
  const isIdle = x.callFrame.functionName === '(idle)';
  if (!isIdle) halves.set(Math.floor((t - p.startTime) / 500_000), (halves.get(Math.floor((t - p.startTime) / 500_000)) ?? 0) + d);
  if (t < from || t > to) continue;
  if (isIdle) {
    idle += d;
    continue;
  }
  busy += d;
  self.set(name(x), (self.get(name(x)) ?? 0) + d);
  const seen = new Set();
  for (let id = x.id; id !== undefined; id = parent.get(id)) {
    const k = name(nodes.get(id));
    if (seen.has(k)) continue; // recursion counts once
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + d);
  }
}
if (process.env.HIST) for (const [h, v] of [...halves].sort((a, b) => a[0] - b[0])) console.log(`${(h / 2).toFixed(1)} s  busy ${(v / 5000).toFixed(0)} %`);
const top = Number(topArg ?? 40);
console.log(`busy ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms, ${(busy / n).toFixed(1)} µs busy per message (${n} messages)`);
for (const [title, m] of [['self', self], ['inclusive', incl]]) {
  console.log(`--- ${title}: µs per message, share of busy`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(v / n).toFixed(2).padStart(9)} ${((100 * v) / busy).toFixed(1).padStart(5)} %  ${k}`);
}
