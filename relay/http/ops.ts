// GET /healthz and GET /metrics (Prometheus text). Unauthenticated: bind the relay to a private
// address or filter /metrics in the proxy if its numbers are sensitive to you.
import { Hono } from 'hono';
import type { RelayContext } from '../context.js';

export function opsRoutes(ctx: RelayContext): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/metrics', async (c) => {
    ctx.metrics.queueDepth.set(ctx.store.queueDepth());
    const text = await ctx.metrics.registry.metrics();
    return c.text(text, 200, { 'content-type': ctx.metrics.registry.contentType });
  });
  return app;
}
