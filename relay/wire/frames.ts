// The hot WebSocket frames, checked and built by hand. `send` and `ack` arrive once per message,
// and zod's generic walk over a discriminated union was ~9 % of the relay's CPU (bench profile),
// so `parseClientFrame` checks exactly what `clientFrame` in ../schemas.ts checks, in straight-line
// code. It only ever accepts: anything it is unsure of returns undefined and the caller runs the zod
// schema, which decides and words the error (so error codes and messages stay zod's).
// relay/wire/frames.test.ts checks the two agree on random and mutated frames.
import { DEVICE_ID_MAX } from '../../crypto/consts.js';
import { MAX_ACKS, type ClientFrame } from '../schemas.js';

const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;
const DELIVERY_ID = /^[0-9]{1,16}$/;
const MAX_TO = 100_000;

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Own enumerable keys are exactly `names` (zod's .strict(): none missing, none extra). */
function hasExactly(o: Obj, names: readonly string[]): boolean {
  const keys = Object.keys(o);
  if (keys.length !== names.length) return false;
  for (const k of keys) if (!names.includes(k)) return false;
  return true;
}

const SEND_KEYS = ['type', 'id', 'to', 'body'] as const;
const ACK_KEYS = ['type', 'id'] as const;
const ACKS_KEYS = ['type', 'ids'] as const;
const PING_KEYS = ['type'] as const;
const AUTH_KEYS = ['type', 'token'] as const;
const ADDRESS_KEYS = ['user', 'device'] as const;

function isAddress(a: unknown): boolean {
  if (!isObject(a) || !hasExactly(a, ADDRESS_KEYS)) return false;
  const { user, device } = a;
  return typeof user === 'string' && user.length <= 64 && typeof device === 'number' && Number.isInteger(device) && device >= 1 && device <= DEVICE_ID_MAX;
}

/**
 * The token of an auth frame, `{"type":"auth","token":"<token>"}` and nothing else (docs/RELAY.md
 * "WebSocket API"), or undefined. Whether the token is any good is authenticate()'s to say.
 */
export function authFrameToken(v: unknown): string | undefined {
  return isObject(v) && v.type === 'auth' && hasExactly(v, AUTH_KEYS) && typeof v.token === 'string' ? v.token : undefined;
}

/** A valid client frame, or undefined: then validate with zod's `clientFrame` for the verdict. */
export function parseClientFrame(v: unknown): ClientFrame | undefined {
  if (!isObject(v)) return undefined;
  switch (v.type) {
    case 'send': {
      if (!hasExactly(v, SEND_KEYS)) return undefined;
      const { id, to, body } = v;
      if (typeof id !== 'string' || !CLIENT_ID.test(id)) return undefined;
      if (typeof body !== 'string' || !B64URL.test(body)) return undefined;
      if (!Array.isArray(to) || to.length < 1 || to.length > MAX_TO) return undefined;
      for (const a of to) if (!isAddress(a)) return undefined;
      return v as ClientFrame;
    }
    case 'ack':
      return hasExactly(v, ACK_KEYS) && typeof v.id === 'string' && DELIVERY_ID.test(v.id) ? (v as ClientFrame) : undefined;
    case 'acks': {
      if (!hasExactly(v, ACKS_KEYS)) return undefined;
      const { ids } = v;
      if (!Array.isArray(ids) || ids.length < 1 || ids.length > MAX_ACKS) return undefined;
      for (const id of ids) if (typeof id !== 'string' || !DELIVERY_ID.test(id)) return undefined;
      return v as ClientFrame;
    }
    case 'ping':
      return hasExactly(v, PING_KEYS) ? (v as ClientFrame) : undefined;
    default:
      return undefined;
  }
}

/**
 * A `message` frame as JSON text, built without JSON.stringify walking an object: the body is
 * base64url and the delivery id a number (nothing to escape); the short strings are escaped.
 */
export function messageFrame(deliveryId: number, clientId: string, fromUser: string, fromDevice: number, body: string, sentAt: string): string {
  return `{"type":"message","id":"${deliveryId}","clientId":${JSON.stringify(clientId)},"from":{"user":${JSON.stringify(fromUser)},"device":${fromDevice}},"body":"${body}","sentAt":"${sentAt}"}`;
}

/**
 * An expiry notice (docs/RELAY.md "Expiry notices"): `messages` is the JSON array the sweep stored
 * as the notice's body, written by the relay itself (store/sqlite.ts), so it is spliced in as is.
 */
export function expiredFrame(deliveryId: number, messagesJson: Uint8Array): string {
  return `{"type":"expired","id":"${deliveryId}","messages":${Buffer.from(messagesJson.buffer, messagesJson.byteOffset, messagesJson.byteLength).toString('utf8')}}`;
}

/** The durable ack of a send. */
export function sentFrame(clientId: string, storedAt: string): string {
  return `{"type":"sent","id":${JSON.stringify(clientId)},"storedAt":"${storedAt}"}`;
}

/**
 * An ephemeral message (docs/RELAY.md "Ephemeral sends"): as `message`, without a delivery id,
 * since nothing is stored and there is nothing to ack. `body` was checked as base64url on the way in.
 */
export function ephemeralFrame(clientId: string, fromUser: string, fromDevice: number, body: string, sentAt: string): string {
  return `{"type":"ephemeral","clientId":${JSON.stringify(clientId)},"from":{"user":${JSON.stringify(fromUser)},"device":${fromDevice}},"body":"${body}","sentAt":"${sentAt}"}`;
}

/** The answer to an ephemeral send: the same whether it reached a device or none. */
export function relayedFrame(clientId: string): string {
  return `{"type":"relayed","id":${JSON.stringify(clientId)}}`;
}
