// Linking a new device (docs/RELAY.md "Linking", docs/PROTOCOL.md D.12). The relay carries two
// opaque things and hands out one credential:
//  - a channel, named by the first characters of the new device's pairing code, holding its link
//    request and then the one sealed provisioning message an existing device of the account leaves;
//    the new device may take it more than once (a reply lost to a sleeping laptop or a dropped
//    connection is asked for again), and the channel is deleted after linkTtlMs;
//  - a device ticket a logged-in device asks for: bound to its account and the next free device
//    id, redeemed once (before it expires) for a login of that device, without the password. The
//    new device names the session token it wants; the same ticket and session again (a reply
//    lost) get the same login until the ticket would have expired, any other session bad_ticket.
// Opening a channel and redeeming a ticket need no login and are charged to the caller's address
// as logins are; the rest is charged to the account.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { fromBase64url, fromUtf8, Reader, toBase64url } from '../../crypto/encoding.js';
import { ACCOUNT_FORMAT_TAGS, PAIRING_CHANNEL_CHARS, PAIRING_CODE_ALPHABET, PROTOCOL_VERSION } from '../../crypto/consts.js';
import { addressKey } from '../address.js';
import type { RelayContext } from '../context.js';
import { RelayError } from '../errors.js';
import { isUsername } from '../schemas.js';
import { hashToken, newToken } from '../tokens.js';
import { clientAddress } from './accounts.js';
import { readJson } from './body.js';
import { requireAuth, type Env } from './auth.js';

const CHANNEL = new RegExp(`^[${PAIRING_CODE_ALPHABET}]{${PAIRING_CHANNEL_CHARS}}$`);
const b64url = z.string().regex(/^[A-Za-z0-9_-]*$/);
const secret = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
/** A link request is ~300 bytes (D.9); 1 KiB of base64url leaves room and bounds what a stranger stores. */
const openBody = z.object({ channel: z.string().max(16), request: b64url.min(1).max(1024) }).strict();
const answerBody = z.object({ message: b64url.min(1) }).strict();
const takeBody = z.object({ secret }).strict();
/** `session`: the session token the new device drew (D.12); without it (an older client) the relay draws one, and a lost reply cannot be asked for again. */
const redeemBody = z.object({ ticket: secret, session: secret.optional() }).strict();

export function linkingRoutes(ctx: RelayContext): Hono<Env> {
  const app = new Hono<Env>();
  const auth = requireAuth(ctx);
  const byAddress = (c: Context) => ctx.charge([{ limit: 'address', key: addressKey(clientAddress(c)) }], ctx.now());

  app.post('/v1/link', async (c) => {
    const body = await readJson(c, openBody, ctx.cfg.maxBodyBytes);
    await byAddress(c);
    const channel = channelName(body.channel);
    const request = fromBase64url(body.request);
    const user = requestUser(request);
    if (!(await ctx.store.getUser(user))) throw new RelayError('unknown_user', `unknown user: ${JSON.stringify(user)}`);
    const s = newToken();
    const now = ctx.now();
    const expiresAt = now + ctx.cfg.linkTtlMs;
    if (!(await ctx.store.linking.open(channel, user, request, hashToken(s), now, expiresAt))) {
      throw new RelayError('link_conflict', 'a linking channel of that name is open: draw another code');
    }
    ctx.log.info({ event: 'link_opened', user }, 'linking channel opened');
    return c.json({ secret: s, expiresAt: new Date(expiresAt).toISOString() }, 201);
  });

  // Only devices of the account the request names see it or answer it: a stranger who guesses a
  // channel name can neither read the request nor spoil the channel with a message of its own.
  app.get('/v1/link/:channel', auth, async (c) => {
    const a = c.get('auth');
    await ctx.charge([{ limit: 'account', key: `link:${a.user}` }], ctx.now());
    const r = await ctx.store.linking.request(channelName(c.req.param('channel')), a.user, ctx.now());
    if (!r) throw notFound();
    // Answered channels stay until they expire (the new device may take again): a second approval
    // is told so here, before it asks for a device ticket it could not use.
    if (r.answered) throw answeredAlready();
    return c.json({ request: toBase64url(r.request) });
  });

  app.put('/v1/link/:channel', auth, async (c) => {
    const a = c.get('auth');
    const channel = channelName(c.req.param('channel'));
    const body = await readJson(c, answerBody, ctx.cfg.maxBodyBytes);
    const r = await ctx.store.linking.answer(channel, a.user, fromBase64url(body.message), ctx.now());
    if (r === 'gone') throw notFound();
    if (r === 'answered') throw answeredAlready();
    ctx.log.info({ event: 'link_answered', user: a.user, device: a.device }, 'linking channel answered');
    return c.json({ stored: true });
  });

  // Polled by the new device. Not charged: the secret has 256 bits, so asking tells nothing.
  app.post('/v1/link/:channel/take', async (c) => {
    const channel = channelName(c.req.param('channel'));
    const body = await readJson(c, takeBody, ctx.cfg.maxBodyBytes);
    const r = await ctx.store.linking.take(channel, hashToken(body.secret), ctx.now());
    if (r === 'gone') throw notFound();
    if (r === 'waiting') return c.json({ waiting: true }, 202);
    return c.json({ message: toBase64url(r.message) });
  });

  app.post('/v1/devices/tickets', auth, async (c) => {
    const a = c.get('auth');
    await ctx.charge([{ limit: 'account', key: `ticket:${a.user}` }], ctx.now());
    const ticket = newToken();
    const now = ctx.now();
    const expiresAt = now + ctx.cfg.linkTtlMs;
    const device = await ctx.store.linking.issueTicket(hashToken(ticket), a.user, now, expiresAt, ctx.cfg.maxDevicesPerAccount);
    if (device === undefined) throw new RelayError('too_many_devices', `this account already has ${ctx.cfg.maxDevicesPerAccount} devices (or tickets for them)`);
    ctx.log.info({ event: 'ticket_issued', user: a.user, device: a.device, for: device }, 'device ticket issued');
    return c.json({ ticket, device, expiresAt: new Date(expiresAt).toISOString() }, 201);
  });

  app.post('/v1/sessions/ticket', async (c) => {
    const body = await readJson(c, redeemBody, ctx.cfg.maxBodyBytes);
    await byAddress(c);
    // Only the token's hash is stored, as for every session (tokens.ts); the client's 256 random
    // bits are as good a token as ours, and it can ask again with the same one.
    const token = body.session ?? newToken();
    const now = ctx.now();
    const who = await ctx.store.linking.redeemTicket(hashToken(body.ticket), { tokenHash: hashToken(token), now, expiresAt: now + ctx.cfg.tokenTtlMs }, ctx.cfg.maxDevicesPerAccount);
    if (!who) throw new RelayError('bad_ticket', 'the device ticket is unknown, expired or used');
    ctx.log.info({ event: 'login_ticket', user: who.user, device: who.device }, 'logged in with a device ticket');
    return c.json({ token, expiresAt: new Date(who.expiresAt).toISOString(), username: who.user, deviceId: who.device });
  });

  return app;
}

function channelName(raw: string): string {
  const name = raw.toLowerCase();
  if (!CHANNEL.test(name)) throw new RelayError('bad_request', `a channel name is ${PAIRING_CHANNEL_CHARS} characters of the pairing-code alphabet`);
  return name;
}

/** The account a link request names (its header and first field, D.9); the rest is not the relay's business. */
function requestUser(request: Uint8Array): string {
  try {
    const r = new Reader(request);
    if (r.u8() !== PROTOCOL_VERSION || r.u8() !== ACCOUNT_FORMAT_TAGS.linkRequest) throw new Error('header');
    const user = fromUtf8(r.lp());
    if (isUsername(user)) return user;
  } catch {
    // fall through
  }
  throw new RelayError('bad_request', 'request: not a link request');
}

function answeredAlready(): RelayError {
  return new RelayError('link_conflict', 'this linking channel has been answered already');
}

function notFound(): RelayError {
  return new RelayError('link_not_found', 'no open linking channel of that name for this account: it expired, was used, or the code is wrong');
}
