// POST /v1/messages (the HTTP twin of the WebSocket `send`) and GET /v1/presence.
import { Hono } from 'hono';
import type { RelayContext } from '../context.js';
import { chargeSend, toSubmitRequest } from '../delivery/send.js';
import { sendBody } from '../schemas.js';
import { readJson } from './body.js';
import { requireAuth, type Env } from './auth.js';

export function messageRoutes(ctx: RelayContext): Hono<Env> {
  const app = new Hono<Env>();
  const auth = requireAuth(ctx);

  app.post('/v1/messages', auth, async (c) => {
    const a = c.get('auth');
    const f = await readJson(c, sendBody, ctx.cfg.maxBodyBytes);
    const sender = { user: a.user, device: a.device };
    chargeSend(ctx.limits, sender, f.to.length, ctx.now());
    const r = await ctx.submitter.submit(toSubmitRequest(sender, f, ctx.cfg));
    if (!r.ok) throw r.error;
    return c.json({ id: f.id, storedAt: new Date(r.storedAt).toISOString() });
  });

  app.get('/v1/presence', auth, async (c) => c.json({ online: await ctx.presence.onlineUsers(c.get('auth').user) }));

  return app;
}
