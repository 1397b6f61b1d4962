// Blocks: PUT /v1/blocks/:username stops the relay queueing that user's messages for the caller's
// account (every device); DELETE lifts it; GET lists them. The relay learns whom each account
// blocks — the price of not storing what would be thrown away (docs/THREAT_MODEL.md).
import { Hono } from 'hono';
import type { RelayContext } from '../context.js';
import { RelayError } from '../errors.js';
import { isUsername } from '../schemas.js';
import { requireAuth, type Env } from './auth.js';

/**
 * Blocks one account may hold: far more than a person blocks, and small enough that the list an
 * account can make the relay keep (one row each) stays bounded.
 */
export const MAX_BLOCKS = 10_000;

function target(raw: string): string {
  const user = raw.toLowerCase();
  if (!isUsername(user)) throw new RelayError('invalid_username', `invalid username: ${JSON.stringify(raw.slice(0, 64))}`);
  return user;
}

export function blockRoutes(ctx: RelayContext): Hono<Env> {
  const app = new Hono<Env>();
  const auth = requireAuth(ctx);

  app.put('/v1/blocks/:username', auth, async (c) => {
    const a = c.get('auth');
    const user = target(c.req.param('username'));
    if (user === a.user) throw new RelayError('bad_request', 'an account cannot block itself');
    if (!(await ctx.store.getUser(user))) throw new RelayError('unknown_user', `unknown user: ${user}`);
    if (!(await ctx.store.blocks.block(a.user, user, ctx.now(), MAX_BLOCKS))) throw new RelayError('quota_exceeded', `at most ${MAX_BLOCKS} blocks per account`);
    return c.body(null, 204);
  });

  app.delete('/v1/blocks/:username', auth, async (c) => {
    await ctx.store.blocks.unblock(c.get('auth').user, target(c.req.param('username')));
    return c.body(null, 204);
  });

  app.get('/v1/blocks', auth, async (c) => c.json({ blocked: await ctx.store.blocks.list(c.get('auth').user) }));

  return app;
}
