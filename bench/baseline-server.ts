// The baseline: the least a WebSocket forwarder can do with the same library (ws) and the same
// frames. A client connects with ?id=NAME; each text frame is parsed only to find `to[].user`, and
// the frame is sent as it came to each named socket. No auth, no storage, no acks, no limits.
// The relay is compared against this in the same run, on the same machine.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { workerMain } from './lib/procs.js';

workerMain(async (_job: Record<string, never>, ctl) => {
  const sockets = new Map<string, WebSocket>();
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 256 * 1024 });
  wss.on('connection', (ws, req) => {
    const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
    sockets.set(id, ws);
    ws.on('error', () => {});
    ws.on('close', () => {
      if (sockets.get(id) === ws) sockets.delete(id);
    });
    ws.on('message', (data, isBinary) => {
      let to: { user: string }[];
      try {
        to = (JSON.parse(data.toString()) as { to: { user: string }[] }).to;
      } catch {
        return;
      }
      if (!Array.isArray(to)) return;
      for (const a of to) sockets.get(a.user)?.send(data, { binary: isBinary });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ctl.post({ type: 'listening', port: (server.address() as AddressInfo).port });
  // Runs until the parent stops it (SIGTERM) — it never posts a result.
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  for (const ws of wss.clients) ws.terminate();
  server.close();
  process.exit(0);
});
