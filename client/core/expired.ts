// Expiry notices (docs/RELAY.md "Expiry notices"): the relay tells a sender which of its messages
// expired on the relay before the recipient device fetched them. Those messages were acknowledged
// as stored ("sent"), so without the notice the sender would read "sent" forever. The relay is
// trusted with delivery status anyway (it could drop a message and still say "sent"), so a
// notice needs no more proof than a `sent` ack does.
import { fromHex } from '../../crypto/encoding.js';
import type { Client } from './context.js';
import { tx, type DB } from './db.js';
import { EXPIRED_WORD } from './status.js';

/**
 * How long the client id of a message the relay acknowledged is kept: past the relay's message TTL
 * (30 days by default), notices can no longer name it.
 */
const KEEP_SENT_MS = 45 * 24 * 3600_000;

/**
 * Remembers which message a relay client id was (ids are random, so a notice cannot be read
 * without this). Called in the transaction that records the relay's acknowledgement; also drops
 * the records older than KEEP_SENT_MS (an index range, nothing to scan).
 */
export function rememberSent(db: DB, clientId: string, kind: 'text' | 'group', peer: string, messageId: string, now: number): void {
  db.prepare('INSERT OR REPLACE INTO sent_client_ids (client_id, kind, peer, message_id, at) VALUES (?, ?, ?, ?, ?)').run(clientId, kind, peer, messageId, now);
  db.prepare('DELETE FROM sent_client_ids WHERE at < ?').run(now - KEEP_SENT_MS);
}

/** One message named by a notice: our client id and the device it did not reach. */
export interface ExpiredItem {
  id: string;
  to: { user: string; device: number };
}


/**
 * Marks the messages a notice names as expired, unless a delivery receipt already came for them.
 * Client ids are looked up in sent_client_ids; ids from before it (`m<message id>-<device>`,
 * `g<message id>`) are read as such. Receipts expiring undelivered change nothing here. Returns
 * the peers and messages marked, for the warning.
 */
export function markExpired(c: Pick<Client, 'db'>, items: ExpiredItem[]): { peer: string; id: string }[] {
  const marked: { peer: string; id: string }[] = [];
  tx(c.db, () => {
    const lookup = c.db.prepare('SELECT kind, peer, message_id FROM sent_client_ids WHERE client_id = ?');
    const pairwise = c.db.prepare("UPDATE messages SET status = 'expired', error = 'expired_undelivered' WHERE peer = ? AND direction = 'out' AND id = ? AND status IN ('queued', 'sent')");
    const group = c.db.prepare("UPDATE group_messages SET status = 'expired', error = 'expired_undelivered' WHERE group_id = ? AND direction = 'out' AND id = ? AND status IN ('queued', 'sent')");
    const groupById = c.db.prepare("UPDATE group_messages SET status = 'expired', error = 'expired_undelivered' WHERE direction = 'out' AND id = ? AND status IN ('queued', 'sent')");
    for (const it of items) {
      const known = lookup.get(it.id) as { kind: string; peer: string; message_id: string } | undefined;
      if (known?.kind === 'text' && pairwise.run(known.peer, known.message_id).changes > 0) marked.push({ peer: known.peer, id: known.message_id });
      if (known?.kind === 'group' && group.run(fromHex(known.peer), known.message_id).changes > 0) marked.push({ peer: it.to.user, id: known.message_id });
      if (known) continue;
      const m = /^m(.+)-\d+$/.exec(it.id);
      if (m && pairwise.run(it.to.user, m[1]!).changes > 0) marked.push({ peer: it.to.user, id: m[1]! });
      const g = /^g(.+)$/.exec(it.id);
      if (g && groupById.run(g[1]!).changes > 0) marked.push({ peer: it.to.user, id: g[1]! });
    }
  });
  return marked;
}

/** The warning a command prints for a notice. */
export function expiredWarning(marked: { peer: string }[]): string | null {
  if (marked.length === 0) return null;
  const peers = [...new Set(marked.map((m) => `@${m.peer}`))].join(', ');
  return `${marked.length} message${marked.length === 1 ? '' : 's'} to ${peers} ${marked.length === 1 ? 'was' : 'were'} never fetched and expired on the relay (${EXPIRED_WORD}); send again if it still matters`;
}
