// Reading the local history back (bodies decrypted with the storage key).
import type { Client } from './context.js';

export interface HistoryEntry {
  id: string;
  peer: string;
  direction: 'in' | 'out';
  text: string | null;
  sentAt: string;
  receivedAt: string | null;
  status: string; // out: queued | sent | delivered | failed | expired (undelivered, client/core/expired.ts) ; in: received | failed
  error: string | null;
  identityChanged: boolean;
}

interface Row {
  id: string;
  peer: string;
  direction: 'in' | 'out';
  body: Buffer | null;
  sent_at: string;
  received_at: string | null;
  status: string;
  error: string | null;
  identity_changed: number;
}

/** The last `limit` entries with `peer`, oldest first. */
export function history(c: Client, peer: string, limit: number): HistoryEntry[] {
  const rows = c.db.prepare('SELECT * FROM (SELECT * FROM messages WHERE peer = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq').all(peer, limit) as Row[];
  return rows.map((r) => ({
    id: r.id,
    peer: r.peer,
    direction: r.direction,
    text: r.body ? new TextDecoder().decode(c.sealer.open('message', [r.peer, r.direction, r.id], new Uint8Array(r.body))) : null,
    sentAt: r.sent_at,
    receivedAt: r.received_at,
    status: r.status,
    error: r.error,
    identityChanged: r.identity_changed === 1,
  }));
}
