// Gaps the ratchet can see. When a message numbered n arrives, every earlier number of its chain
// that has not arrived becomes a skipped key in the session: the peer sent it (the numbers are
// authenticated), and it did not reach us. The relay delivers a device's queue in order, so an
// honest relay leaves such a gap open only briefly (two processes of the sender racing); one that
// stays open is a message the relay dropped, or acknowledged to the sender without storing.
// We remember when each gap was first seen and tell the user about the ones still open after
// GAP_GRACE_MS, once (docs/CLI.md "inbox"). Group sender chains are tracked the same way: a group
// message numbered n makes every earlier number of its sender's chain that has not arrived a gap
// (noteGroupGaps); the chain is named by its group id and key epoch, the peer is the sender.
import { concat, u32 } from '../../crypto/encoding.js';
import type { TheirSenderKey } from '../../crypto/group/index.js';
import type { SessionState } from '../../crypto/session.js';
import { CliError } from '../errors.js';
import type { Client } from './context.js';
import { lazySchema } from './db.js';

/** How long a gap may stay open before it counts as a lost message: longer than any honest reordering. */
export const GAP_GRACE_MS = 60_000;
/** Open gaps remembered per peer device; a peer that skips more (at most MAX_SKIPPED_KEYS per chain) is reported as this many. */
export const MAX_GAPS_PER_DEVICE = 2000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS message_gaps (
  peer    TEXT NOT NULL,
  device  INTEGER NOT NULL,
  dh      BLOB NOT NULL,                   -- the chain: the sender's ratchet public key, or group id || u32 key epoch (public, on the wire)
  n       INTEGER NOT NULL,                -- the missing message's number in that chain
  seen_at INTEGER NOT NULL,                -- when a later message showed it missing
  PRIMARY KEY (peer, device, dh, n)
);`;

const ensure = lazySchema(SCHEMA);

/** FASTCHAT_GAP_GRACE_SECONDS overrides GAP_GRACE_MS (tests use 0). */
export function gapGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FASTCHAT_GAP_GRACE_SECONDS;
  if (raw === undefined) return GAP_GRACE_MS;
  const s = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(s) || s > 30 * 24 * 3600) {
    throw new CliError('bad_env', `FASTCHAT_GAP_GRACE_SECONDS must be an integer 0..2592000, got "${raw}"`);
  }
  return s * 1000;
}

const key = (dh: Uint8Array, n: number): string => `${Buffer.from(dh).toString('hex')}/${n}`;

/**
 * After a message (dh, n) of `peer`/`device` decrypted, moving the session from `before` (none for a
 * first message) to `after`: that message is no longer missing, and keys the step skipped are.
 * Call in the transaction that stores `after`.
 */
export function noteGaps(c: Pick<Client, 'db'>, peer: string, device: number, before: SessionState | undefined, after: SessionState, arrived: { dh: Uint8Array; n: number }, now: number): void {
  const skipped = before?.ratchet.MKSKIPPED ?? [];
  const known = new Set(skipped.map((k) => key(k.dh, k.n)));
  const fresh = known.size === 0 ? after.ratchet.MKSKIPPED : after.ratchet.MKSKIPPED.filter((k) => !known.has(key(k.dh, k.n)));
  // A gap row is written only for a key the session skipped: a message that was not one (the
  // next of its chain, nearly every message) has none to close. A first message (no `before`) may
  // follow a session whose rows are still there, so it always closes its own.
  const wasSkipped = before === undefined || known.has(key(arrived.dh, arrived.n));
  recordGaps(c, peer, device, wasSkipped ? arrived : undefined, fresh, now);
}

/**
 * The same for a group message numbered `counter` that moved `sender`'s chain from `before` to
 * `after`: the numbers it skipped are gaps, and it closes its own. Call in the transaction that
 * stores `after`.
 */
export function noteGroupGaps(c: Pick<Client, 'db'>, sender: string, device: number, before: TheirSenderKey, after: TheirSenderKey, counter: number, now: number): void {
  const chain = concat(after.groupId, u32(after.epoch));
  const known = new Set(before.skipped.map((k) => k.counter));
  const fresh = after.skipped.filter((k) => !known.has(k.counter)).map((k) => ({ dh: chain, n: k.counter }));
  // As noteGaps: only a counter the chain had skipped can have a gap row to close.
  recordGaps(c, sender, device, known.has(counter) ? { dh: chain, n: counter } : undefined, fresh, now);
}

/** `arrived`: the message that closes its own gap row, when it can have one. */
function recordGaps(c: Pick<Client, 'db'>, peer: string, device: number, arrived: { dh: Uint8Array; n: number } | undefined, fresh: { dh: Uint8Array; n: number }[], now: number): void {
  if (!arrived && fresh.length === 0) return;
  ensure(c);
  if (arrived) c.db.prepare('DELETE FROM message_gaps WHERE peer = ? AND device = ? AND dh = ? AND n = ?').run(peer, device, Buffer.from(arrived.dh), arrived.n);
  if (fresh.length === 0) return;
  const insert = c.db.prepare('INSERT OR IGNORE INTO message_gaps (peer, device, dh, n, seen_at) VALUES (?, ?, ?, ?, ?)');
  for (const k of fresh) insert.run(peer, device, Buffer.from(k.dh), k.n, now);
  c.db
    .prepare(
      'DELETE FROM message_gaps WHERE peer = ? AND device = ? AND rowid NOT IN (SELECT rowid FROM message_gaps WHERE peer = ? AND device = ? ORDER BY seen_at DESC, n DESC LIMIT ?)',
    )
    .run(peer, device, peer, device, MAX_GAPS_PER_DEVICE);
}

export interface Gap {
  peer: string;
  /** Messages of this peer that never arrived. */
  missing: number;
  /** When the oldest of them was first seen missing (ISO 8601). */
  since: string;
}

/** The gaps open for at least `graceMs`, per peer; each is reported once (then forgotten). */
export function takeGaps(c: Pick<Client, 'db'>, now: number, graceMs: number): Gap[] {
  ensure(c);
  const cutoff = now - graceMs;
  const rows = c.db
    .prepare('SELECT peer, COUNT(*) AS missing, MIN(seen_at) AS since FROM message_gaps WHERE seen_at <= ? GROUP BY peer ORDER BY peer')
    .all(cutoff) as { peer: string; missing: number; since: number }[];
  if (rows.length > 0) c.db.prepare('DELETE FROM message_gaps WHERE seen_at <= ?').run(cutoff);
  return rows.map((r) => ({ peer: r.peer, missing: r.missing, since: new Date(r.since).toISOString() }));
}

/** The one summarised line: "2 messages from @alice and 1 from @bob never arrived (…)". */
export function gapLine(gaps: Gap[]): string {
  const parts = gaps.map((g, i) => (i === 0 ? `${g.missing} message${g.missing === 1 ? '' : 's'} from @${g.peer}` : `${g.missing} from @${g.peer}`));
  const list = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  return `${list} never arrived: later ones did, so the relay dropped or withheld ${gaps.length === 1 && gaps[0]!.missing === 1 ? 'it' : 'them'}`;
}
