// A front for a relay process, for tests that play the network between a client and its relay, or
// an older relay: each request is read whole and shown to `before`, which may answer it itself or
// hold it unanswered; else it goes to `upstream` as it is, and the relay's reply, read whole, is
// shown to `after`, which may hand back another (status and JSON body), drop the connection, or
// take its time (async) before the reply goes out. On 127.0.0.1 only.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FrontRequest {
  method: string;
  url: string;
  body: Buffer;
}

/** A reply of the front's own: `json` is sent as the body. */
export interface FrontAnswer {
  status: number;
  json: unknown;
}

export interface FrontHooks {
  /** An answer instead of the relay's, 'hold' (never forwarded, never answered), or undefined to forward. */
  before?(req: FrontRequest): FrontAnswer | 'hold' | undefined;
  /** Another reply instead of the relay's, 'drop' (the connection destroyed), or undefined to pass it on. */
  after?(req: FrontRequest, reply: { status: number; body: Buffer }): FrontAnswer | 'drop' | undefined | Promise<FrontAnswer | 'drop' | undefined>;
}

export async function startHttpFront(upstream: string, hooks: FrontHooks): Promise<{ url: string; close(): Promise<void> }> {
  const json = (headers: http.OutgoingHttpHeaders, a: FrontAnswer): [number, http.OutgoingHttpHeaders, Buffer] => {
    const out = Buffer.from(JSON.stringify(a.json));
    return [a.status, { ...headers, 'content-type': 'application/json', 'content-length': String(out.length) }, out];
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: FrontRequest = { method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks) };
      const own = hooks.before?.(r);
      if (own === 'hold') return;
      if (own) {
        const [status, headers, out] = json({}, own);
        res.writeHead(status, headers);
        res.end(out);
        return;
      }
      const up = http.request(upstream + r.url, { method: r.method, headers: req.headers }, (ur) => {
        const body: Buffer[] = [];
        ur.on('data', (c: Buffer) => body.push(c));
        ur.on('end', async () => {
          const reply = { status: ur.statusCode ?? 502, body: Buffer.concat(body) };
          const changed = await hooks.after?.(r, reply);
          if (changed === 'drop') {
            res.socket?.destroy();
            return;
          }
          const relayHeaders: http.OutgoingHttpHeaders = { ...ur.headers };
          delete relayHeaders['transfer-encoding'];
          const [status, headers, out] = changed ? json(relayHeaders, changed) : [reply.status, { ...relayHeaders, 'content-length': String(reply.body.length) }, reply.body];
          res.writeHead(status, headers);
          res.end(out);
        });
      });
      up.on('error', () => res.destroy());
      up.end(r.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
