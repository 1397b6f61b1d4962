// Periodic clean-up: expired messages (TTL), expired dedup records and expired sessions.
import type { RelayContext } from './context.js';
import { errInfo } from './delivery/submitter.js';

export function startSweeper(ctx: RelayContext): () => void {
  const run = (): void => {
    try {
      const r = ctx.store.sweep(ctx.now());
      if (r.messages > 0) ctx.metrics.expired.inc(r.messages);
      const blobs = ctx.blobs.sweep(ctx.now());
      if (r.messages > 0 || r.sessions > 0 || blobs > 0) ctx.log.info({ event: 'sweep', messages: r.messages, sessions: r.sessions, blobs }, 'expired rows deleted');
    } catch (e) {
      ctx.log.error({ err: errInfo(e) }, 'sweep failed');
    }
  };
  run();
  const t = setInterval(run, ctx.cfg.sweepIntervalMs);
  t.unref();
  return () => clearInterval(t);
}
