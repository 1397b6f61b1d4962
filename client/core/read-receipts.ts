// Read receipts (docs/PROTOCOL.md §12.2): a `receipt` payload with `read: true`, end to end like a
// delivery receipt, telling a contact that their messages were shown. "Shown" is what a person
// looks at: `fastchat chat` drawing the message, or the page with the conversation open in a
// visible tab. `inbox` and `history` print to a terminal or a pipe nobody may be reading, and a
// script calls them, so they send none; a message `inbox` printed is still read-receipted once a
// chat shows it. Each message owes one (messages.read_owed, set where its delivery receipt is
// queued), sent once, and the ones a pass shows leave together, one receipt per peer naming many.
//
// The setting is per device (meta `read_receipts`, default on), as Signal's: off, nothing is
// queued and what is shown meanwhile is never receipted later. Groups have none (no delivery
// receipts either: PROTOCOL "Group transport").
import { getMeta, setMeta, tx } from './db.js';
import type { Client } from './context.js';
import { queueReceipts } from './outbox.js';

const SETTING = 'read_receipts';

/** Whether this device sends read receipts (on unless turned off). */
export function readReceiptsOn(c: Client): boolean {
  return getMeta(c.db, SETTING) !== 'off';
}

export function setReadReceipts(c: Client, on: boolean): void {
  setMeta(c.db, SETTING, on ? 'on' : 'off');
}

/**
 * Queues one read receipt for `peer`'s messages `ids` (all shown just now; default: every one of
 * theirs, the page having the conversation on screen) that still owe one, and clears what they owe.
 * Returns how many ids the receipt names (0: nothing to flush). With the setting off, clears only.
 */
export function queueReadReceipts(c: Client, peer: string, ids?: readonly string[]): number {
  return tx(c.db, () => {
    const owed = (
      ids === undefined
        ? c.db.prepare("SELECT id FROM messages WHERE peer = ? AND direction = 'in' AND read_owed = 1 ORDER BY seq").all(peer)
        : c.db.prepare("SELECT id FROM messages WHERE peer = ? AND direction = 'in' AND read_owed = 1 AND id IN (SELECT value FROM json_each(?)) ORDER BY seq").all(peer, JSON.stringify(ids))
    ) as { id: string }[];
    if (owed.length === 0) return 0;
    const clear = c.db.prepare("UPDATE messages SET read_owed = 0 WHERE peer = ? AND direction = 'in' AND id = ?");
    for (const r of owed) clear.run(peer, r.id);
    if (!readReceiptsOn(c)) return 0;
    queueReceipts(
      c,
      peer,
      owed.map((r) => r.id),
      true,
    );
    return owed.length;
  });
}
