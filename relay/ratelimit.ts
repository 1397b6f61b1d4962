// Token buckets keyed by client address, account name or sending device. Each key holds `burst`
// tokens and gets `perMinute` back per minute; a bucket short of the cost refuses with rate_limited
// + Retry-After and takes nothing. Memory is bounded: buckets that have refilled completely are
// forgotten, and at most `maxKeys` are kept.
import { RelayError } from './errors.js';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly burst: number,
    private readonly perMinute: number,
    private readonly what: string,
    private readonly maxKeys = 100_000,
    /** What is counted, for the refusal's message ("too many <noun> for this <what>"). */
    private readonly noun = 'attempts',
  ) {}

  /**
   * Takes `cost` tokens for `key` or throws rate_limited (taking none). A cost above the burst is
   * charged as the whole burst: it could never be paid otherwise, and a full bucket is the most a
   * key can have saved up.
   */
  take(key: string, now: number, cost = 1): void {
    const need = Math.min(cost, this.burst);
    const rate = this.perMinute / 60_000;
    let b = this.buckets.get(key);
    if (b) b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * rate);
    else {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    }
    b.at = now;
    if (b.tokens < need) {
      const retryAfter = Math.max(1, Math.ceil((need - b.tokens) / rate / 1000));
      throw new RelayError('rate_limited', `too many ${this.noun} for this ${this.what}, retry in ${retryAfter}s`, { retryAfter });
    }
    b.tokens -= need;
  }

  private prune(now: number): void {
    const rate = this.perMinute / 60_000;
    for (const [k, b] of this.buckets) if (b.tokens + (now - b.at) * rate >= this.burst) this.buckets.delete(k);
    // Still full of active keys: drop the oldest insertions rather than grow.
    for (const k of this.buckets.keys()) {
      if (this.buckets.size < this.maxKeys) break;
      this.buckets.delete(k);
    }
  }
}
