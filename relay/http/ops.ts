// GET /healthz and GET /metrics (Prometheus text). Unauthenticated: bind the relay to a private
// address or filter /metrics in the proxy if its numbers are sensitive to you.
//
// /healthz is what a monitor watches: 200 while the relay does its job, 503 while its disk is
// below the headroom (it then refuses new messages and uploads: an operator must free space).
// A held expiry (sweep.ts) keeps 200 — delivery works — but is listed under `warnings`.
import { Hono } from 'hono';
import type { RelayContext } from '../context.js';

/** The storage and expiry state, also exported as gauges. */
function health(ctx: RelayContext) {
  const storage = ctx.headroom.status(ctx.blobs.existingDir);
  if (storage.freeBytes !== null) ctx.metrics.storageFree.set(storage.freeBytes);
  ctx.metrics.storageFull.set(storage.full ? 1 : 0);
  ctx.metrics.expiryHeld.set(ctx.expiryHold ? 1 : 0);
  const warnings: string[] = [];
  if (ctx.expiryHold) warnings.push(`expiry_held: ${ctx.expiryHold.reason}`);
  if (!storage.reserve && ctx.cfg.minFreeBytes > 0 && ctx.cfg.db !== ':memory:') warnings.push('no_reserve: the disk reserve file is missing (the disk was full)');
  return { storage, warnings };
}

export function opsRoutes(ctx: RelayContext): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => {
    const { storage, warnings } = health(ctx);
    const ok = !storage.full;
    return c.json(
      {
        ok,
        relayId: ctx.store.relayId,
        storage: { freeBytes: storage.freeBytes, minFreeBytes: storage.minFreeBytes, full: storage.full },
        expiryHeld: ctx.expiryHold !== null,
        warnings,
      },
      ok ? 200 : 503,
    );
  });
  app.get('/metrics', async (c) => {
    ctx.metrics.queueDepth.set(await ctx.store.queueDepth());
    health(ctx);
    const text = await ctx.metrics.registry.metrics();
    return c.text(text, 200, { 'content-type': ctx.metrics.registry.contentType });
  });
  return app;
}
