// Reading the local history back (bodies decrypted with the storage key). Pairwise messages
// (messages) and group messages (group_messages) share the columns read here.
import { isCryptoError } from '../../crypto/errors.js';
import type { Column, RowKey } from './at-rest.js';
import type { Client } from './context.js';

/**
 * StoredEntry.error of a message whose sealed text did not open under its own row (moved from
 * another row, altered, or truncated outside fastchat). The message is listed without text, never
 * with the text of another row, and the rest of the history still reads.
 */
export const STORED_BODY_UNREADABLE = 'stored_body_unreadable';

/** What every view of a stored message holds, direct or group. */
export interface StoredEntry {
  id: string;
  direction: 'in' | 'out';
  text: string | null; // null: it could not be decrypted
  sentAt: string; // the sender's clock (ours for 'out')
  receivedAt: string | null;
  relayAt: string | null; // the relay's clock when it stored an incoming message
  status: string; // out: queued | sent | delivered | read | failed | expired (undelivered, client/core/expired.ts) ; in: received | failed
  error: string | null;
}

/** The columns behind StoredEntry, in both tables. */
export interface StoredRow {
  id: string;
  direction: 'in' | 'out';
  body: Buffer | null;
  sent_at: string;
  received_at: string | null;
  relay_at: string | null;
  status: string;
  error: string | null;
}

/** `column` and `row`: what the body is sealed under (messages: peer, direction, id; groups: group, sender, id). */
export function storedEntry(c: Pick<Client, 'sealer'>, r: StoredRow, column: Column, row: RowKey): StoredEntry {
  let text: string | null = null;
  let error = r.error;
  if (r.body) {
    try {
      text = new TextDecoder().decode(c.sealer.open(column, row, new Uint8Array(r.body)));
    } catch (e) {
      if (!isCryptoError(e)) throw e;
      error = STORED_BODY_UNREADABLE;
    }
  }
  return { id: r.id, direction: r.direction, text, sentAt: r.sent_at, receivedAt: r.received_at, relayAt: r.relay_at, status: r.status, error };
}

export interface HistoryEntry extends StoredEntry {
  peer: string;
  identityChanged: boolean;
}

/** The last `limit` entries with `peer`, in the order they arrived (or were written) here. */
export function history(c: Client, peer: string, limit: number): HistoryEntry[] {
  const rows = c.db.prepare('SELECT * FROM (SELECT * FROM messages WHERE peer = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq').all(peer, limit) as (StoredRow & {
    peer: string;
    identity_changed: number;
  })[];
  return rows.map((r) => ({ ...storedEntry(c, r, 'message', [r.peer, r.direction, r.id]), peer: r.peer, identityChanged: r.identity_changed === 1 }));
}
