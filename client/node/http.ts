// The HTTP transport of the CLI: node:http(s), which — unlike the global fetch — takes a CA
// certificate, so a self-hosted relay with a self-signed certificate works via `--ca FILE`.
// Connections are kept alive per relay and CA.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { StaleConnection, type HttpAnswer, type HttpRequest, type HttpTransport } from '../core/platform/http.js';

const agents = new Map<string, http.Agent>();

function agentFor(r: HttpRequest): http.Agent {
  const key = `${r.url.origin}|${r.ca ?? ''}`;
  let a = agents.get(key);
  if (!a) {
    a = r.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, ...(r.ca ? { ca: readFileSync(r.ca) } : {}) }) : new http.Agent({ keepAlive: true });
    agents.set(key, a);
  }
  return a;
}

/** A connection dropped under a request: what a stale kept-alive socket produces. */
function isConnectionDrop(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

export const httpTransport: HttpTransport = {
  send(r: HttpRequest): Promise<HttpAnswer> {
    const lib = r.url.protocol === 'https:' ? https : http;
    // `agent: false` gives a one-off connection; it needs the CA itself.
    const connection = r.fresh ? { agent: false as const, ...(r.ca ? { ca: readFileSync(r.ca) } : {}) } : { agent: agentFor(r) };
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = lib.request(r.url, { method: r.method, headers: r.headers, ...connection, timeout: r.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const header = (name: string): string | undefined => {
            const v = res.headers[name];
            return Array.isArray(v) ? v.join(', ') : v;
          };
          resolve({ status: res.statusCode ?? 0, header, body: Buffer.concat(chunks) });
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) => reject(req.reusedSocket && isConnectionDrop(e) ? new StaleConnection(e) : e));
      if (r.body) req.write(r.body);
      req.end();
    });
  },
  close() {
    for (const a of agents.values()) a.destroy();
    agents.clear();
  },
};
