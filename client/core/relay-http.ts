// The relay's HTTP API (docs/RELAY.md): requests, answers and their errors. The bytes travel over
// the platform's transport (platform/http.ts): node:http(s) in the CLI, fetch in the browser.
import { httpTransport } from '#http-transport';
import { CliError } from '../errors.js';
import { StaleConnection, type HttpAnswer } from './platform/http.js';

export interface RelayTarget {
  url: string; // http(s)://host:port
  ca?: string; // path of a PEM file trusted for this relay
  token?: string;
  /** The relay id this home registered on: an answer naming another one is refused (WrongRelay). */
  relayId?: string;
}

/** The header naming the relay database that answered (docs/RELAY.md "Relay id"). */
export const RELAY_ID_HEADER = 'fastchat-relay-id';

/**
 * The relay at our URL answers with another database's id: it was reset to a fresh database, or
 * another relay took its place. Nothing it says about our token, password or contacts applies to
 * us, so we stop here instead of saying "log in again" or failing queued messages.
 */
export class WrongRelay extends CliError {
  constructor(url: string, expected: string, got: string) {
    super('wrong_relay', `this is not the relay you registered on: ${url} now answers as relay ${got}, but this home registered on relay ${expected} (its database was reset or replaced)`, {
      hint: 'your queued messages are kept; ask the relay operator (docs/RELAY.md "Operations"). If that relay is gone for good, register again with --new-relay',
    });
    this.name = 'WrongRelay';
  }
}

/** Throws WrongRelay when `got` (a relay id header) differs from the id the target expects. */
export function checkRelayId(t: RelayTarget, got: string | string[] | undefined): void {
  if (typeof got === 'string' && got.length > 0) {
    seenRelayIds.set(t.url, got);
    if (t.relayId && got !== t.relayId) throw new WrongRelay(t.url, t.relayId, got);
  }
}

const seenRelayIds = new Map<string, string>();

/** The relay id last seen from `url` in this process (what register and login remember). */
export function relayIdSeen(url: string): string | undefined {
  return seenRelayIds.get(url);
}

/** An error answer of the relay: `{"error":{"code","message"}}` with its HTTP status. */
export class RelayError extends CliError {
  readonly status: number;
  /** Seconds to wait before sending again (`Retry-After`, or `retryAfter` of a WebSocket error). */
  readonly retryAfter: number | undefined;
  constructor(status: number, code: string, message: string, retryAfter?: number) {
    const hint = status === 401 ? 'the relay token expired or was revoked (a logout, a password change, or this device removed from the account): run `fastchat login <username>`' : code === 'banned' ? 'the relay\'s operator banned this account; only they can lift it' : undefined;
    super(code, message, hint ? { hint } : {});
    this.name = 'RelayError';
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Refusals of a send that pass later with the same id (docs/RELAY.md "Order"); the rest never will. */
const RETRYABLE_CODES = new Set(['rate_limited', 'queue_full', 'storage_full', 'internal', 'out_of_order']);

/** The relay refused a send for now: keep it, and everything after it to that recipient, in order. */
export function isRetryableRefusal(e: unknown): e is RelayError {
  return e instanceof RelayError && (RETRYABLE_CODES.has(e.code) || e.status === 429 || e.status >= 500);
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

/** How long one request waits for its answer. */
export const REQUEST_TIMEOUT_MS = 15_000;

/** Frees keep-alive sockets so a short command can exit at once. */
export function closeAgents(): void {
  httpTransport.close();
}

export interface RequestOptions {
  /**
   * Safe to send twice. GET, HEAD, PUT and DELETE are by HTTP semantics; a POST only when the
   * caller says so (POST /v1/messages is: the relay drops a resubmitted client id).
   */
  idempotent?: boolean;
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

/**
 * One HTTP call. A keep-alive socket can go stale while this process is busy: the relay closes
 * idle connections after its keep-alive timeout (5 s by default), and if the event loop was
 * blocked meanwhile (encrypting thousands of queued messages) we never saw the close and reuse the
 * dead socket. That fails with ECONNRESET ("socket hang up") or EPIPE before any answer. The relay
 * almost certainly never saw the request, but it may have: so only an idempotent request is sent
 * once more, on a fresh connection (not from the pool, where more stale sockets may wait). This is
 * not a general retry: a refused connection or a reset of a new socket still means unreachable.
 */
export async function request<T = unknown>(target: RelayTarget, method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  try {
    return await requestOnce<T>(target, method, path, body, true);
  } catch (e) {
    if (!(e instanceof StaleConnection)) throw e;
    if (!(opts.idempotent ?? IDEMPOTENT_METHODS.has(method))) throw new RelayUnreachable(target.url, e.error);
    try {
      return await requestOnce<T>(target, method, path, body, false);
    } catch (again) {
      throw again instanceof StaleConnection ? new RelayUnreachable(target.url, again.error) : again;
    }
  }
}

async function requestOnce<T>(target: RelayTarget, method: string, path: string, body: unknown, pooled: boolean): Promise<T> {
  const url = new URL(path, target.url.endsWith('/') ? target.url : `${target.url}/`);
  const data = body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(body));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (data) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(data.length);
  }
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  // A synchronous throw (an unreadable CA file) is this home's problem, not an unreachable relay.
  const sent = httpTransport.send({ url, method, headers, ...(data ? { body: data } : {}), ...(target.ca ? { ca: target.ca } : {}), fresh: !pooled, timeoutMs: REQUEST_TIMEOUT_MS });
  let res: HttpAnswer;
  try {
    res = await sent;
  } catch (e) {
    throw e instanceof StaleConnection ? e : new RelayUnreachable(target.url, e);
  }
  checkRelayId(target, res.header(RELAY_ID_HEADER));
  const status = res.status;
  const text = new TextDecoder().decode(res.body);
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : {};
  } catch {
    json = undefined;
  }
  if (status >= 200 && status < 300) {
    if (json === undefined) throw new RelayError(status, 'bad_response', 'the relay answered with invalid JSON');
    return json as T;
  }
  const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof err?.code === 'string' ? err.code : `http_${status}`;
  const message = typeof err?.message === 'string' ? err.message : `the relay answered ${status}`;
  const retryAfter = Number(res.header('retry-after'));
  throw new RelayError(status, code, message, Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined);
}

export function isUnreachable(e: unknown): e is RelayUnreachable {
  return e instanceof RelayUnreachable;
}
