// Payload cases: the exact UTF-8 text of a decrypted payload (or hex bytes for invalid UTF-8),
// and either the payload as the receiver keeps it (unknown top-level fields dropped) or bad_payload.
import type { Case } from './index.js';

const SENT = '2026-01-02T03:04:05.678Z';
const KEY = 'A'.repeat(42) + 'E'; // canonical 32-byte base64url
const HASH = 'q'.repeat(42) + 'w';

function ok(name: string, about: string, payload: Record<string, unknown>, extra: Record<string, unknown> = {}): Case {
  return { name, about, input: { payload: JSON.stringify({ ...payload, ...extra }) }, expect: 'accept', output: payload };
}
function bad(name: string, about: string, payload: unknown): Case {
  return { name, about, input: { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }, expect: 'refuse', error: 'bad_payload' };
}

export function payloadCases(): { cases: Case[] } {
  const text = { v: 1, type: 'text', id: 'Qm9i_-42', text: 'hello ✓', sentAt: SENT };
  const file = { v: 1, type: 'file', id: 'f1', text: 'the plan', sentAt: SENT, file: { blob: 'AbCdEfGhIjKlMnOpQrStUv', key: KEY, hash: HASH, size: 1234, name: 'plan.txt', mime: 'text/plain' } };
  const entry = { peer: 'bob', direction: 'out', id: 'm1', sentAt: SENT, text: 'hi bob', status: 'delivered' };
  const history = { v: 1, type: 'history', id: 'h1', sentAt: SENT, entries: [entry, { peer: 'bob', direction: 'in', id: 'm2', sentAt: SENT, text: 'hi', status: 'received' }] };
  const cases: Case[] = [
    ok('text', 'a text message (§12.2)', text),
    ok('text_without_fraction', 'sentAt may omit the fraction (§12.1)', { ...text, sentAt: '2026-01-02T03:04:05Z' }),
    ok('text_unknown_field_ignored', 'an unknown top-level field is ignored and dropped (§12.3.3)', text, { reactions: ['+1'] }),
    ok('text_longest', '16,000 code points of text, each outside the BMP (§12.2: code points, not UTF-16 units)', { ...text, text: '😀'.repeat(16_000) }),
    ok('id_48', 'an id of 48 characters (§12.1)', { ...text, id: 'x'.repeat(48) }),
    ok('receipt', 'a receipt names the id of the message that arrived (§12.2)', { v: 1, type: 'receipt', id: 'Qm9i_-42', text: '', sentAt: SENT }),
    ok('receipt_ids', 'a receipt naming several messages: ids besides id (§12.2)', { v: 1, type: 'receipt', id: 'm3', ids: ['m1', 'm2'], text: '', sentAt: SENT }),
    ok('receipt_read', 'a read receipt: the messages were shown to the recipient (§12.2 "Read receipts")', { v: 1, type: 'receipt', id: 'm2', ids: ['m1'], text: '', sentAt: SENT, read: true }),
    ok('receipt_delivery_filler', 'a delivery receipt as the reference client writes it: its ignored text is twelve spaces, the length of ,"read":true (§12.2 "One length for both kinds")', { v: 1, type: 'receipt', id: 'm2', ids: ['m1'], text: ' '.repeat(12), sentAt: SENT }),
    ok('receipt_ids_256', 'a receipt naming 256 messages, the most one may (§12.2)', { v: 1, type: 'receipt', id: 'm255', ids: Array.from({ length: 255 }, (_, i) => `m${i}`), text: '', sentAt: SENT }),
    ok('file', 'a file reference, every field (§12.2)', file),
    ok('file_largest', 'a file of 2^48 bytes (§12.2, A.2)', { ...file, file: { ...file.file, size: 2 ** 48 } }),
    ok('group_change', 'records are base64url strings (§12.2)', { v: 1, type: 'group_change', id: 'g1', sentAt: SENT, records: ['AQIDBA', 'BQYH'] }),
    ok('sender_key', 'a distribution is a base64url string (§12.2)', { v: 1, type: 'sender_key', id: 'k1', sentAt: SENT, distribution: 'AQIDBAUG' }),
    ok('history', 'a batch of history for a device just linked, oldest first (§12.2, D.12 step 4)', history),
    ok('typing_started', 'a typing indicator: the sender is typing (§12.2 "Typing indicators")', { v: 1, type: 'typing', id: 'Qm9iIHR5cGVz', sentAt: SENT, state: 'started' }),
    ok('typing_stopped', 'a typing indicator: the sender stopped without sending (§12.2 "Typing indicators")', { v: 1, type: 'typing', id: 't2', sentAt: SENT, state: 'stopped' }),
    bad('not_json', 'not JSON (§12.3.1)', 'hello'),
    { name: 'not_utf8', about: 'bytes that are not UTF-8 (§12.3.1)', input: { payloadHex: '7b2276223a317dff' }, expect: 'refuse', error: 'bad_payload' },
    bad('array', 'a JSON array, not an object (§12.3.1)', [text]),
    bad('unknown_type', 'an unknown type is refused, not skipped (§12.3.2)', { ...text, type: 'reaction' }),
    bad('no_type', 'no type (§12.3.2)', { v: 1, id: 'a', text: '', sentAt: SENT }),
    bad('version_2', 'v must be 1 (§12.3.2)', { ...text, v: 2 }),
    bad('version_string', 'v is a number (§12.1)', { ...text, v: '1' }),
    bad('sent_at_number', 'sentAt is a string, not milliseconds (§12.1)', { ...text, sentAt: 1767322800000 }),
    bad('sent_at_offset', 'sentAt must end in Z (§12.1)', { ...text, sentAt: '2026-01-02T04:04:05+01:00' }),
    bad('sent_at_no_date', 'sentAt must be a date that exists (§12.1)', { ...text, sentAt: '2026-02-30T03:04:05Z' }),
    bad('sent_at_date_only', 'sentAt needs a time (§12.1)', { ...text, sentAt: '2026-01-02' }),
    bad('id_49', 'an id of 49 characters (§12.1)', { ...text, id: 'x'.repeat(49) }),
    bad('id_empty', 'an empty id (§12.1)', { ...text, id: '' }),
    bad('id_alphabet', 'an id outside [A-Za-z0-9_-] (§12.1)', { ...text, id: 'a b' }),
    bad('text_too_long', '16,001 code points (§12.2)', { ...text, text: 'a'.repeat(16_001) }),
    bad('text_missing', 'text is required in a text message (§12.2)', { v: 1, type: 'text', id: 'a', sentAt: SENT }),
    bad('receipt_without_text', 'a receipt carries text too, sent empty (§12.2)', { v: 1, type: 'receipt', id: 'a', sentAt: SENT }),
    bad('typing_state_unknown', 'state is started or stopped, nothing else (§12.2 "Typing indicators")', { v: 1, type: 'typing', id: 't3', sentAt: SENT, state: 'paused' }),
    bad('typing_state_missing', 'state is required (§12.2 "Typing indicators")', { v: 1, type: 'typing', id: 't4', sentAt: SENT }),
    bad('receipt_read_false', 'read is true or absent (§12.2 "Read receipts")', { v: 1, type: 'receipt', id: 'm1', text: '', sentAt: SENT, read: false }),
    bad('receipt_ids_257', 'a receipt naming 257 messages (§12.2)', { v: 1, type: 'receipt', id: 'm256', ids: Array.from({ length: 256 }, (_, i) => `m${i}`), text: '', sentAt: SENT }),
    bad('receipt_ids_empty', 'ids, when present, names at least one message (§12.2)', { v: 1, type: 'receipt', id: 'm1', ids: [], text: '', sentAt: SENT }),
    bad('receipt_ids_repeated', 'an id repeated in ids (§12.2)', { v: 1, type: 'receipt', id: 'm3', ids: ['m1', 'm1'], text: '', sentAt: SENT }),
    bad('receipt_ids_repeats_id', 'ids names id itself again (§12.2)', { v: 1, type: 'receipt', id: 'm3', ids: ['m1', 'm3'], text: '', sentAt: SENT }),
    bad('receipt_ids_bad_id', 'an id in ids outside [A-Za-z0-9_-] (§12.1, §12.2)', { v: 1, type: 'receipt', id: 'm3', ids: ['a b'], text: '', sentAt: SENT }),
    bad('file_extra_field', 'no other field in the file reference (§12.3.3)', { ...file, file: { ...file.file, url: 'https://example.invalid/' } }),
    bad('file_key_not_canonical', 'key is canonical base64url: the unused bits are zero (§12.2)', { ...file, file: { ...file.file, key: 'A'.repeat(42) + 'B' } }),
    bad('file_key_padded', 'no base64 padding (§1)', { ...file, file: { ...file.file, key: 'A'.repeat(42) + 'E=' } }),
    bad('file_size_over', 'a size above 2^48 (§12.2)', { ...file, file: { ...file.file, size: 2 ** 48 + 1 } }),
    bad('file_size_fraction', 'a size that is not an integer (§12.2)', { ...file, file: { ...file.file, size: 1.5 } }),
    bad('file_name_too_long', 'a name of 1,025 code points (§12.2)', { ...file, file: { ...file.file, name: 'n'.repeat(1025) } }),
    bad('group_change_no_records', 'records holds at least one record (§12.2)', { v: 1, type: 'group_change', id: 'g1', sentAt: SENT, records: [] }),
    bad('history_no_entries', 'a history batch holds at least one entry (§12.2)', { ...history, entries: [] }),
    bad('history_501', 'a history batch of 501 entries (§12.2)', { ...history, entries: Array.from({ length: 501 }, (_, i) => ({ ...entry, id: `m${i}` })) }),
    bad('history_in_not_received', 'an incoming entry is received, nothing else (§12.2)', { ...history, entries: [{ ...entry, direction: 'in' }] }),
    bad('history_out_received', 'an outgoing entry is never received (§12.2)', { ...history, entries: [{ ...entry, status: 'received' }] }),
    bad('history_entry_extra_field', 'no other field in a history entry; one bad entry refuses the batch (§12.2)', { ...history, entries: [entry, { ...entry, id: 'm3', unread: true }] }),
    bad('history_entry_bad_peer', 'peer is a username (§12.2)', { ...history, entries: [{ ...entry, peer: '../bob' }] }),
    bad('sender_key_padded', 'base64url without padding (§12.2)', { v: 1, type: 'sender_key', id: 'k1', sentAt: SENT, distribution: 'AQIDBAU=' }),
  ];
  return { cases };
}
