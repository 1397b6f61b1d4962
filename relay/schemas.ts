// zod schemas for every HTTP body and WebSocket frame the relay accepts. Shapes only; key bytes
// are then parsed by crypto/'s strict JSON readers (exact lengths) and signatures verified.
import { z } from 'zod';
import { DEVICE_ID_MAX, USERNAME_PATTERN } from '../crypto/consts.js';

/** Usernames are case-folded: input is lowercased, then must match [a-z0-9_]{3,32}. */
export const usernameInput = z.string().max(64).transform((s) => s.toLowerCase());
export const isUsername = (s: string): boolean => USERNAME_PATTERN.test(s);

export const deviceId = z.number().int().min(1).max(DEVICE_ID_MAX);
/** Passwords: 8..1024 chars. The upper bound keeps argon2's input (and our memory) bounded. */
export const password = z.string().min(8).max(1024);
export const clientId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const b64url = z.string().regex(/^[A-Za-z0-9_-]*$/);

export const registerBody = z.object({ username: usernameInput, password: z.string().max(1024) }).strict();
export const loginBody = z.object({ username: usernameInput, password: z.string().max(1024), deviceId: deviceId.optional() }).strict();
export const passwordBody = z.object({ oldPassword: z.string().max(1024), newPassword: z.string().max(1024) }).strict();

const rawKey = z.unknown();
export const putKeysBody = z.object({ identity: rawKey, signedPreKey: rawKey, oneTimePreKeys: z.array(rawKey).max(10_000) }).strict();
export const topUpBody = z.object({ oneTimePreKeys: z.array(rawKey).min(1).max(10_000) }).strict();
export const rotateBody = z.object({ signedPreKey: rawKey }).strict();

/** A signed device list, base64url (a list of MAX_DEVICES entries is under 1 KiB). */
export const putDeviceListBody = z.object({ list: b64url.min(1).max(4096), replace: z.literal(true).optional() }).strict();

export const address = z.object({ user: z.string().max(64), device: deviceId }).strict();

export const sendFields = {
  id: clientId,
  to: z.array(address).min(1).max(100_000),
  body: b64url,
  /** A group message the sender sends after a receive pass although it is behind the fence (stale_epoch). */
  synced: z.literal(true).optional(),
};
export const sendBody = z.object(sendFields).strict();

const deliveryId = z.string().regex(/^[0-9]{1,16}$/);

/**
 * The most delivery ids one `acks` frame may name; hello tells the client (`maxAcks`). A receiver
 * acks a stored page of up to 256 messages at once, so 1,000 leaves room without letting one frame
 * queue unbounded work.
 */
export const MAX_ACKS = 1000;

/**
 * `ephemeral: true` (WebSocket only, docs/RELAY.md "Ephemeral sends"): pushed to the recipient
 * devices connected now and never stored. `synced` is about a stored group message, so not both.
 */
const sendFrame = z
  .object({ type: z.literal('send'), ...sendFields, ephemeral: z.literal(true).optional() })
  .strict()
  .refine((f) => !(f.ephemeral && f.synced), { message: 'an ephemeral send is never stored, so it cannot be synced', path: ['ephemeral'] });

export const clientFrame = z.discriminatedUnion('type', [
  sendFrame,
  z.object({ type: z.literal('ack'), id: deliveryId }).strict(),
  z.object({ type: z.literal('acks'), ids: z.array(deliveryId).min(1).max(MAX_ACKS) }).strict(),
  z.object({ type: z.literal('ping') }).strict(),
]);
export type ClientFrame = z.infer<typeof clientFrame>;

/** The first issue of a failed parse, as a short lowercase message (no values echoed). */
export function describeIssue(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid input';
  const where = i.path.length ? i.path.join('.') : 'body';
  return `${where}: ${i.message}`.toLowerCase();
}
