// How one message is drawn, the same in inbox, history and chat: the time it reached this home,
// who sent it with its marks, and its text as one delimited block (format.ts messageLines).
//
// Order and time are the receiver's: messages are listed in the order they arrived here, and the
// time shown is when they arrived (ours for our own). The sender's clock is only a claim inside
// the ciphertext: a wrong clock, or a lie, would otherwise show a reply before its question. The
// relay's clock when it stored the message is the check on that claim.
import { messageLines, safeText, shortTime } from './format.js';
import { STORED_BODY_UNREADABLE } from './core/history.js';
import { statusWord } from './core/status.js';

/**
 * How far a sender's claimed time may be from the relay's clock at store before the claim is
 * shown beside the message. A message normally reaches the relay within seconds of being written,
 * and NTP-synced clocks agree to well under a second; ten minutes leaves room for an unsynced
 * machine's drift and a short wait in an outbox. Outside it the claim is a wrong clock, a message
 * that waited long offline, or a lie — in each case not when the message was sent, so the user
 * sees it named as the sender's clock rather than silently trusted or silently dropped.
 */
export const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;

export interface MessageView {
  direction: 'in' | 'out';
  from: string; // username of the sender
  group?: string | null; // the group's label, where messages of several conversations mix (inbox)
  text: string | null; // null: it could not be decrypted
  sentAt: string; // the sender's clock (ours for 'out')
  receivedAt: string | null;
  relayAt: string | null; // the relay's clock when it stored it (incoming only)
  status: string;
  error: string | null;
  identityChanged: boolean;
  /** A group message of an epoch that had ended when it arrived, read within the grace. */
  beforeChange?: boolean;
}

/** The sender's claimed time is far from the relay's clock at store (see MAX_CLOCK_SKEW_MS). */
export function clockSkewed(v: Pick<MessageView, 'direction' | 'sentAt' | 'relayAt'>): boolean {
  if (v.direction !== 'in' || v.relayAt === null) return false;
  const claimed = Date.parse(v.sentAt);
  const stored = Date.parse(v.relayAt);
  if (Number.isNaN(stored)) return false;
  return Number.isNaN(claimed) || Math.abs(claimed - stored) > MAX_CLOCK_SKEW_MS;
}

/** The time a message is shown with: when it reached us, or when we wrote it. */
export function shownTime(v: Pick<MessageView, 'direction' | 'sentAt' | 'receivedAt'>): string {
  return v.direction === 'in' ? (v.receivedAt ?? v.sentAt) : v.sentAt;
}

/**
 * The lines of one message: `2025-01-31 12:03  [#team ]@alice [KEY CHANGED]: text`, continuation
 * lines indented, then the marks: our message's status, a decryption failure, the sender's clock
 * when skewed, and `extra` (e.g. where a file was saved). `columns`: wrap for a terminal this wide.
 */
export function messageBlock(v: MessageView, extra = '', columns?: number): string[] {
  const who = v.direction === 'out' ? 'you' : `@${v.from}`;
  const where = v.group ? `#${safeText(v.group)} ` : '';
  const head = `${shortTime(shownTime(v))}  ${where}${who}${v.identityChanged ? ' [KEY CHANGED]' : ''}${v.beforeChange ? ' (sent before the last change)' : ''}: `;
  let tail = extra;
  if (v.direction === 'out') tail += `  (${statusWord(v.status)})`;
  else if (v.status === 'failed') tail += `  (could not decrypt: ${safeText(v.error ?? 'failed')})`;
  if (v.error === STORED_BODY_UNREADABLE) tail += '  (its stored text failed the integrity check: changed outside fastchat)';
  if (clockSkewed(v)) tail += `  (sender's clock: ${shortTime(v.sentAt)})`;
  return messageLines(head, v.text ?? '—', tail, columns);
}

/** The JSON form's marks: present only when true, so ordinary lines stay as they were. */
export function jsonMarks(v: MessageView): { identityChanged?: true; clockSkew?: true; storedAt?: string; beforeChange?: true } {
  return {
    ...(v.beforeChange ? { beforeChange: true as const } : {}),
    ...(v.relayAt !== null ? { storedAt: v.relayAt } : {}),
    ...(v.identityChanged ? { identityChanged: true as const } : {}),
    ...(clockSkewed(v) ? { clockSkew: true as const } : {}),
  };
}
