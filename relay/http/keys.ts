// The key directory. Bundles are parsed by crypto/'s strict JSON readers (exact key lengths, no
// extra fields) and both signatures verified before anything is stored; the relay only ever sees
// public keys. GET /v1/keys/:username hands out each one-time prekey at most once (store.takeBundles).
import { Hono } from 'hono';
import { toBase64url } from '../../crypto/encoding.js';
import { verifyIdentity } from '../../crypto/identity.js';
import { identityFromJson, oneTimePreKeyFromJson, signedPreKeyFromJson, verifySignedPreKey } from '../../crypto/prekeys.js';
import { sodiumReady } from '../../crypto/sodium.js';
import type { RelayContext } from '../context.js';
import { RelayError } from '../errors.js';
import { isUsername, putKeysBody, rotateBody, topUpBody } from '../schemas.js';
import type { DeviceBundle, OneTimePreKeyBytes } from '../store/index.js';
import { readJson } from './body.js';
import { requireAuth, type Env } from './auth.js';

export function keyRoutes(ctx: RelayContext): Hono<Env> {
  const app = new Hono<Env>();
  const auth = requireAuth(ctx);

  app.put('/v1/keys', auth, async (c) => {
    const a = c.get('auth');
    const body = await readJson(c, putKeysBody, ctx.cfg.maxBodyBytes);
    await sodiumReady();
    const identity = identityFromJson(body.identity);
    verifyIdentity(identity);
    const spk = signedPreKeyFromJson(body.signedPreKey);
    verifySignedPreKey(identity, spk);
    const otks = parseOneTimePreKeys(body.oneTimePreKeys, ctx.cfg.maxOneTimePreKeys);
    const n = await ctx.store.putBundle(a.user, a.device, identity, spk, otks, ctx.now());
    ctx.log.info({ event: 'keys_put', user: a.user, device: a.device, oneTimePreKeys: n }, 'bundle published');
    return c.json({ oneTimePreKeys: n });
  });

  app.post('/v1/keys/one-time', auth, async (c) => {
    const a = c.get('auth');
    const body = await readJson(c, topUpBody, ctx.cfg.maxBodyBytes);
    const otks = parseOneTimePreKeys(body.oneTimePreKeys, ctx.cfg.maxOneTimePreKeys);
    await ctx.store.touchDevice(a.user, a.device, ctx.now());
    const n = await ctx.store.addOneTimePreKeys(a.user, a.device, otks, ctx.cfg.maxOneTimePreKeys);
    return c.json({ oneTimePreKeys: n });
  });

  app.put('/v1/keys/signed', auth, async (c) => {
    const a = c.get('auth');
    const body = await readJson(c, rotateBody, ctx.cfg.maxBodyBytes);
    await sodiumReady();
    const spk = signedPreKeyFromJson(body.signedPreKey);
    const identity = await ctx.store.getIdentity(a.user, a.device);
    if (!identity) throw new RelayError('not_found', 'no key bundle published for this device yet');
    verifySignedPreKey(identity, spk);
    await ctx.store.setSignedPreKey(a.user, a.device, spk);
    return c.json({});
  });

  app.get('/v1/keys/count', auth, async (c) => {
    const a = c.get('auth');
    return c.json({ oneTimePreKeys: await ctx.store.countOneTimePreKeys(a.user, a.device) });
  });

  // Registered before /v1/keys/:username so `identity` is never read as a username.
  app.get('/v1/keys/:username/identity', auth, async (c) => {
    const username = c.req.param('username').toLowerCase();
    const devices = isUsername(username) ? await ctx.store.listIdentities(username) : undefined;
    if (!devices) throw new RelayError('unknown_user', `unknown user: ${JSON.stringify(username.slice(0, 64))}`);
    return c.json({ username, devices: devices.map((d) => ({ deviceId: d.deviceId, identity: identityJson(d.identity) })) });
  });

  app.get('/v1/keys/:username', auth, async (c) => {
    const a = c.get('auth');
    const username = c.req.param('username').toLowerCase();
    // Each fetch hands out one-time prekeys, so without a limit any account could empty a
    // stranger's supply in a few dozen calls. Over a limit the fetch is refused (rate_limited,
    // nothing handed out), as Signal-Server does, rather than served without a one-time prekey: a
    // silent downgrade would weaken the first message (no one-time prekey in X3DH) with no sign
    // to the sender, and would make a bundle without one normal from an honest relay.
    if (isUsername(username)) {
      // (Bucket keys are text in PostgreSQL, which takes no NUL: the pair is joined with ">".)
      await ctx.charge([{ limit: 'bundles', key: a.user }, { limit: 'bundlesPerTarget', key: `${a.user}>${username}` }], ctx.now());
    }
    const bundles = isUsername(username) ? await ctx.store.takeBundles(username) : undefined;
    if (!bundles) throw new RelayError('unknown_user', `unknown user: ${JSON.stringify(username.slice(0, 64))}`);
    for (const b of bundles) {
      if (b.remaining < ctx.cfg.preKeysLowThreshold) ctx.bus.publish({ kind: 'prekeys_low', user: username, device: b.deviceId, count: b.remaining });
    }
    return c.json({ username, devices: bundles.map(bundleJson) });
  });

  return app;
}

function parseOneTimePreKeys(raw: unknown[], max: number): OneTimePreKeyBytes[] {
  if (raw.length > max) throw new RelayError('bad_request', `too many one-time prekeys: ${raw.length} > ${max}`);
  return raw.map((k) => oneTimePreKeyFromJson(k));
}

function identityJson(i: DeviceBundle['identity']) {
  return { dhPublic: toBase64url(i.dhPublic), signPublic: toBase64url(i.signPublic), signature: toBase64url(i.signature) };
}

function bundleJson(b: DeviceBundle) {
  return {
    deviceId: b.deviceId,
    identity: identityJson(b.identity),
    signedPreKey: { id: b.signedPreKey.id, createdAt: b.signedPreKey.createdAt, publicKey: toBase64url(b.signedPreKey.publicKey), signature: toBase64url(b.signedPreKey.signature) },
    oneTimePreKey: b.oneTimePreKey && { id: b.oneTimePreKey.id, publicKey: toBase64url(b.oneTimePreKey.publicKey) },
  };
}
