// Attaches the WebSocket endpoint (GET /v1/ws) to the HTTP server through its `upgrade` event.
// maxPayload is set explicitly: ws refuses a bigger frame from its declared length, before
// buffering it, and closes with 1009 (ws's own default would be 100 MiB).
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { RelayContext } from '../context.js';
import { CLOSE, RelayError, toRelayError, wsCloseCode } from '../errors.js';
import { authenticate, bearer } from '../http/auth.js';
import { Connection } from './connection.js';
import { Hub } from './hub.js';

export interface WsEndpoint {
  hub: Hub;
  wss: WebSocketServer;
  /** Closes every socket with `code` and stops timers. */
  close(code?: number): Promise<void>;
}

export function attachWebSockets(server: Server, ctx: RelayContext): WsEndpoint {
  const wss = new WebSocketServer({ noServer: true, maxPayload: ctx.cfg.maxFrameBytes, perMessageDeflate: false });
  const hub = new Hub(ctx, ctx.bus);
  ctx.presence = hub;
  ctx.submitter.setLocalPusher({ deliver: (committed) => hub.deliver(committed), batch: (fn) => hub.writes.run(fn) });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://relay');
    if (url.pathname !== '/v1/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.on('error', () => {});
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {}); // e.g. 1009 from maxPayload: ws closes the socket itself
      void (async () => {
        let auth;
        try {
          // The token travels only in the Authorization header: a URL is written to proxy and
          // access logs, so a `?token=` is refused even when it is valid (docs/RELAY.md).
          if (url.searchParams.has('token')) throw new RelayError('unauthorized', 'a token in the url is not accepted; send it as Authorization: Bearer');
          auth = await authenticate(ctx, bearer(req.headers.authorization));
        } catch (e) {
          const err = toRelayError(e);
          ctx.metrics.rejects.inc({ code: err.code });
          ws.send(JSON.stringify({ type: 'error', code: err.code, message: err.message }));
          ws.close(wsCloseCode(err.code) ?? CLOSE.unauthorized, err.code);
          return;
        }
        if (ws.readyState !== ws.OPEN) return; // the peer left while its token was looked up
        const conn = new Connection(ctx, hub.writes, ws, auth.tokenHash, auth.user, auth.device);
        ws.on('close', () => hub.remove(conn));
        hub.add(conn);
        await conn.start(hub.ready(conn.addr.user));
      })();
    });
  });

  return {
    hub,
    wss,
    async close(code = CLOSE.goingAway) {
      hub.closeAll(code, 'relay shutting down');
      hub.stop();
      ctx.submitter.setLocalPusher(null);
      // Give close frames a moment to go out, then drop whatever is left.
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          for (const ws of wss.clients) ws.terminate();
          resolve();
        }, 500);
        const check = (): void => {
          if (wss.clients.size === 0) {
            clearTimeout(t);
            resolve();
          } else setTimeout(check, 10);
        };
        check();
      });
      wss.close();
    },
  };
}
