// Periodic clean-up: expired messages (TTL), expired dedup records, expired sessions and blobs.
//
// A clock jump must not empty the relay. With the clock 31 days ahead, the start-up sweep once
// deleted every queued message and every session, and senders read "sent" forever. So before it
// deletes, the sweep compares the clock with the clock of the last sweep (kept in the database):
// a gap of more than SUSPECT_GAP_MS means the clock jumped or the relay was down that long, and
// then a sweep that would expire a large share of the queue (or of the sessions) is held: nothing
// is deleted, the relay says so in its log and on /healthz, and waits for an operator, who fixes
// the clock or runs `fastchat relay expire --db FILE` to let it go. A running relay sweeps every
// --sweep-interval-seconds, so in normal operation the gap is one interval and expiry trickles.
//
// Expired messages that were never delivered are not dropped silently: their senders get an
// expiry notice in their queue (store.sweep, docs/RELAY.md "Expiry notices").
import type { ExpiryHold, RelayContext } from './context.js';
import { errInfo } from './delivery/submitter.js';
import type { ExpiryPreview } from './store/index.js';

/** A sweep this long after the previous one (and at least 3 intervals) may follow a clock jump. */
const SUSPECT_GAP_MS = 60 * 60_000;
/** After such a gap, expiring more than this share of the queued deliveries or sessions is held... */
const HOLD_SHARE = 0.1;
/** ...when it is also more than this many (a tiny queue losing 2 of 3 is no alarm). */
const HOLD_MIN = 10;
/** A held sweep is logged again at most this often. */
const HOLD_LOG_EVERY_MS = 60 * 60_000;

/** Whether a sweep at `now` may run, given what it would delete. Null: go ahead. */
export function holdReason(p: ExpiryPreview, now: number, sweepIntervalMs: number): string | null {
  if (p.clockHigh === null) return null;
  const gap = now - p.clockHigh;
  if (gap <= Math.max(SUSPECT_GAP_MS, 3 * sweepIntervalMs)) return null;
  const large = (part: number, whole: number): boolean => part > HOLD_MIN && part > HOLD_SHARE * whole;
  const hours = Math.round(gap / 3600_000);
  if (large(p.expiring, p.queued)) return `the clock is ${hours} h past the last sweep and ${p.expiring} of ${p.queued} queued deliveries would expire at once`;
  if (large(p.expiringSessions, p.sessions)) return `the clock is ${hours} h past the last sweep and ${p.expiringSessions} of ${p.sessions} sessions would expire at once`;
  return null;
}

/** One sweep. `force` (the operator's `relay expire`) skips the clock check. */
export async function sweepOnce(ctx: RelayContext, force = false): Promise<void> {
  const now = ctx.now();
  const p = await ctx.store.expiryPreview(now);
  const reason = force ? null : holdReason(p, now, ctx.cfg.sweepIntervalMs);
  if (reason !== null) {
    hold(ctx, { since: ctx.expiryHold?.since ?? now, reason, expiring: p.expiring, queued: p.queued, gapMs: now - p.clockHigh! });
    // Blobs only by the last trusted clock: whatever had expired by then (nothing new).
    await ctx.blobs.sweep(p.clockHigh!);
    return;
  }
  if (ctx.expiryHold) ctx.log.warn({ event: 'expiry_resumed' }, 'expiry resumed: the clock is consistent with the last sweep again');
  ctx.expiryHold = null;
  lastHoldLog.delete(ctx);
  const r = await ctx.store.sweep(now, ctx.cfg.messageTtlMs);
  if (r.messages > 0) ctx.metrics.expired.inc(r.messages);
  for (const n of r.notices) ctx.bus.publish({ kind: 'queued', user: n.to.user, device: n.to.device, upTo: n.deliveryId });
  const blobs = await ctx.blobs.sweep(now);
  // Linking channels and device tickets are minutes long and already ignored once expired.
  const links = await ctx.store.linking.expire(now);
  ctx.headroom.ensureReserve();
  if (r.messages > 0 || r.sessions > 0 || blobs > 0 || links > 0) {
    ctx.log.info({ event: 'sweep', messages: r.messages, sessions: r.sessions, blobs, links, notices: r.notices.length }, 'expired rows deleted');
  }
}

const lastHoldLog = new WeakMap<RelayContext, number>();

function hold(ctx: RelayContext, h: ExpiryHold): void {
  ctx.expiryHold = h;
  const now = ctx.now();
  const last = lastHoldLog.get(ctx);
  if (last !== undefined && now - last < HOLD_LOG_EVERY_MS) return;
  lastHoldLog.set(ctx, now);
  ctx.log.warn(
    { event: 'expiry_held', expiring: h.expiring, queued: h.queued, gapHours: Math.round(h.gapMs / 3600_000) },
    `expiry held: ${h.reason}. Nothing was deleted. If the clock is wrong, fix it; if it is right, run \`fastchat relay expire ${ctx.cfg.postgres === null ? `--db ${ctx.cfg.db}` : '--store URL'}\``,
  );
}

/** Sweeps now and every sweepIntervalMs; a sweep still running when the next is due is not doubled. */
export function startSweeper(ctx: RelayContext): () => Promise<void> {
  let running: Promise<void> | null = null;
  const run = (): void => {
    if (running) return;
    running = sweepOnce(ctx)
      .catch((e: unknown) => ctx.log.error({ err: errInfo(e) }, 'sweep failed'))
      .finally(() => {
        running = null;
      });
  };
  run();
  const t = setInterval(run, ctx.cfg.sweepIntervalMs);
  t.unref();
  return async () => {
    clearInterval(t);
    await running;
  };
}
