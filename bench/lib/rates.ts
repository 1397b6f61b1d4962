// Timing of in-process functions for the crypto figures: each function runs in alternating 10 ms
// slices, so a noisy neighbour (this machine is shared) slows a figure and its baseline alike.
import { performance } from 'node:perf_hooks';

export type Rate = { perSecond: number; usPerOp: number; ops: number };

/**
 * Runs every function for about `ms` in all (after a 50 ms warm-up each), stopping early once any
 * of them reached `maxOps` operations. Bounded by time and count.
 */
export function rates(ms: number, fns: Record<string, () => void>, maxOps = Number.POSITIVE_INFINITY): Record<string, Rate> {
  const names = Object.keys(fns);
  const ops = new Map(names.map((n) => [n, 0]));
  const spent = new Map(names.map((n) => [n, 0]));
  for (const n of names) {
    const warm = performance.now() + 50;
    while (performance.now() < warm) fns[n]!();
  }
  const end = performance.now() + ms * names.length;
  while (performance.now() < end && Math.max(...ops.values()) < maxOps) {
    for (const n of names) {
      const fn = fns[n]!;
      const t0 = performance.now();
      let k = 0;
      let now = t0;
      while (now - t0 < 10) {
        fn();
        fn();
        k += 2;
        now = performance.now();
      }
      ops.set(n, ops.get(n)! + k);
      spent.set(n, spent.get(n)! + (now - t0));
    }
  }
  return Object.fromEntries(
    names.map((n) => {
      const s = spent.get(n)! / 1000;
      const k = ops.get(n)!;
      return [n, { perSecond: k / s, usPerOp: (s * 1e6) / k, ops: k }];
    }),
  );
}
