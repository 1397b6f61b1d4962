// The pure arithmetic of the benchmark: percentiles, medians, ratios and the result table. Kept
// apart from anything that opens a socket or a process so `npm test` can check it.

/** Nearest-rank percentile (p in 0..100) of an unsorted sample; NaN for an empty one. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return percentileSorted(sorted, p);
}

/** Nearest rank: the smallest value with at least p % of the sample at or below it. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  // The epsilon keeps float error from bumping an exact rank: 99.9 / 100 * 1000 is 999.0000000000001.
  const rank = Math.max(1, Math.ceil((p * sorted.length) / 100 - 1e-9));
  return sorted[rank - 1]!;
}

export function median(values: ArrayLike<number>): number {
  if (values.length === 0) return Number.NaN;
  const s = Float64Array.from(values).sort();
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarize(latenciesMs: ArrayLike<number>): LatencySummary {
  const s = Float64Array.from(latenciesMs).sort();
  return { count: s.length, p50: percentileSorted(s, 50), p99: percentileSorted(s, 99), p999: percentileSorted(s, 99.9), max: s.length ? s[s.length - 1]! : Number.NaN };
}

/** fastchat / baseline; NaN when either side is missing or the baseline is zero. */
export function ratio(ours: number, baseline: number): number {
  if (!Number.isFinite(ours) || !Number.isFinite(baseline) || baseline === 0) return Number.NaN;
  return ours / baseline;
}

/** One row of the result table. `better` says which way is good, so a target can be judged. */
export interface Row {
  id: string;
  figure: string;
  unit: string;
  fastchat: number;
  baseline: number;
  baselineName: string;
  better: 'higher' | 'lower';
  target?: string;
  /** true/false when a target exists and was judged; undefined otherwise. */
  met?: boolean;
  note?: string;
}

export function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : '—';
}

/** A fixed-width text table: figure | fastchat | baseline | ratio | target. */
export function formatTable(rows: Row[]): string {
  const head = ['figure', 'fastchat', 'baseline', 'ratio', 'target'];
  const body = rows.map((r) => [
    r.figure,
    `${fmtNumber(r.fastchat)} ${r.unit}`,
    `${fmtNumber(r.baseline)} ${r.unit} (${r.baselineName})`,
    fmtRatio(ratio(r.fastchat, r.baseline)),
    r.target ? `${r.target} ${r.met === undefined ? '' : r.met ? 'met' : 'MISSED'}`.trim() : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** The same table as Markdown, for docs/PERFORMANCE.md. */
export function formatMarkdown(rows: Row[]): string {
  const out = ['| figure | fastchat | baseline | ratio | target |', '|---|---:|---:|---:|---|'];
  for (const r of rows) {
    const target = r.target ? `${r.target} ${r.met === undefined ? '' : r.met ? '— met' : '— **missed**'}`.trim() : '';
    out.push(`| ${r.figure} | ${fmtNumber(r.fastchat)} ${r.unit} | ${fmtNumber(r.baseline)} ${r.unit} (${r.baselineName}) | ${fmtRatio(ratio(r.fastchat, r.baseline))} | ${target} |`);
  }
  return out.join('\n');
}
