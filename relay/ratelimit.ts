// Token buckets keyed by client address, account name, sending device or (requester, target)
// pair. Each key holds `burst` tokens and gets `perMinute` back per minute; a bucket short of the
// cost refuses with rate_limited + Retry-After and takes nothing.
//
// Memory is bounded without ever forgetting a bucket that is not full: forgetting a partly drained
// bucket would hand its owner a fresh burst, so an attacker could reset their own limit by making
// the relay see many other keys. Only buckets that have refilled completely are forgotten (they
// hold nothing a new bucket would not). When `maxKeys` buckets are all still draining, a new key
// is charged to one shared overflow bucket instead: everyone new shares one burst until buckets
// refill, which is stricter, never looser, than their own would be.
//
// Limiter is one process's memory. A relay of several nodes keeps the limits that guard secrets
// and other users' keys — login, registration and password change per address and per account,
// bundle fetches per requester and per (requester, target) — in PostgreSQL instead, shared by every
// node (SharedCharger below, store/postgres/buckets.ts), so spreading attempts over nodes gains
// nothing. Send limits stay in each node's memory: see docs/SCALING.md for why and what it costs.
import { RelayError } from './errors.js';

export interface Limiter {
  /** Takes `cost` tokens for `key` or throws rate_limited, taking none. */
  take(key: string, now: number, cost?: number): void;
  /** Throws rate_limited when `take` would, taking nothing either way. */
  check(key: string, now: number, cost?: number): void;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Looking for full buckets costs a pass over all of them: at most this often while at capacity. */
const PRUNE_EVERY_MS = 1000;

export class RateLimiter implements Limiter {
  private readonly buckets = new Map<string, Bucket>();
  private overflow: Bucket | null = null;
  private lastPrune = Number.NEGATIVE_INFINITY;

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
    const b = this.bucket(key, now);
    const need = this.need(cost);
    this.refuseIfShort(b, need);
    b.tokens -= need;
  }

  check(key: string, now: number, cost = 1): void {
    this.refuseIfShort(this.peek(key, now), this.need(cost));
  }

  /** Buckets held (the overflow bucket not counted). */
  get size(): number {
    return this.buckets.size;
  }

  private need(cost: number): number {
    return Math.min(cost, this.burst);
  }

  private refuseIfShort(b: Bucket, need: number): void {
    if (b.tokens >= need) return;
    throw rateLimited({ perMinute: this.perMinute, noun: this.noun, what: this.what }, need - b.tokens);
  }

  /** The key's bucket brought up to `now`, made (full) when new. */
  private bucket(key: string, now: number): Bucket {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys && now - this.lastPrune >= PRUNE_EVERY_MS) this.prune(now);
      if (this.buckets.size >= this.maxKeys) {
        this.overflow ??= { tokens: this.burst, at: now };
        b = this.overflow;
      } else {
        b = { tokens: this.burst, at: now };
        this.buckets.set(key, b);
      }
    }
    this.refill(b, now);
    return b;
  }

  /** What `bucket` would return, without making or changing anything. */
  private peek(key: string, now: number): Bucket {
    const b = this.buckets.get(key) ?? (this.buckets.size >= this.maxKeys ? this.overflow : null);
    if (!b) return { tokens: this.burst, at: now };
    const copy = { ...b };
    this.refill(copy, now);
    return copy;
  }

  private refill(b: Bucket, now: number): void {
    // A clock that steps back must not mint tokens (or take them): time only moves forward here.
    const elapsed = Math.max(0, now - b.at);
    b.tokens = Math.min(this.burst, b.tokens + (elapsed * this.perMinute) / 60_000);
    b.at = Math.max(b.at, now);
  }

  /** Forgets buckets that have refilled completely, and only those. */
  private prune(now: number): void {
    this.lastPrune = now;
    const rate = this.perMinute / 60_000;
    for (const [k, b] of this.buckets) if (b.tokens + Math.max(0, now - b.at) * rate >= this.burst) this.buckets.delete(k);
    if (this.overflow && this.overflow.tokens + Math.max(0, now - this.overflow.at) * rate >= this.burst) this.overflow = null;
  }
}

/** How a limit is named and refills (the same for a bucket in memory and one in the store). */
export interface LimitSpec {
  burst: number;
  perMinute: number;
  /** What is counted, and per what, for the refusal's message. */
  noun: string;
  what: string;
}

/** The refusal of a bucket `short` tokens short of what it needs. */
export function rateLimited(spec: Pick<LimitSpec, 'perMinute' | 'noun' | 'what'>, short: number): RelayError {
  const retryAfter = Math.max(1, Math.ceil(short / (spec.perMinute / 60_000) / 1000));
  return new RelayError('rate_limited', `too many ${spec.noun} for this ${spec.what}, retry in ${retryAfter}s`, { retryAfter });
}

/** The limits every node of a relay must share (see the top of this file). */
export type SharedLimit = 'address' | 'account' | 'bundles' | 'bundlesPerTarget' | 'deviceLists';

/** Charges shared limits: `cost` from every (limit, key) or from none; rejects with rate_limited. */
export interface LimitCharger {
  charge(charges: readonly { limit: SharedLimit; key: string }[], now: number, cost?: number): Promise<void>;
}

/** One node (SQLite): the buckets are this process's memory. */
export class MemoryCharger implements LimitCharger {
  constructor(private readonly limiters: Record<SharedLimit, Limiter>) {}

  async charge(charges: readonly { limit: SharedLimit; key: string }[], now: number, cost = 1): Promise<void> {
    takeAll(charges.map((c) => ({ limiter: this.limiters[c.limit], key: c.key })), now, cost);
  }
}

/** The store's atomic take of several buckets (store/postgres/buckets.ts). */
export type TakeTokens = (charges: { bucket: string; key: string; spec: LimitSpec }[], cost: number, now: number) => Promise<{ spec: LimitSpec; short: number } | null>;

/** Several nodes (PostgreSQL): the buckets are rows every node charges in one transaction. */
export class SharedCharger implements LimitCharger {
  constructor(
    private readonly specs: Record<SharedLimit, LimitSpec>,
    private readonly take: TakeTokens,
  ) {}

  async charge(charges: readonly { limit: SharedLimit; key: string }[], now: number, cost = 1): Promise<void> {
    const refused = await this.take(charges.map((c) => ({ bucket: c.limit, key: c.key, spec: this.specs[c.limit] })), cost, now);
    if (refused) throw rateLimited(refused.spec, refused.short);
  }
}

/**
 * Takes `cost` from every (limiter, key) or from none: each is checked first, so a refusal by the
 * second bucket does not leave the first charged. Throws the refusal with the longest wait.
 */
export function takeAll(charges: readonly { limiter: Limiter; key: string }[], now: number, cost = 1): void {
  let worst: RelayError | null = null;
  for (const c of charges) {
    try {
      c.limiter.check(c.key, now, cost);
    } catch (e) {
      if (!(e instanceof RelayError)) throw e;
      if (!worst || (e.retryAfter ?? 0) > (worst.retryAfter ?? 0)) worst = e;
    }
  }
  if (worst) throw worst;
  for (const c of charges) c.limiter.take(c.key, now, cost);
}
