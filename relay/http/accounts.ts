// POST /v1/accounts (register), POST /v1/sessions (login), DELETE /v1/sessions (logout).
import { Hono, type Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { addressKey } from '../address.js';
import type { RelayContext } from '../context.js';
import { RelayError } from '../errors.js';
import { takeAll } from '../ratelimit.js';
import { isUsername, loginBody, registerBody } from '../schemas.js';
import { newToken, hashToken } from '../tokens.js';
import { readJson } from './body.js';
import { requireAuth, type Env } from './auth.js';

/** Names that would collide with a fixed route under /v1/keys/. */
const RESERVED = new Set(['count']);

export function accountRoutes(ctx: RelayContext): Hono<Env> {
  const app = new Hono<Env>();

  app.post('/v1/accounts', async (c) => {
    const { username, password } = await readJson(c, registerBody, ctx.cfg.maxBodyBytes);
    if (!isUsername(username) || RESERVED.has(username)) {
      throw new RelayError('invalid_username', 'username must be 3-32 characters of a-z, 0-9 and _');
    }
    if (password.length < 8) throw new RelayError('bad_request', 'password must be at least 8 characters');
    // Per address (/64 for IPv6, address.ts) and per name, both or neither.
    takeAll([{ limiter: ctx.limits.address, key: addressKey(clientAddress(c)) }, { limiter: ctx.limits.account, key: `register:${username}` }], ctx.now());
    if (ctx.store.getUser(username)) throw taken(username);
    const hash = await ctx.passwords.hash(password);
    if (!ctx.store.createUser(username, hash, ctx.now())) throw taken(username);
    ctx.log.info({ event: 'register', user: username }, 'account created');
    return c.json({ username }, 201);
  });

  app.post('/v1/sessions', async (c) => {
    const started = performance.now();
    const { username, password, deviceId = 1 } = await readJson(c, loginBody, ctx.cfg.maxBodyBytes);
    if (!isUsername(username)) {
      ctx.limits.address.take(addressKey(clientAddress(c)), ctx.now());
      throw badCredentials();
    }
    takeAll([{ limiter: ctx.limits.address, key: addressKey(clientAddress(c)) }, { limiter: ctx.limits.account, key: `login:${username}` }], ctx.now());
    const user = ctx.store.getUser(username);
    const ok = await ctx.passwords.verify(user?.passwordHash, password);
    ctx.metrics.loginSeconds.observe((performance.now() - started) / 1000);
    if (!user || !ok) {
      ctx.log.info({ event: 'login_failed', user: username }, 'login failed');
      throw badCredentials();
    }
    if (user.bannedAt !== null) throw new RelayError('banned', 'account is banned');
    if (!ctx.store.addDevice(username, deviceId, ctx.now(), ctx.cfg.maxDevicesPerAccount)) {
      throw new RelayError('too_many_devices', `this account already has ${ctx.cfg.maxDevicesPerAccount} devices`);
    }
    const token = newToken();
    const expiresAt = ctx.now() + ctx.cfg.tokenTtlMs;
    ctx.store.createSession(hashToken(token), username, deviceId, ctx.now(), expiresAt);
    ctx.log.info({ event: 'login', user: username, device: deviceId }, 'logged in');
    return c.json({ token, expiresAt: new Date(expiresAt).toISOString(), username, deviceId });
  });

  app.delete('/v1/sessions', requireAuth(ctx), (c) => {
    const a = c.get('auth');
    ctx.store.deleteSession(a.tokenHash);
    ctx.log.info({ event: 'logout', user: a.user, device: a.device }, 'logged out');
    return c.body(null, 204);
  });

  return app;
}

function taken(username: string): RelayError {
  return new RelayError('username_taken', `username ${JSON.stringify(username)} is taken`);
}

function badCredentials(): RelayError {
  return new RelayError('bad_credentials', 'wrong username or password');
}

/** The peer address (no proxy headers are trusted; put a rate limit in the proxy if you use one). */
export function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // in-process app.request() has no socket
  }
}
