// History a device of our own account sends this one (docs/PROTOCOL.md D.12 step 4, §12.2): what
// incoming.ts hands over once the sender is one of our own listed devices. The sending side is
// history-transfer.ts.
import { fromHex, utf8 } from '../../crypto/encoding.js';
import { ourAddress, type Client } from './context.js';
import { loadGroup } from './group-store.js';
import { PayloadError, type HistoryGroupEntry, type HistoryPayload, type HistoryPayloadEntry } from './payload.js';
import { markAccepted } from './requests.js';

/**
 * Why a `history` payload that parsed is refused whole (incoming.ts reports it as a failed message
 * with this code): it names a group this device does not hold. The sender leads each group's
 * history with its chain, so this is a group we were never in, or one whose chain was refused.
 */
export class HistoryRefused extends Error {
  readonly code = 'history_unknown_group';
}

/**
 * Stores a `history` payload from our own device `device` (incoming.ts has checked that our list
 * holds it): each pairwise entry once per (peer, direction, id), each group entry once per (group,
 * sender, id), with the sender's sentAt and status, not unread, and no receipt. Refused whole,
 * before anything is stored: a pairwise entry naming our own account as its peer, a group entry
 * whose sender does not fit its direction (out is ours, in is another member's), and a group entry
 * of a group this device does not hold (HistoryRefused).
 */
export function storeHistory(c: Client, device: number, p: HistoryPayload): { kind: 'history'; device: number; entries: number; added: number } {
  const me = ourAddress(c).user;
  const pairwise = p.entries.filter((e): e is HistoryPayloadEntry => 'peer' in e);
  const grouped = p.entries.filter((e): e is HistoryGroupEntry => 'group' in e);
  if (pairwise.some((e) => e.peer === me)) throw new PayloadError('a history entry names this account as its peer');
  if (grouped.some((e) => (e.direction === 'out') !== (e.sender === me))) throw new PayloadError('a group history entry names a sender that does not fit its direction');
  const groups = new Map<string, Uint8Array>();
  for (const hex of new Set(grouped.map((e) => e.group))) {
    const id = fromHex(hex);
    if (!loadGroup(c, id)) throw new HistoryRefused(`history for group ${hex.slice(0, 16)}…, which this device does not hold`);
    groups.set(hex, id);
  }
  // The approving device sends only accepted conversations: they are accepted here too (before
  // the entries go in, so accepting a pending request here receipts its own messages, not these).
  for (const peer of new Set(pairwise.map((e) => e.peer))) markAccepted(c, peer);
  const insert = c.db.prepare('INSERT OR IGNORE INTO messages (id, peer, direction, body, sent_at, status) VALUES (?, ?, ?, ?, ?, ?)');
  const insertGroup = c.db.prepare('INSERT OR IGNORE INTO group_messages (group_id, id, sender, direction, body, sent_at, status, unread) VALUES (?, ?, ?, ?, ?, ?, ?, 0)');
  let added = 0;
  for (const e of p.entries) {
    if ('peer' in e) {
      const body = c.sealer.seal('message', [e.peer, e.direction, e.id], utf8(e.text));
      added += insert.run(e.id, e.peer, e.direction, body, e.sentAt, e.status).changes;
    } else {
      const id = groups.get(e.group)!;
      const body = c.sealer.seal('group_message', [id, e.sender, e.id], utf8(e.text));
      added += insertGroup.run(id, e.id, e.sender, e.direction, body, e.sentAt, e.status).changes;
    }
  }
  return { kind: 'history', device, entries: p.entries.length, added };
}
