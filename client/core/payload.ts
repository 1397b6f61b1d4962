// What travels inside the ratchet: a small JSON object (the crypto layer pads it). Validated with
// zod after decryption, so a peer running other code cannot make us store or print garbage.
import { z } from 'zod';
import { fromUtf8, utf8 } from '../../crypto/encoding.js';

export const PAYLOAD_VERSION = 1;
/** Longest text accepted in one message, in characters; the relay caps the frame size anyway. */
export const MAX_TEXT_CHARS = 16_000;

const PayloadSchema = z.object({
  v: z.literal(PAYLOAD_VERSION),
  type: z.enum(['text', 'receipt']),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,48}$/),
  text: z.string().max(MAX_TEXT_CHARS),
  sentAt: z.string().datetime(),
});
/** text: a message; receipt: `id` names the message that arrived (text is empty). */
export type Payload = z.infer<typeof PayloadSchema>;

export function encodePayload(p: Payload): Uint8Array {
  return utf8(JSON.stringify(p));
}

export class PayloadError extends Error {
  readonly code = 'bad_payload';
}

export function parsePayload(bytes: Uint8Array): Payload {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new PayloadError('the decrypted message is not JSON');
  }
  const r = PayloadSchema.safeParse(json);
  if (!r.success) throw new PayloadError('the decrypted message has an unknown shape');
  return r.data;
}
