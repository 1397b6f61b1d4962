// Attaches the WebSocket endpoint (GET /v1/ws) to the HTTP server through its `upgrade` event.
// maxPayload is set explicitly: ws refuses a bigger frame from its declared length, before
// buffering it, and closes with 1009 (ws's own default would be 100 MiB).
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { RelayContext } from '../context.js';
import { CLOSE, RelayError, toRelayError, wsCloseCode } from '../errors.js';
import { authenticate, bearer } from '../http/auth.js';
import { Connection, rawToString } from './connection.js';
import { Hub } from './hub.js';
import { authFrameToken } from '../wire/frames.js';

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
      // Without the header the first frame carries the token (a browser cannot set headers on a
      // WebSocket); a socket with the header never gets that choice, so a bad header is final.
      const byFrame = req.headers.authorization === undefined ? awaitAuthFrame(ws, ctx.cfg.wsAuthTimeoutMs) : null;
      void (async () => {
        let auth;
        try {
          // The token travels only in the Authorization header or the first frame: a URL is written
          // to proxy and access logs, so a `?token=` is refused even when it is valid (docs/RELAY.md).
          if (url.searchParams.has('token')) throw new RelayError('unauthorized', 'a token in the url is not accepted; send it as Authorization: Bearer or in an auth frame');
          auth = await authenticate(ctx, byFrame ? await byFrame.token : bearer(req.headers.authorization));
        } catch (e) {
          byFrame?.stop();
          if (e === GONE || ws.readyState !== ws.OPEN) return;
          const err = toRelayError(e);
          ctx.metrics.rejects.inc({ code: err.code });
          ws.send(JSON.stringify({ type: 'error', code: err.code, message: err.message }));
          ws.close(wsCloseCode(err.code) ?? CLOSE.unauthorized, err.code);
          return;
        }
        byFrame?.stop();
        if (ws.readyState !== ws.OPEN) return; // the peer left while its token was looked up
        const conn = new Connection(ctx, hub.writes, ws, auth.tokenHash, auth.user, auth.device, (to, frame) => hub.pushEphemeral(to, frame));
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

/** The socket closed before it authenticated: nobody is left to answer. */
const GONE = new Error('the socket closed before authenticating');

/**
 * The token of the socket's first frame, which must be an auth frame and come within `ms`; anything
 * else (another frame, binary, silence) rejects with unauthorized. Until `stop()` (called once the
 * token has been looked up) a second frame — sent before the hello — closes the socket with 1008:
 * nothing but the auth frame is read before the connection is authenticated.
 */
function awaitAuthFrame(ws: WebSocket, ms: number): { token: Promise<string>; stop(): void } {
  let frames = 0;
  let onMessage: (data: RawData, isBinary: boolean) => void = () => {};
  let onClose: () => void = () => {};
  let timer: NodeJS.Timeout | undefined;
  const token = new Promise<string>((resolve, reject) => {
    timer = setTimeout(() => reject(new RelayError('unauthorized', `no auth frame within ${ms} ms`)), ms);
    onClose = () => reject(GONE);
    onMessage = (data, isBinary) => {
      if (++frames > 1) {
        ws.send(JSON.stringify({ type: 'error', code: 'bad_request', message: 'nothing but the auth frame is accepted before hello' }));
        ws.close(CLOSE.policy, 'frame before hello');
        return;
      }
      clearTimeout(timer);
      let t: string | undefined;
      try {
        t = isBinary ? undefined : authFrameToken(JSON.parse(rawToString(data)));
      } catch {
        t = undefined;
      }
      if (t === undefined) reject(new RelayError('unauthorized', 'without an Authorization header the first frame must be {"type":"auth","token":"<token>"}'));
      else resolve(t);
    };
    ws.on('message', onMessage);
    ws.once('close', onClose);
  });
  token.catch(() => {}); // awaited by the caller; a late rejection after stop() is nobody's
  return {
    token,
    stop() {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
    },
  };
}
