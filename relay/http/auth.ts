// Bearer-token authentication shared by HTTP routes and the WebSocket upgrade.
import type { MiddlewareHandler } from 'hono';
import type { RelayContext } from '../context.js';
import { RelayError } from '../errors.js';
import { hashToken, looksLikeToken } from '../tokens.js';

export interface Auth {
  user: string;
  device: number;
  tokenHash: Uint8Array;
  /** When the password was verified to make this session; null for a device ticket's login. */
  passwordAt: number | null;
}

export type Env = { Variables: { auth: Auth } };

/** The token from `Authorization: Bearer`, or null. */
export function bearer(header: string | undefined | null): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/** Looks the token up; throws unauthorized (unknown/expired/revoked) or banned. */
export async function authenticate(ctx: RelayContext, token: string | null): Promise<Auth> {
  if (!token || !looksLikeToken(token)) throw new RelayError('unauthorized', 'missing or invalid token');
  const tokenHash = hashToken(token);
  const s = await ctx.store.getSession(tokenHash, ctx.now());
  if (!s) throw new RelayError('unauthorized', 'missing or invalid token');
  if (s.banned) throw new RelayError('banned', 'account is banned');
  return { user: s.user, device: s.device, tokenHash, passwordAt: s.passwordAt };
}

export function requireAuth(ctx: RelayContext): MiddlewareHandler<Env> {
  return async (c, next) => {
    c.set('auth', await authenticate(ctx, bearer(c.req.header('authorization'))));
    await next();
  };
}
