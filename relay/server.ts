// startRelay(options) → a listening relay: one Node HTTP(S) server carrying the Hono app and the
// WebSocket endpoint. close() is the graceful shutdown: stop accepting, flush the pending commit
// batch, close sockets with 1001, close the database.
//
// Start-up order, so a relay that cannot start has changed nothing:
//  1. bind the port (port in use: stop here, before the database is created or opened);
//  2. take the database's exclusive lock (store/lock.ts: a second relay on one file stops here);
//  3. check the file read-only (store/verify.ts: integrity, commit counter against the high-water
//     mark, relay id; a damaged or rolled-back database stops here, its -wal left as it was);
//  4. only then open it for writing, and serve.
// Until the app exists (opening a PostgreSQL store takes round trips) the fetch below answers 503;
// the "listening" line is printed only after startRelay returns.
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { sodiumReady } from '../crypto/sodium.js';
import { resolveConfig, type RelayConfig, type RelayOptions } from './config.js';
import { createContext, modeFixedWarning, type ContextParts, type RelayContext } from './context.js';
import { createLogger, type Logger } from './log.js';
import { CLOSE, errorBody, httpStatus } from './errors.js';
import { precheckUpload } from './http/blobs.js';
import { createApp } from './http/index.js';
import { DatabaseLock } from './store/lock.js';
import { MarkWriter, writeMarkNow } from './store/mark.js';
import { openSqliteStore, type Store } from './store/index.js';
import { openPostgresStore, redactUrl } from './store/postgres/index.js';
import { LocalBus, type Bus } from './bus/index.js';
import { NatsBus } from './bus/nats.js';
import { assertServable, type DatabaseReport } from './store/verify.js';
import { startSweeper } from './sweep.js';
import { attachWebSockets } from './ws/attach.js';

/** Every HTTP answer and WebSocket upgrade names the database's relay id (docs/RELAY.md). */
export const RELAY_ID_HEADER = 'Fastchat-Relay-Id';

interface OpenedDatabase {
  store: Store;
  report: DatabaseReport | null;
  release(): void;
}

/**
 * Steps 2-4 above for a database file; an injected store (tests) or ':memory:' skips them. A
 * PostgreSQL store is shared by every node, so there is no lock or file to check: its schema
 * version is checked instead (store/postgres/migrate.ts).
 */
async function openDatabase(cfg: RelayConfig, parts: ContextParts, log: Logger): Promise<OpenedDatabase> {
  if (parts.store) return { store: parts.store, report: null, release: () => {} };
  if (cfg.postgres !== null) {
    const store = await openPostgresStore(cfg.postgres, {
      poolMax: cfg.postgresPoolMax,
      onPoolError: (e) => log.warn({ event: 'store_connection_lost', err: { message: e.message } }, 'a PostgreSQL connection failed; it is replaced on next use'),
    });
    return { store, report: null, release: () => {} };
  }
  const onModeFixed = modeFixedWarning(log);
  if (cfg.db === ':memory:' || cfg.db === '') return { store: openSqliteStore(cfg.db, { synchronous: cfg.synchronous, onModeFixed }), report: null, release: () => {} };
  const lock = DatabaseLock.take(cfg.db);
  let mark: MarkWriter | null = null;
  try {
    const report = assertServable(cfg.db, cfg.integrityCheck);
    const store = openSqliteStore(cfg.db, { synchronous: cfg.synchronous, onCommit: (n) => mark?.write(n), onModeFixed });
    writeMarkNow(cfg.db, { relayId: store.relayId, commits: store.commits() });
    mark = new MarkWriter(cfg.db, store.relayId);
    const opened = mark;
    return {
      store,
      report,
      release: () => {
        opened.close();
        lock.release();
      },
    };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** The bus: NATS between nodes when configured, else in-process. */
function openBus(cfg: RelayConfig, parts: ContextParts, log: Logger): Bus {
  if (parts.bus) return parts.bus;
  if (cfg.bus === null) return new LocalBus();
  return new NatsBus({ servers: cfg.bus.split(',').map((u) => u.trim()), nodeName: cfg.nodeName, log });
}

export interface RunningRelay {
  /** http(s)://host:port with the real port (useful with port 0). */
  url: string;
  port: number;
  ctx: RelayContext;
  close(): Promise<void>;
}

export async function startRelay(opts: RelayOptions = {}, parts: ContextParts = {}): Promise<RunningRelay> {
  await sodiumReady();
  const cfg = resolveConfig(opts);
  let fetchApp: ((req: Request, env: unknown) => Response | Promise<Response>) | null = null;
  let relayId = '';
  const fetch = async (req: Request, env: unknown): Promise<Response> => {
    if (!fetchApp) return new Response(JSON.stringify({ error: { code: 'internal', message: 'starting' } }), { status: 503 });
    const res = await fetchApp(req, env);
    res.headers.set(RELAY_ID_HEADER, relayId);
    return res;
  };
  const server = (
    cfg.tls
      ? createAdaptorServer({
          fetch,
          createServer: createHttpsServer,
          serverOptions: { cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key) },
        })
      : createAdaptorServer({ fetch })
  ) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let db: OpenedDatabase;
  let ctx: RelayContext;
  const log = parts.log ?? createLogger(cfg.logLevel);
  try {
    db = await openDatabase(cfg, parts, log);
    try {
      ctx = createContext(opts, { ...parts, log, store: db.store, bus: openBus(cfg, parts, log) });
    } catch (e) {
      await db.store.close();
      db.release();
      throw e;
    }
  } catch (e) {
    server.close();
    throw e;
  }
  relayId = ctx.store.relayId;
  for (const w of db.report?.warnings ?? []) log.warn({ event: 'database_warning' }, w);
  if (db.report?.integrity) log.info({ event: 'integrity_check', mode: db.report.integrity.mode, ms: db.report.integrity.ms }, 'database checked');
  const app = createApp(ctx);
  fetchApp = app.fetch;
  // Slow-loris guards: a request must arrive whole within these times.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  // `Expect: 100-continue` on a blob upload: answer from the headers alone (see precheckUpload).
  server.on('checkContinue', async (req, res) => {
    const refusal = req.method === 'POST' && req.url?.split('?')[0] === '/v1/blobs' ? await precheckUpload(ctx, req.headers.authorization, req.headers['content-length']) : null;
    if (refusal) {
      ctx.metrics.rejects.inc({ code: refusal.code });
      res.writeHead(httpStatus(refusal.code), { 'content-type': 'application/json', connection: 'close', [RELAY_ID_HEADER]: relayId });
      res.end(JSON.stringify(errorBody(refusal)));
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });
  const removed = await ctx.blobs.collectGarbage();
  if (removed > 0) log.info({ event: 'blob_cleanup', files: removed }, 'removed unfinished or orphaned blob files');
  const ws = attachWebSockets(server, ctx);
  ws.wss.on('headers', (headers) => headers.push(`${RELAY_ID_HEADER}: ${relayId}`));
  const stopSweeper = startSweeper(ctx);
  server.on('error', (e) => log.error({ err: { message: e.message } }, 'server error'));
  const port = (server.address() as AddressInfo).port;
  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const url = `${cfg.tls ? 'https' : 'http'}://${host}:${port}`;
  log.info(
    { event: 'listening', url, relayId, node: ctx.bus.node, ...(cfg.postgres === null ? { db: cfg.db, synchronous: cfg.synchronous } : { store: redactUrl(cfg.postgres), bus: cfg.bus ?? 'local' }) },
    'relay listening',
  );

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      log.info({ event: 'shutdown' }, 'relay shutting down');
      const swept = stopSweeper();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await ctx.submitter.flush(); // in-flight writes are committed and acked before sockets close
      await new Promise((r) => setImmediate(r)); // let the acks of that flush go out
      await ws.close(CLOSE.goingAway);
      server.closeAllConnections();
      await stopped;
      await ctx.submitter.flush();
      await swept;
      await ctx.bus.close();
      ctx.blobs.close();
      await ctx.store.close();
      db.release();
      log.info({ event: 'stopped' }, 'relay stopped');
    })();
    return closing;
  };
  return { url, port, ctx, close };
}
