// How conversations and days are drawn: the conversation list (`fastchat conversations`, chat's
// /list) and the day separators of chat. A time from today shows as 14:05, from another day with
// its full date.
import { NO_PAINT, type Painter } from './colour.js';
import type { ConversationSummary } from './core/conversations.js';
import { safeText, shortTime } from './format.js';

const pad = (n: number): string => String(n).padStart(2, '0');

/** The local calendar day of a time: "2025-01-31". */
export function localDay(iso: string | number): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '????-??-??';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** "14:05" for a time today, "2025-01-31 14:05" for any other day. */
export function whenShown(iso: string, now = Date.now()): string {
  const full = shortTime(iso);
  return localDay(iso) === localDay(now) ? full.slice(11) : full;
}

/** The line chat prints when the day changes between two messages: "—— Friday 31 January 2025 ——". */
export function dayLine(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—— (unknown day) ——';
  const day = d.toLocaleDateString('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
  return `—— ${day.replace(',', '')} ——`;
}

const PREVIEW = 60;

/** One conversation in the list: `@bob      2 unread  14:05  @bob: see you there`. */
export function conversationLine(s: ConversationSummary, paint: Painter = NO_PAINT, now = Date.now()): string {
  const name = s.label.padEnd(16);
  const unread = s.unread > 0 ? paint('warn', `${s.unread} unread`.padEnd(10)) : ''.padEnd(10);
  if (!s.last) return `${name}  ${unread}  (no messages yet)`;
  const who = s.last.direction === 'out' ? 'you' : `@${s.last.from}`;
  const text = s.last.text === null ? '(could not decrypt)' : s.last.text.split(/\r\n|[\n\r]/)[0]!;
  const preview = text.length > PREVIEW ? `${text.slice(0, PREVIEW)}…` : text;
  return `${paint('name', name)}  ${unread}  ${paint('dim', whenShown(s.last.at, now).padStart(16))}  ${who}: ${safeText(preview)}`;
}
