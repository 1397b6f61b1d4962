// The HTTP app: routes per concept, and errors turned into responses in exactly one place.
import { Hono } from 'hono';
import type { RelayContext } from '../context.js';
import { errorBody, httpStatus, RelayError, toRelayError } from '../errors.js';
import { errInfo } from '../delivery/submitter.js';
import { accountRoutes } from './accounts.js';
import { blobRoutes } from './blobs.js';
import { blockRoutes } from './blocks.js';
import { deviceListRoutes } from './devices.js';
import type { Env } from './auth.js';
import { keyRoutes } from './keys.js';
import { linkingRoutes } from './linking.js';
import { messageRoutes } from './messages.js';
import { opsRoutes } from './ops.js';
import { DEFAULT_WEB_DIR, loadWebFiles, webRoutes } from '../web/index.js';

export function createApp(ctx: RelayContext): Hono<Env> {
  const app = new Hono<Env>();
  app.route('/', opsRoutes(ctx));
  app.route('/', accountRoutes(ctx));
  app.route('/', keyRoutes(ctx));
  app.route('/', deviceListRoutes(ctx));
  app.route('/', linkingRoutes(ctx));
  app.route('/', messageRoutes(ctx));
  app.route('/', blobRoutes(ctx));
  app.route('/', blockRoutes(ctx));
  if (ctx.cfg.webClient) {
    const dir = ctx.cfg.webDir ?? DEFAULT_WEB_DIR;
    const files = loadWebFiles(dir);
    if (files) app.route('/', webRoutes(files));
    else ctx.log.warn({ event: 'web_client_missing', dir }, 'the web client is not built (npm run build); serving the API only');
  }

  app.notFound(() => {
    throw new RelayError('not_found', 'no such route');
  });
  app.onError((err, c) => {
    const e = toRelayError(err);
    if (e.code === 'internal') ctx.log.error({ err: errInfo(err), method: c.req.method, path: c.req.routePath }, 'request failed');
    ctx.metrics.rejects.inc({ code: e.code });
    if (e.retryAfter !== undefined) c.header('Retry-After', String(e.retryAfter));
    return c.json(errorBody(e), httpStatus(e.code) as 400);
  });
  return app;
}
