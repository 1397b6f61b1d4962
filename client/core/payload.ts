// What travels inside the ratchet: a small JSON object (the crypto layer pads it). Validated with
// zod after decryption, so a peer running other code cannot make us store or print garbage. The
// schemas use zod/mini, zod's tree-shakable functional API: the web page bundles this file, and
// full zod was ~455 KB of its script (docs/WEB.md "Build and size budget").
//
// These validators are the one source of truth for the payload format: docs/schemas/<type>.json
// are generated from them (`npm run schemas`, scripts/gen-schemas.ts) and a test fails when the
// files differ, so only what JSON Schema can say is used here (a limit a schema cannot express is
// written twice, as a refine check and as z.meta(), and docs/PROTOCOL.md §12 says so).
import * as z from 'zod/mini';
import { fromUtf8, utf8 } from '../../crypto/encoding.js';
import { USERNAME_PATTERN } from '../../crypto/consts.js';

export const PAYLOAD_VERSION = 1;
/**
 * Longest text accepted in one message, in Unicode code points (JSON Schema's maxLength unit).
 * The whole payload must also fit MAX_PLAINTEXT_BYTES once encoded.
 */
export const MAX_TEXT_CHARS = 16_000;
/** Payload ids: the relay's id alphabet, at most 48 characters (the relay allows 64). */
export const PAYLOAD_ID_PATTERN = /^[A-Za-z0-9_-]{1,48}$/;
/**
 * Most message ids one receipt names (`id` and `ids` together): a receive pass stores a page of
 * up to 256 frames (INCOMING_PAGE_FRAMES) and answers each sender's messages in it with one
 * receipt. 256 ids of 48 characters are about 13 KB, well inside MAX_PLAINTEXT_BYTES.
 */
export const MAX_RECEIPT_IDS = 256;
/**
 * The `text` of a delivery receipt (a receiver ignores it): as many characters as `,"read":true`
 * adds to a read receipt, so a delivery receipt and a read receipt naming as many messages encode
 * to one length and pad to one bucket (docs/PROTOCOL.md §12.2 "Read receipts"). With `""` in both,
 * those 12 bytes put the read receipt in a larger bucket than the delivery receipt for 25 of the
 * 256 counts (3, 9, 22, 35 …), and the relay, which knows how many messages it delivered, could
 * tell the two kinds apart by their size.
 */
export const DELIVERY_RECEIPT_TEXT = ' '.repeat(',"read":true'.length);

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** `schema` with a description, for docs/schemas (zod/mini's z.describe, as a check). */
const describe = <T extends z.ZodMiniType>(schema: T, description: string): T => schema.check(z.describe(description)) as T;
const pattern = (re: RegExp) => z.string().check(z.regex(re));
const Version = describe(z.literal(PAYLOAD_VERSION), 'payload format version');
const Id = describe(pattern(PAYLOAD_ID_PATTERN), 'the sender\'s id for this message, unique per sender');
const SentAt = describe(z.iso.datetime(), 'sender\'s clock, ISO 8601 UTC ending in Z');
/** A string of at most `max` code points (zod's maxLength counts UTF-16 units; JSON Schema counts code points). */
const chars = (max: number) => z.string().check(z.refine((s) => codePoints(s) <= max, `longer than ${max} code points`), z.meta({ maxLength: max }));
const Text = chars(MAX_TEXT_CHARS);
/** 32 bytes in canonical base64url: 43 characters, the last one's two unused bits zero. */
const Bytes32 = pattern(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/);
const B64 = pattern(/^[A-Za-z0-9_-]+$/);
const B64Max = (max: number) => B64.check(z.maxLength(max));
const Username = pattern(USERNAME_PATTERN);

// Top-level objects are not strict: a receiver ignores a field it does not know, so a later
// version can add optional fields. The file reference is strict: it names what opens a blob.
const TextSchema = describe(z.object({ v: Version, type: z.literal('text'), id: Id, text: Text, sentAt: SentAt }), 'a chat message');
// `ids` is optional and top-level, so a client that predates it (and ignores unknown top-level
// fields, §12.3 item 3) reads the receipt as one for `id` alone: fewer messages marked delivered
// there, never an error. Repeats are refused: the sender never writes one, and a receiver's work
// per receipt stays bounded by distinct ids. `read: true` (optional, top-level for the same
// reason) makes it a read receipt: a client that predates it reads it as a delivery receipt, which
// is true of a message that was read, so it shows delivered where a newer one shows read.
const ReceiptIds = describe(
  z.array(describe(Id, 'the id of a message that arrived')).check(
    z.minLength(1),
    z.maxLength(MAX_RECEIPT_IDS - 1),
    z.refine((ids) => new Set(ids).size === ids.length, 'an id is repeated'),
    z.meta({ uniqueItems: true }),
  ),
  'the other messages that arrived, besides id (at most 255; no repeats, and not id itself)',
);
const ReceiptSchema = describe(
  z
    .object({
      v: Version,
      type: z.literal('receipt'),
      id: describe(Id, 'the id of the (last) message that arrived'),
      ids: z.optional(ReceiptIds),
      read: z.optional(describe(z.literal(true), 'present: the recipient has seen the messages (a read receipt); absent: they arrived')),
      text: describe(Text, 'ignored: sent as 12 spaces in a delivery receipt and empty in a read receipt, so both kinds naming as many messages have one length'),
      sentAt: SentAt,
    })
    .check(z.refine((r) => !r.ids?.includes(r.id), 'id is repeated in ids')),
  'an end-to-end delivery or read receipt',
);

// Group control (docs/PROTOCOL.md "Group transport"): binary group structures, base64url, carried
// by the pairwise sessions. The bounds only stop absurd input; crypto/group parses every byte.
const GroupChangeSchema = describe(
  z.object({
    v: Version,
    type: z.literal('group_change'),
    id: Id,
    sentAt: SentAt,
    records: describe(z.array(B64Max(200_000)).check(z.minLength(1), z.maxLength(10_000)), 'one change record, or the chain from the create record'),
  }),
  'group membership change records',
);
const SenderKeySchema = describe(
  z.object({ v: Version, type: z.literal('sender_key'), id: Id, sentAt: SentAt, distribution: describe(B64Max(1_000), 'a SenderKeyDistribution') }),
  'a sender-key distribution',
);

// A file (docs/CLI.md "Files"): the encrypted blob's id on the relay and what opens and checks it
// (crypto/attachment.ts); `text` is the caption. name and mime are the sender's word only: the
// receiver neutralises the name before it touches the disk (client/core/files/names.ts).
const FileRefSchema = z.strictObject({
  blob: describe(pattern(/^[A-Za-z0-9_-]{22}$/), 'relay blob id'),
  key: describe(Bytes32, 'attachment key, 32 bytes base64url'),
  hash: describe(Bytes32, 'BLAKE2b-256 of the blob, 32 bytes base64url'),
  size: describe(z.number().check(z.int(), z.minimum(0), z.maximum(2 ** 48)), 'file size in bytes'),
  name: describe(chars(1024), 'file name as the sender gave it; the receiver neutralises it'),
  mime: describe(chars(255), 'MIME type as the sender gave it'),
});
export type FileRef = z.infer<typeof FileRefSchema>;
const FileSchema = describe(
  z.object({ v: Version, type: z.literal('file'), id: Id, text: describe(Text, 'caption'), sentAt: SentAt, file: FileRefSchema }),
  'a file sent as an attachment',
);

// A "sent by me" copy (docs/PROTOCOL.md D.13): a text or file this account sent to `to` from
// another of its devices. Taken only from a device our own account's list holds.
const SyncSchema = describe(
  z.object({
    v: Version,
    type: z.literal('sync'),
    id: describe(Id, 'the id of the message copied (message.id)'),
    sentAt: SentAt,
    to: describe(Username, 'the user the message was sent to'),
    message: describe(z.union([TextSchema, FileSchema]), 'the text or file payload as sent to them'),
  }),
  'a copy of a message sent from another device of this account',
);

// History for a newly linked device (docs/PROTOCOL.md D.12 step 4): the conversations the approving
// device holds, a batch of entries per payload, oldest first. Taken only from a device our own
// account's list holds. An entry is of a conversation with a user (`peer`: stored once per (peer,
// direction, id)) or of a group (`group`: stored once per (group, sender, id)); the two shapes are
// told apart by those fields, so a batch of pairwise entries is what it was before groups were sent.
/** Most entries one `history` payload carries (the sender also keeps each payload under HISTORY_PAYLOAD_MAX_BYTES). */
export const HISTORY_MAX_ENTRIES = 500;
/**
 * Longest text of a history entry: a message's text, or a file's history line (the file name, up to
 * 1,024 code points, and the caption, fileLine in files/names.ts).
 */
export const HISTORY_TEXT_MAX_CHARS = MAX_TEXT_CHARS + 1_100;
const HistoryText = describe(chars(HISTORY_TEXT_MAX_CHARS), "the message's text, or a file message's history line");
const statusFitsDirection = z.refine<{ direction: 'in' | 'out'; status: string }>((e) => (e.direction === 'in') === (e.status === 'received'), 'status does not fit direction');
export const HistoryEntrySchema = describe(
  z
    .strictObject({
      peer: describe(Username, 'the other side of the conversation'),
      direction: describe(z.enum(['in', 'out']), 'in: from peer; out: sent by this account'),
      id: describe(Id, 'the message id as the conversation holds it'),
      sentAt: SentAt,
      text: HistoryText,
      // `read` is accepted, not yet sent: a device that predates it refuses the whole batch for
      // one, so a sender writes a read message as `delivered` (history-transfer.ts entryOf).
      status: describe(z.enum(['received', 'sent', 'delivered', 'read', 'failed', 'expired']), 'in: received; out: sent, delivered, read, failed or expired'),
    })
    .check(statusFitsDirection),
  'a message of a conversation with a user',
);
export const HistoryGroupEntrySchema = describe(
  z
    .strictObject({
      group: describe(pattern(/^[0-9a-f]{64}$/), 'the group id (32 bytes) in lowercase hex'),
      sender: describe(Username, 'the member who sent it: this account for out, another for in'),
      direction: describe(z.enum(['in', 'out']), 'in: from another member; out: sent by this account'),
      id: describe(Id, 'the message id as the group holds it (unique per group and sender)'),
      sentAt: SentAt,
      text: HistoryText,
      status: describe(z.enum(['received', 'sent', 'failed', 'expired']), 'in: received; out: sent, failed or expired'),
    })
    .check(statusFitsDirection),
  'a message of a group conversation',
);
const HistorySchema = describe(
  z.object({
    v: Version,
    type: z.literal('history'),
    id: Id,
    sentAt: SentAt,
    entries: describe(z.array(z.union([HistoryEntrySchema, HistoryGroupEntrySchema])).check(z.minLength(1), z.maxLength(HISTORY_MAX_ENTRIES)), 'messages of the history, oldest first'),
  }),
  "a batch of another device's message history, for a device of the same account just linked",
);

// Whom this account accepted and blocked (requests.ts), for a device of the same account just
// linked (docs/PROTOCOL.md D.12 step 5): without it the new device took the first message of every
// contact as a message request. Taken only from a device our own account's list holds.
/** Most users each list of one `standings` payload names (the newest standings first). */
export const STANDINGS_MAX_USERS = 500;
const StandingUsers = z.array(Username).check(z.maxLength(STANDINGS_MAX_USERS));
const StandingsSchema = describe(
  z.object({
    v: Version,
    type: z.literal('standings'),
    id: Id,
    sentAt: SentAt,
    accepted: describe(StandingUsers, 'users whose messages are shown as messages, not requests'),
    blocked: describe(StandingUsers, 'users whose messages are not kept'),
  }),
  'whom this account accepted and blocked, for a device of the same account just linked',
);

// A typing indicator (docs/PROTOCOL.md §12.2 "Typing indicators"): sent only in an ephemeral
// relay frame, never stored or receipted, and it never advances a session: the sender throws away
// the ratchet state it encrypted with, the receiver the state it decrypted with (client/core/typing.ts).
const TypingSchema = describe(
  z.object({
    v: Version,
    type: z.literal('typing'),
    id: Id,
    sentAt: SentAt,
    state: describe(z.enum(['started', 'stopped']), 'started: the sender is typing in this conversation; stopped: they stopped without sending'),
  }),
  'a typing indicator (ephemeral: never stored, never advances a session)',
);

/** One schema per payload type, by its `type`; docs/schemas/<type>.json is generated from each. */
export const PAYLOAD_SCHEMAS = {
  text: TextSchema,
  receipt: ReceiptSchema,
  file: FileSchema,
  group_change: GroupChangeSchema,
  sender_key: SenderKeySchema,
  sync: SyncSchema,
  history: HistorySchema,
  standings: StandingsSchema,
  typing: TypingSchema,
} as const;
export type PayloadType = keyof typeof PAYLOAD_SCHEMAS;

/** text: a message; receipt: `id` (and `ids`, if any) name the messages that arrived, or with `read` were seen (text is filler). */
export type Payload = z.infer<typeof TextSchema> | z.infer<typeof ReceiptSchema>;
export type GroupChangePayload = z.infer<typeof GroupChangeSchema>;
export type SenderKeyPayload = z.infer<typeof SenderKeySchema>;
export type GroupControlPayload = GroupChangePayload | SenderKeyPayload;
export type FilePayload = z.infer<typeof FileSchema>;
export type SyncPayload = z.infer<typeof SyncSchema>;
export type HistoryPayload = z.infer<typeof HistorySchema>;
export type HistoryPayloadEntry = z.infer<typeof HistoryEntrySchema>;
export type HistoryGroupEntry = z.infer<typeof HistoryGroupEntrySchema>;
export type StandingsPayload = z.infer<typeof StandingsSchema>;
export type TypingPayload = z.infer<typeof TypingSchema>;

/** Every message id a receipt names: `id` last, as the sender wrote them (receiptIds of queueReceipts). */
export function receiptIds(p: z.infer<typeof ReceiptSchema>): string[] {
  return p.ids ? [...p.ids, p.id] : [p.id];
}

export function encodePayload(p: Payload | GroupControlPayload | FilePayload | SyncPayload | HistoryPayload | StandingsPayload | TypingPayload): Uint8Array {
  return utf8(JSON.stringify(p));
}

export class PayloadError extends Error {
  readonly code = 'bad_payload';
}

/** Strict UTF-8, JSON, a known `type`, then that type's schema; anything else is bad_payload. */
export function parsePayload(bytes: Uint8Array): Payload | GroupControlPayload | FilePayload | SyncPayload | HistoryPayload | StandingsPayload | TypingPayload {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new PayloadError('the decrypted message is not JSON');
  }
  const type = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !Object.hasOwn(PAYLOAD_SCHEMAS, type)) throw new PayloadError('the decrypted message has an unknown type');
  const r = PAYLOAD_SCHEMAS[type as PayloadType].safeParse(json);
  if (!r.success) throw new PayloadError(`the decrypted ${type} message has an unknown shape`);
  return r.data;
}
