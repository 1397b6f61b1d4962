// GET /healthz and GET /metrics (Prometheus text). Unauthenticated: bind the relay to a private
// address or filter /metrics in the proxy if its numbers are sensitive to you.
//
// /healthz is what a monitor (or a load balancer) watches: 200 while the relay does its job, 503
// while its disk is below the headroom (it then refuses new messages and uploads: an operator must
// free space), while its database does not answer, or while a node has lost the bus to the other
// nodes (it still serves its own connections, but live delivery from other nodes waits).
// A held expiry (sweep.ts) keeps 200 — delivery works — but is listed under `warnings`.
import { Hono } from 'hono';
import { sqliteFile } from '../config.js';
import type { RelayContext } from '../context.js';

/** The storage and expiry state, also exported as gauges. */
function health(ctx: RelayContext) {
  const storage = ctx.headroom.status(ctx.blobs.existingDir);
  if (storage.freeBytes !== null) ctx.metrics.storageFree.set(storage.freeBytes);
  ctx.metrics.storageFull.set(storage.full ? 1 : 0);
  ctx.metrics.expiryHeld.set(ctx.expiryHold ? 1 : 0);
  const warnings: string[] = [];
  if (ctx.expiryHold) warnings.push(`expiry_held: ${ctx.expiryHold.reason}`);
  if (!storage.reserve && ctx.cfg.minFreeBytes > 0 && sqliteFile(ctx.cfg) !== null) warnings.push('no_reserve: the disk reserve file is missing (the disk was full)');
  return { storage, warnings };
}

/** Whether the database answers within STORE_PING_MS. */
async function storeUp(ctx: RelayContext): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      ctx.store.ping().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), STORE_PING_MS);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const STORE_PING_MS = 2000;

export function opsRoutes(ctx: RelayContext): Hono {
  const app = new Hono();
  app.get('/healthz', async (c) => {
    const { storage, warnings } = health(ctx);
    const store = await storeUp(ctx);
    const bus = ctx.bus.status();
    ctx.metrics.busUp.set(bus === 'down' ? 0 : 1);
    const ok = !storage.full && store && bus !== 'down';
    return c.json(
      {
        ok,
        relayId: ctx.store.relayId,
        node: ctx.bus.node,
        store: { engine: ctx.cfg.postgres === null ? 'sqlite' : 'postgres', up: store },
        bus: { kind: ctx.cfg.bus === null ? 'local' : 'nats', up: bus !== 'down' },
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
