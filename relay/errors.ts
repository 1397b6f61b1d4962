// Relay errors: one class with stable codes, and the ONE place that maps a code to an HTTP status
// and a WebSocket close code (the Hono `onError` model). Handlers throw; they never pick statuses.
import { FastchatError, isFastchatError } from '../crypto/errors.js';

export const RELAY_ERROR_CODES = [
  'bad_request', // a body or frame that does not validate (shape, types, base64url, sizes)
  'invalid_username', // a username outside [a-z0-9_]{3,32} after lowercasing
  'username_taken', // register with a name that exists (case-folded)
  'bad_credentials', // wrong username or password (never says which)
  'unauthorized', // missing, unknown, expired or revoked token
  'banned', // the account is banned by an operator
  'rate_limited', // a token bucket is empty, or argon2 work is saturated
  'unknown_user', // a username with no account
  'unknown_device', // a device that never logged in for that account
  'bad_signature', // a bundle whose identity or signed-prekey signature does not verify
  'queue_full', // a recipient's queue is at its count or byte quota
  'stale_epoch', // a group message for an epoch older than the newest the relay has seen for its group
  'out_of_order', // an earlier send to the same recipient on this connection was refused: resend that first
  'payload_too_large', // a body over maxBodyBytes or a message over maxMessageBytes
  'not_found', // an unknown route, or a blob that does not exist (or is not shared with the caller)
  'length_required', // a blob upload without Content-Length (the size is checked before the body)
  'quota_exceeded', // the uploader's blob storage quota would be exceeded; nothing was stored
  'storage_full', // the relay's disk is below its headroom (--min-free-bytes): no new messages or blobs; acks still work
  'range_not_satisfiable', // a blob download Range outside the blob
  'too_many_devices', // a login with a new device id on an account at its device cap, or a device list naming more devices than the cap
  'bad_device_list', // an uploaded device list that does not parse, is another account's, does not follow the stored one, or leaves out the uploading device
  'device_removed', // a login as a device id the account's device list removed (until a later list holds it again)
  'password_login_required', // a device-list upload with replace from a session not made by a password login in the last minutes
  'device_list_conflict', // an uploaded device list whose version the relay already holds (another device changed the list first): fetch and rebuild
  'link_not_found', // no open linking channel of that name for this account: it expired, was used, or never existed
  'link_conflict', // a linking channel name already open (the new device draws another code), or a channel already answered (a replayed approve)
  'bad_ticket', // a device ticket that is unknown, expired or already redeemed
  'unavailable', // the relay cannot reach its database right now (a PostgreSQL restart): try again
  'internal', // a bug; the message says nothing more
] as const;

export type RelayErrorCode = (typeof RELAY_ERROR_CODES)[number];

export class RelayError extends FastchatError<RelayErrorCode> {
  /** Seconds the client should wait (rate_limited only): becomes Retry-After. */
  readonly retryAfter: number | undefined;
  constructor(code: RelayErrorCode, message: string, opts: { retryAfter?: number; cause?: unknown } = {}) {
    super(code, message, { cause: opts.cause });
    this.name = 'RelayError';
    this.retryAfter = opts.retryAfter;
  }
}

export function isRelayError(e: unknown, code?: RelayErrorCode): e is RelayError {
  return e instanceof RelayError && (code === undefined || e.code === code);
}

const HTTP_STATUS: Record<RelayErrorCode, number> = {
  bad_request: 400,
  invalid_username: 400,
  bad_signature: 400,
  bad_device_list: 400,
  bad_credentials: 401,
  unauthorized: 401,
  banned: 403,
  too_many_devices: 403,
  device_removed: 403,
  password_login_required: 403,
  unknown_user: 404,
  unknown_device: 404,
  not_found: 404,
  username_taken: 409,
  stale_epoch: 409,
  out_of_order: 409,
  device_list_conflict: 409,
  link_conflict: 409,
  link_not_found: 404,
  bad_ticket: 401,
  payload_too_large: 413,
  length_required: 411,
  range_not_satisfiable: 416,
  quota_exceeded: 507,
  queue_full: 507,
  storage_full: 507,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
};

export function httpStatus(code: RelayErrorCode): number {
  return HTTP_STATUS[code];
}

/**
 * A refusal the client is expected to resend later with the same id (a limit, a full queue or
 * disk, a failure of ours), as opposed to one that will never pass (bad input, unknown recipient).
 * Per-recipient order on a connection holds across these (ws/order-gate.ts).
 */
export function isRetryable(code: RelayErrorCode): boolean {
  const status = HTTP_STATUS[code];
  return code === 'out_of_order' || status === 429 || status >= 500;
}

/** WebSocket close codes (RFC 6455 §7.4.1 and our 4xxx range), listed in docs/RELAY.md. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001, // relay shutting down
  invalidPayload: 1007, // a frame that is not JSON text
  policy: 1008, // repeated bad frames, banned
  tooBig: 1009, // a frame over maxFrameBytes
  unauthorized: 4001,
  tryAgainLater: 1013, // the relay cannot reach its store right now
  replaced: 4002, // a newer connection of the same device took over
} as const;

/** Errors that end a WebSocket connection rather than being answered with an error frame. */
export function wsCloseCode(code: RelayErrorCode): number | null {
  if (code === 'unauthorized') return CLOSE.unauthorized;
  if (code === 'banned') return CLOSE.policy;
  if (code === 'unavailable') return CLOSE.tryAgainLater;
  return null;
}

/**
 * Any thrown value → a RelayError safe to show a client. Crypto errors from bundle checks keep
 * their meaning (bad_signature) or become bad_request; anything else is `internal` with no detail.
 */
export function toRelayError(e: unknown): RelayError {
  if (e instanceof RelayError) return e;
  if (isStoreUnavailable(e)) return new RelayError('unavailable', 'the relay cannot reach its database right now; try again shortly');
  if (isFastchatError(e)) {
    if (e.code === 'bad_signature') return new RelayError('bad_signature', e.message);
    if (e.code === 'malformed' || e.code === 'invalid_argument' || e.code === 'unsupported_version' || e.code === 'bad_key') {
      return new RelayError('bad_request', e.message);
    }
  }
  return new RelayError('internal', 'internal error');
}

/**
 * The database did not answer (refused, reset, shutting down, a pool that timed out): nothing was
 * done, and the same request may pass in a moment. PostgreSQL's codes: class 08 (connection
 * exception), 57P01-57P03 (shutdown, crash recovery, not yet accepting connections).
 */
export function isStoreUnavailable(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === 'ECONNREFUSED' || code === 'ECONNRESET')) return true;
  const message = (e as { message?: unknown } | null)?.message;
  return typeof message === 'string' && /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(message);
}

export function errorBody(e: RelayError): { error: { code: RelayErrorCode; message: string } } {
  return { error: { code: e.code, message: e.message } };
}
