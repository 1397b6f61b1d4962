// Token buckets in PostgreSQL, shared by every relay node (ratelimit.ts SharedCharger): the same
// arithmetic as RateLimiter in memory — refill by elapsed time up to the burst, a cost above the
// burst charged as the whole burst, the clock never moving a bucket backwards — made atomic across
// nodes: the buckets of one charge are locked in one order, checked, and taken from together or
// not at all. A bucket row is deleted by the sweep only once it has refilled completely
// (`full_at`), so flooding the relay with other keys never hands anyone a fresh burst.
import type pg from 'pg';
import type { LimitSpec } from '../../ratelimit.js';

type Tx = <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>;

export function takeTokens(tx: Tx) {
  return async (charges: { bucket: string; key: string; spec: LimitSpec }[], cost: number, now: number): Promise<{ spec: LimitSpec; short: number } | null> => {
    if (charges.length === 0) return null;
    return tx(async (c) => {
      const names = charges.map((x) => x.bucket);
      const keys = charges.map((x) => x.key);
      // A new bucket starts full.
      await c.query(
        `INSERT INTO rate_buckets (name, key, tokens, at, full_at)
         SELECT n, k, b, $4, $4 FROM unnest($1::text[], $2::text[], $3::float8[]) AS t(n, k, b) ON CONFLICT DO NOTHING`,
        [names, keys, charges.map((x) => x.spec.burst), now],
      );
      const rows = await c.query(
        `SELECT r.name, r.key, r.tokens, r.at FROM rate_buckets r JOIN unnest($1::text[], $2::text[]) AS t(n, k) ON r.name = t.n AND r.key = t.k
         ORDER BY r.name, r.key FOR UPDATE OF r`,
        [names, keys],
      );
      const state = new Map(rows.rows.map((r) => [`${r.name}\0${r.key}`, { tokens: Number(r.tokens), at: Number(r.at) }]));
      let worst: { spec: LimitSpec; short: number; wait: number } | null = null;
      const next = charges.map((x) => {
        const b = state.get(`${x.bucket}\0${x.key}`)!;
        const rate = x.spec.perMinute / 60_000;
        const tokens = Math.min(x.spec.burst, b.tokens + Math.max(0, now - b.at) * rate);
        const need = Math.min(cost, x.spec.burst);
        if (tokens < need) {
          const wait = (need - tokens) / rate;
          if (!worst || wait > worst.wait) worst = { spec: x.spec, short: need - tokens, wait };
        }
        const left = tokens - need;
        const at = Math.max(b.at, now);
        return { left, at, fullAt: at + Math.ceil((x.spec.burst - left) / rate) };
      });
      if (worst) return { spec: (worst as { spec: LimitSpec }).spec, short: (worst as { short: number }).short };
      await c.query(
        `UPDATE rate_buckets r SET tokens = t.tokens, at = t.at, full_at = t.full_at
         FROM unnest($1::text[], $2::text[], $3::float8[], $4::bigint[], $5::bigint[]) AS t(n, k, tokens, at, full_at)
         WHERE r.name = t.n AND r.key = t.k`,
        [names, keys, next.map((x) => x.left), next.map((x) => x.at), next.map((x) => x.fullAt)],
      );
      return null;
    });
  };
}
