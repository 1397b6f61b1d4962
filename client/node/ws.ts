// The WebSocket transport of the CLI: the `ws` package, which sets the Authorization header on the
// upgrade and takes a CA certificate (a self-hosted relay with a self-signed one, `--ca FILE`).
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { connectionOf, type SocketConnection, type SocketHandlers, type SocketOptions, type SocketTransport } from '../core/platform/ws.js';
import { RELAY_ID_HEADER } from '../core/relay-http.js';

export const socketTransport: SocketTransport = {
  open(url: string, o: SocketOptions, h: SocketHandlers): SocketConnection {
    const ws = new WebSocket(url, {
      headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
      handshakeTimeout: o.timeoutMs,
      ...(o.ca ? { ca: readFileSync(o.ca) } : {}),
    });
    ws.on('upgrade', (res) => {
      const id = res.headers[RELAY_ID_HEADER];
      h.upgrade(typeof id === 'string' ? id : undefined);
    });
    ws.on('open', () => h.open());
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      h.refused(res.statusCode ?? 0);
    });
    ws.on('error', (e) => h.error(e));
    ws.on('close', (code, reason) => h.close(code, reason.toString()));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) h.text(data.toString());
    });
    return connectionOf(ws, () => ws.terminate());
  },
};
