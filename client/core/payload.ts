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

// Group control (docs/PROTOCOL.md "Group transport"): binary group structures, base64url, carried
// by the pairwise sessions. The bounds only stop absurd input; crypto/group parses every byte.
const B64 = z.string().regex(/^[A-Za-z0-9_-]+$/);
const GroupChangeSchema = z.object({
  v: z.literal(PAYLOAD_VERSION),
  type: z.literal('group_change'),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,48}$/),
  sentAt: z.string().datetime(),
  records: z.array(B64.max(200_000)).min(1).max(10_000), // one record, or the chain from create
});
const SenderKeySchema = z.object({
  v: z.literal(PAYLOAD_VERSION),
  type: z.literal('sender_key'),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,48}$/),
  sentAt: z.string().datetime(),
  distribution: B64.max(1_000),
});
export type GroupChangePayload = z.infer<typeof GroupChangeSchema>;
export type SenderKeyPayload = z.infer<typeof SenderKeySchema>;
export type GroupControlPayload = GroupChangePayload | SenderKeyPayload;

// A file (docs/CLI.md "Files"): the encrypted blob's id on the relay and what opens and checks it
// (crypto/attachment.ts); `text` is the caption. name and mime are the sender's word only: the
// receiver neutralises the name before it touches the disk (client/core/files/names.ts).
const FileRefSchema = z.object({
  blob: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  key: z.string().regex(/^[A-Za-z0-9_-]{43}$/), // 32 bytes
  hash: z.string().regex(/^[A-Za-z0-9_-]{43}$/), // BLAKE2b-256 of the blob
  size: z.number().int().min(0).max(2 ** 48),
  name: z.string().max(1024),
  mime: z.string().max(255),
}).strict();
export type FileRef = z.infer<typeof FileRefSchema>;
const FileSchema = z.object({
  v: z.literal(PAYLOAD_VERSION),
  type: z.literal('file'),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,48}$/),
  text: z.string().max(MAX_TEXT_CHARS),
  sentAt: z.string().datetime(),
  file: FileRefSchema,
});
export type FilePayload = z.infer<typeof FileSchema>;
const AnySchema = z.union([PayloadSchema, GroupChangeSchema, SenderKeySchema, FileSchema]);

export function encodePayload(p: Payload | GroupControlPayload | FilePayload): Uint8Array {
  return utf8(JSON.stringify(p));
}

export class PayloadError extends Error {
  readonly code = 'bad_payload';
}

export function parsePayload(bytes: Uint8Array): Payload | GroupControlPayload | FilePayload {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new PayloadError('the decrypted message is not JSON');
  }
  const r = AnySchema.safeParse(json);
  if (!r.success) throw new PayloadError('the decrypted message has an unknown shape');
  return r.data;
}
