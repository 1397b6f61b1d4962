// Held group items (group_pending): messages, keys and changes that arrived before the record or key
// they need. Anyone can send us such items, for groups we do not even hold, so holding is bounded
// per relay sender, per group and in total, in count and bytes, and a held item expires
// (GROUP_HELD_* in crypto/consts.ts). What goes over a limit is not stored and is counted in the
// one summary the command prints (group-notices.ts), never one warning per item.
import {
  GROUP_HELD_MAX_BYTES,
  GROUP_HELD_MAX_BYTES_PER_SENDER,
  GROUP_HELD_PER_GROUP,
  GROUP_HELD_PER_SENDER,
  GROUP_HELD_TOTAL,
  GROUP_HELD_TTL_MS,
} from '../../crypto/consts.js';
import { toHex } from '../../crypto/encoding.js';
import type { Client } from './context.js';
import type { SqlValue } from './platform/sql.js';
import { addPending, type Pending } from './group-store.js';

export type HeldOutcome = 'held' | 'dropped';

interface Usage {
  n: number;
  bytes: number;
}

function usage(c: Pick<Client, 'db'>, where: string, arg?: SqlValue): Usage {
  const r = c.db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM group_pending ${where}`).get(...(arg === undefined ? [] : [arg])) as Usage;
  return r;
}

/**
 * Holds `p` unless that would take its relay sender, its group or the whole store past a limit.
 * The sender counted is the relay's `from`: for a hostile relay, which can name anyone, the total
 * limits still hold.
 */
export function holdItem(c: Pick<Client, 'db' | 'sealer'>, p: Omit<Pending, 'seq'>): HeldOutcome {
  const size = p.body.length;
  const bySender = usage(c, 'WHERE sender = ?', p.sender);
  if (bySender.n + 1 > GROUP_HELD_PER_SENDER || bySender.bytes + size > GROUP_HELD_MAX_BYTES_PER_SENDER) return 'dropped';
  if (usage(c, 'WHERE group_id = ?', p.groupId).n + 1 > GROUP_HELD_PER_GROUP) return 'dropped';
  const all = usage(c, '');
  if (all.n + 1 > GROUP_HELD_TOTAL || all.bytes + size > GROUP_HELD_MAX_BYTES) return 'dropped';
  addPending(c, p);
  return 'held';
}

/** Deletes held items older than GROUP_HELD_TTL_MS; returns how many per group id (hex). */
export function expireHeld(c: Pick<Client, 'db'>, now: number): Map<string, number> {
  const cutoff = new Date(now - GROUP_HELD_TTL_MS).toISOString();
  const rows = c.db.prepare('DELETE FROM group_pending WHERE received_at < ? RETURNING group_id').all(cutoff) as { group_id: Uint8Array }[];
  const out = new Map<string, number>();
  for (const r of rows) {
    const id = toHex(new Uint8Array(r.group_id));
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}
