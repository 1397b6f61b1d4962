// startRelay(options) → a listening relay: one Node HTTP(S) server carrying the Hono app and the
// WebSocket endpoint. close() is the graceful shutdown: stop accepting, flush the pending commit
// batch, close sockets with 1001, close the database.
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { sodiumReady } from '../crypto/sodium.js';
import type { RelayOptions } from './config.js';
import { createContext, type ContextParts, type RelayContext } from './context.js';
import { CLOSE, errorBody, httpStatus } from './errors.js';
import { precheckUpload } from './http/blobs.js';
import { createApp } from './http/index.js';
import { startSweeper } from './sweep.js';
import { attachWebSockets } from './ws/attach.js';

export interface RunningRelay {
  /** http(s)://host:port with the real port (useful with port 0). */
  url: string;
  port: number;
  ctx: RelayContext;
  close(): Promise<void>;
}

export async function startRelay(opts: RelayOptions = {}, parts: ContextParts = {}): Promise<RunningRelay> {
  await sodiumReady();
  const ctx = createContext(opts, parts);
  const { cfg, log } = ctx;
  const app = createApp(ctx);
  const server = (
    cfg.tls
      ? createAdaptorServer({
          fetch: app.fetch,
          createServer: createHttpsServer,
          serverOptions: { cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key) },
        })
      : createAdaptorServer({ fetch: app.fetch })
  ) as Server;
  // Slow-loris guards: a request must arrive whole within these times.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  // `Expect: 100-continue` on a blob upload: answer from the headers alone (see precheckUpload).
  server.on('checkContinue', (req, res) => {
    const refusal = req.method === 'POST' && req.url?.split('?')[0] === '/v1/blobs' ? precheckUpload(ctx, req.headers.authorization, req.headers['content-length']) : null;
    if (refusal) {
      ctx.metrics.rejects.inc({ code: refusal.code });
      res.writeHead(httpStatus(refusal.code), { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify(errorBody(refusal)));
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });
  const ws = attachWebSockets(server, ctx);
  const stopSweeper = startSweeper(ctx);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log.error({ err: { message: e.message } }, 'server error'));
  const port = (server.address() as AddressInfo).port;
  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const url = `${cfg.tls ? 'https' : 'http'}://${host}:${port}`;
  log.info({ event: 'listening', url, synchronous: cfg.synchronous, db: cfg.db }, 'relay listening');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      log.info({ event: 'shutdown' }, 'relay shutting down');
      stopSweeper();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      ctx.submitter.flush(); // in-flight writes are committed and acked before sockets close
      await new Promise((r) => setImmediate(r)); // let the acks of that flush go out
      await ws.close(CLOSE.goingAway);
      server.closeAllConnections();
      await stopped;
      ctx.submitter.flush();
      ctx.bus.close();
      ctx.blobs.close();
      ctx.store.close();
      log.info({ event: 'stopped' }, 'relay stopped');
    })();
    return closing;
  };
  return { url, port, ctx, close };
}
