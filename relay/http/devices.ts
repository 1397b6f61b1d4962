// Signed device lists (docs/RELAY.md "Device lists"): a device of the account uploads the next
// version, anyone signed in fetches them. The relay keeps every version so a contact that last saw
// version V can check the whole chain from V on (crypto/device-list.ts acceptDeviceLists).
import { Hono } from 'hono';
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { sodiumReady } from '../../crypto/sodium.js';
import type { RelayContext } from '../context.js';
import { RelayError } from '../errors.js';
import { isUsername, putDeviceListBody } from '../schemas.js';
import { readJson } from './body.js';
import { requireAuth, type Env } from './auth.js';

/** Lists in one GET; `more` says there are newer ones (ask again with since = the last version). */
/**
 * How recent a password login must be for a `replace` upload (a new list under any account key, which
 * cuts every other device off and shows every contact a changed key). The clients that replace
 * (login --replace-keys, keygen --force) log in with the password just before; a token alone, or a
 * device ticket's login, must not be enough (docs/THREAT_MODEL.md "replace-needs-password").
 */
export const REPLACE_LOGIN_WINDOW_MS = 5 * 60_000;

export const DEVICE_LISTS_PAGE = 64;

export function deviceListRoutes(ctx: RelayContext): Hono<Env> {
  const app = new Hono<Env>();
  const auth = requireAuth(ctx);

  app.put('/v1/devices', auth, async (c) => {
    const a = c.get('auth');
    // Each upload is a signature check and a transaction holding the account's lists; an honest
    // device uploads a list only when a device is linked or removed (docs/RELAY.md "Limits").
    await ctx.charge([{ limit: 'deviceLists', key: a.user }], ctx.now());
    const body = await readJson(c, putDeviceListBody, ctx.cfg.maxBodyBytes);
    if (body.replace === true && !(a.passwordAt !== null && ctx.now() - a.passwordAt <= REPLACE_LOGIN_WINDOW_MS)) {
      throw new RelayError('password_login_required', `replacing the account's device lists needs a session made by a password login in the last ${REPLACE_LOGIN_WINDOW_MS / 60_000} minutes: log in with the password again, then upload`);
    }
    await sodiumReady();
    const r = await ctx.store.putDeviceList({ user: a.user, device: a.device }, fromBase64url(body.list), ctx.cfg.maxDevicesPerAccount, ctx.now(), body.replace === true);
    if (!r.duplicate) ctx.log.info({ event: 'device_list_put', user: a.user, device: a.device, version: r.version, replace: body.replace === true, removed: r.removed }, 'device list stored');
    // The removed devices' tokens are gone: every node closes their sockets now.
    if (r.removed.length > 0) ctx.bus.publish({ kind: 'sessions_revoked', user: a.user });
    return c.json({ version: r.version, duplicate: r.duplicate });
  });

  // As GET /v1/keys/:username/identity: any signed-in account may read any account's lists.
  app.get('/v1/devices/:username', auth, async (c) => {
    const username = c.req.param('username').toLowerCase();
    const since = sinceParam(c.req.query('since'));
    const rows = isUsername(username) ? await ctx.store.deviceLists(username, since, DEVICE_LISTS_PAGE + 1) : undefined;
    if (!rows) throw new RelayError('unknown_user', `unknown user: ${JSON.stringify(username.slice(0, 64))}`);
    const page = rows.slice(0, DEVICE_LISTS_PAGE);
    return c.json({ username, lists: page.map((r) => ({ version: r.version, list: toBase64url(r.list) })), more: rows.length > DEVICE_LISTS_PAGE });
  });

  return app;
}

/** `since`: a version the caller has (0 or absent: from the first). */
function sinceParam(raw: string | undefined): number {
  if (raw === undefined) return 0;
  if (!/^\d{1,10}$/.test(raw)) throw new RelayError('bad_request', 'since must be a version number');
  return Number(raw);
}
