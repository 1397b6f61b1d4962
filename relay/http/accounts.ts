// POST /v1/accounts (register), POST /v1/sessions (login), DELETE /v1/sessions (logout),
// DELETE /v1/sessions/all (log out everywhere), POST /v1/password (change the password).
//
// Every route that verifies or hashes a password goes through the same per-address and
// per-account buckets and the same argon2 semaphore, so a password change is no cheaper way to
// guess a password or to load the relay's CPU than a login. Revoking tokens tells every node
// (sessions_revoked on the bus) to close the sockets those tokens opened at once.
import { Hono, type Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { addressKey } from '../address.js';
import type { RelayContext } from '../context.js';
import { RelayError } from '../errors.js';
import { isUsername, loginBody, passwordBody, registerBody } from '../schemas.js';
import { newToken, hashToken } from '../tokens.js';
import { readJson } from './body.js';
import { requireAuth, type Env } from './auth.js';

/** Names that would collide with a fixed route under /v1/keys/. */
const RESERVED = new Set(['count']);
const MIN_PASSWORD = 8;

export function accountRoutes(ctx: RelayContext): Hono<Env> {
  const app = new Hono<Env>();
  const auth = requireAuth(ctx);

  /** The login buckets: the client's address (/64 for IPv6) and the account's name. */
  const chargeLogin = (c: Context, username: string): Promise<void> =>
    ctx.charge([{ limit: 'address', key: addressKey(clientAddress(c)) }, { limit: 'account', key: `login:${username}` }], ctx.now());

  app.post('/v1/accounts', async (c) => {
    const { username, password } = await readJson(c, registerBody, ctx.cfg.maxBodyBytes);
    if (!isUsername(username) || RESERVED.has(username)) {
      throw new RelayError('invalid_username', 'username must be 3-32 characters of a-z, 0-9 and _');
    }
    checkNewPassword(password);
    await ctx.charge([{ limit: 'address', key: addressKey(clientAddress(c)) }, { limit: 'account', key: `register:${username}` }], ctx.now());
    if (await ctx.store.getUser(username)) throw taken(username);
    const hash = await ctx.passwords.hash(password);
    if (!(await ctx.store.createUser(username, hash, ctx.now()))) throw taken(username);
    ctx.log.info({ event: 'register', user: username }, 'account created');
    return c.json({ username }, 201);
  });

  app.post('/v1/sessions', async (c) => {
    const started = performance.now();
    const { username, password, deviceId = 1 } = await readJson(c, loginBody, ctx.cfg.maxBodyBytes);
    if (!isUsername(username)) {
      await ctx.charge([{ limit: 'address', key: addressKey(clientAddress(c)) }], ctx.now());
      throw badCredentials();
    }
    await chargeLogin(c, username);
    const user = await ctx.store.getUser(username);
    const ok = await ctx.passwords.verify(user?.passwordHash, password);
    ctx.metrics.loginSeconds.observe((performance.now() - started) / 1000);
    if (!user || !ok) {
      ctx.log.info({ event: 'login_failed', user: username }, 'login failed');
      throw badCredentials();
    }
    if (user.bannedAt !== null) throw new RelayError('banned', 'account is banned');
    if (await ctx.store.deviceRemoved(username, deviceId)) throw deviceRemoved(deviceId);
    if (!(await ctx.store.addDevice(username, deviceId, ctx.now(), ctx.cfg.maxDevicesPerAccount))) {
      throw new RelayError('too_many_devices', `this account already has ${ctx.cfg.maxDevicesPerAccount} devices`);
    }
    const token = newToken();
    const expiresAt = ctx.now() + ctx.cfg.tokenTtlMs;
    // Only while the password is still the one just verified (a change may have committed while
    // argon2 ran): a password change must not leave a login made with the old password behind.
    if (!(await ctx.store.createSession(hashToken(token), username, deviceId, ctx.now(), expiresAt, user.passwordHash))) {
      throw (await ctx.store.deviceRemoved(username, deviceId)) ? deviceRemoved(deviceId) : badCredentials();
    }
    ctx.log.info({ event: 'login', user: username, device: deviceId }, 'logged in');
    return c.json({ token, expiresAt: new Date(expiresAt).toISOString(), username, deviceId });
  });

  app.delete('/v1/sessions', auth, async (c) => {
    const a = c.get('auth');
    await ctx.store.deleteSession(a.tokenHash);
    ctx.bus.publish({ kind: 'sessions_revoked', user: a.user });
    ctx.log.info({ event: 'logout', user: a.user, device: a.device }, 'logged out');
    return c.body(null, 204);
  });

  app.delete('/v1/sessions/all', auth, async (c) => {
    const a = c.get('auth');
    const revoked = await ctx.store.deleteSessions(a.user);
    ctx.bus.publish({ kind: 'sessions_revoked', user: a.user });
    ctx.log.info({ event: 'logout_all', user: a.user, device: a.device, revoked }, 'logged out everywhere');
    return c.json({ revoked });
  });

  app.post('/v1/password', auth, async (c) => {
    const started = performance.now();
    const a = c.get('auth');
    const { oldPassword, newPassword } = await readJson(c, passwordBody, ctx.cfg.maxBodyBytes);
    checkNewPassword(newPassword);
    await chargeLogin(c, a.user);
    const user = await ctx.store.getUser(a.user);
    const ok = await ctx.passwords.verify(user?.passwordHash, oldPassword);
    ctx.metrics.loginSeconds.observe((performance.now() - started) / 1000);
    if (!user || !ok) {
      ctx.log.info({ event: 'password_change_failed', user: a.user }, 'password change refused');
      throw badCredentials();
    }
    const newHash = await ctx.passwords.hash(newPassword);
    // The caller gets a new token too: a password change is what a user does who fears a leak,
    // and the leaked token may be this one.
    const token = newToken();
    const now = ctx.now();
    const expiresAt = now + ctx.cfg.tokenTtlMs;
    const revoked = await ctx.store.changePassword(a.user, user.passwordHash, newHash, { tokenHash: hashToken(token), device: a.device, now, expiresAt });
    // Another change won while argon2 ran; it revoked this caller's token as well.
    if (revoked === undefined) throw new RelayError('unauthorized', 'the password was changed meanwhile; log in again');
    ctx.bus.publish({ kind: 'sessions_revoked', user: a.user });
    ctx.log.info({ event: 'password_changed', user: a.user, device: a.device, revoked }, 'password changed');
    return c.json({ token, expiresAt: new Date(expiresAt).toISOString(), username: a.user, deviceId: a.device, revoked });
  });

  return app;
}

function checkNewPassword(password: string): void {
  if (password.length < MIN_PASSWORD) throw new RelayError('bad_request', `password must be at least ${MIN_PASSWORD} characters`);
}

function taken(username: string): RelayError {
  return new RelayError('username_taken', `username ${JSON.stringify(username)} is taken`);
}

function deviceRemoved(device: number): RelayError {
  return new RelayError('device_removed', `device ${device} was removed from this account's device list; a device of the account must add it again first`);
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
