// The relay's HTTP API (docs/RELAY.md) over node:http(s), which — unlike the global fetch — takes
// a CA certificate, so a self-hosted relay with a self-signed certificate works via `--ca FILE`.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { CliError } from '../errors.js';

export interface RelayTarget {
  url: string; // http(s)://host:port
  ca?: string; // path of a PEM file trusted for this relay
  token?: string;
}

/** An error answer of the relay: `{"error":{"code","message"}}` with its HTTP status. */
export class RelayError extends CliError {
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(code, message, status === 401 ? { hint: 'the relay token expired or was revoked: run `fastchat login <username>`' } : {});
    this.name = 'RelayError';
    this.status = status;
  }
}

/** The relay could not be reached at all (refused, reset, DNS, TLS): callers queue and retry. */
export class RelayUnreachable extends CliError {
  constructor(url: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const tls = /certificate|self.signed|CERT_|SSL/i.test(why);
    super('relay_unreachable', `cannot reach the relay at ${url} (${why})`, {
      cause,
      hint: tls ? 'for a relay with a self-signed certificate pass --ca FILE (its cert.pem) to register or login' : 'is the relay running? `fastchat send` still queues messages locally',
    });
    this.name = 'RelayUnreachable';
  }
}

const REQUEST_TIMEOUT_MS = 15_000;
const agents = new Map<string, http.Agent>();

function agentFor(target: RelayTarget): http.Agent {
  const key = `${target.url}|${target.ca ?? ''}`;
  let a = agents.get(key);
  if (!a) {
    a = target.url.startsWith('https:')
      ? new https.Agent({ keepAlive: true, ...(target.ca ? { ca: readFileSync(target.ca) } : {}) })
      : new http.Agent({ keepAlive: true });
    agents.set(key, a);
  }
  return a;
}

/** Frees keep-alive sockets so a short command can exit at once. */
export function closeAgents(): void {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

export function request<T = unknown>(target: RelayTarget, method: string, path: string, body?: unknown): Promise<T> {
  const url = new URL(path, target.url.endsWith('/') ? target.url : `${target.url}/`);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (data) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(data.length);
  }
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise<T>((resolve, reject) => {
    const req = lib.request(url, { method, headers, agent: agentFor(target), timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => reject(new RelayUnreachable(target.url, e)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        let json: unknown;
        try {
          json = text.length > 0 ? JSON.parse(text) : {};
        } catch {
          json = undefined;
        }
        if (status >= 200 && status < 300) {
          if (json === undefined) reject(new RelayError(status, 'bad_response', 'the relay answered with invalid JSON'));
          else resolve(json as T);
          return;
        }
        const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
        const code = typeof err?.code === 'string' ? err.code : `http_${status}`;
        const message = typeof err?.message === 'string' ? err.message : `the relay answered ${status}`;
        reject(new RelayError(status, code, message));
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new RelayUnreachable(target.url, e)));
    if (data) req.write(data);
    req.end();
  });
}

export function isUnreachable(e: unknown): e is RelayUnreachable {
  return e instanceof RelayUnreachable;
}
