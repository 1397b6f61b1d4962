// History for a device just linked (docs/PROTOCOL.md D.12 step 4, docs/CLI.md "device approve
// --history"): the approving device sends the conversations it holds to that one device, in
// `history` payloads (§12) over a pairwise session like any other message, so the relay carries
// only ciphertext; the new device stores them once each, as read, without receipts
// (history-receive.ts).
import type { PreKeyBundle } from '../../crypto/prekeys.js';
import { utf8 } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import { CliError, usageError } from '../errors.js';
import { sameDeviceKeys } from './contact-record.js';
import { ourAddress, type Client } from './context.js';
import { tx } from './db.js';
import { refreshOwnList } from './fanout.js';
import { encryptQueued, flushOutbox, newMessageId, queueForOwnDevice } from './outbox.js';
import { listGroups, loadRecords } from './group-store.js';
import { groupChangePayload } from './group-keys.js';
import {
  HISTORY_MAX_ENTRIES,
  HistoryEntrySchema,
  HistoryGroupEntrySchema,
  type GroupChangePayload,
  type HistoryGroupEntry,
  type HistoryPayload,
  type HistoryPayloadEntry,
} from './payload.js';
import { fetchBundles } from './relay-api.js';
import type { RelayTarget } from './relay-http.js';
import { hiddenPeers } from './requests.js';

/**
 * How long `device approve --history` waits by default for the new device to publish its list
 * entry and keys (it does so seconds after the approval reaches it, D.12 step 3); past it, the
 * approval stands and no history is sent. `--wait SECONDS` changes it within the bounds below.
 */
export const HISTORY_WAIT_MS = 60_000;
/**
 * Bounds of `--wait`: at least a second (one look at the relay), at most ten minutes, the relay's
 * default link-code lifetime: a new device that has not linked by then has lost its code anyway.
 */
export const HISTORY_WAIT_MIN_S = 1;
export const HISTORY_WAIT_MAX_S = 600;

/** `--wait SECONDS` as milliseconds: whole seconds within the bounds, else a usage error (exit 2). */
export function checkHistoryWait(typed: string): number {
  const s = /^\d{1,4}$/.test(typed) ? Number(typed) : NaN;
  if (!(s >= HISTORY_WAIT_MIN_S && s <= HISTORY_WAIT_MAX_S)) {
    throw usageError(`--wait "${typed.slice(0, 20)}" is not a number of seconds from ${HISTORY_WAIT_MIN_S} to ${HISTORY_WAIT_MAX_S}`, `e.g. --wait 120; without it the wait is ${HISTORY_WAIT_MS / 1000} s`);
  }
  return s * 1000;
}
/** How often the wait asks the relay again. */
const HISTORY_POLL_MS = 1000;
/**
 * Largest encoded `history` payload the sender makes: under MAX_PLAINTEXT_BYTES (65,535), the most
 * one ratchet message carries, with room to spare. An entry too long to fit alone is left out.
 */
export const HISTORY_PAYLOAD_MAX_BYTES = 60_000;
/** Payloads queued, encrypted and flushed per step: a long history streams out, never held whole. */
const HISTORY_STEP_PAYLOADS = 16;
/** Messages read from the store per query. */
const READ_PAGE = 1000;

export interface HistorySent {
  entries: number; // entries that left in history payloads (or wait in the outbox, see `pending`)
  payloads: number;
  skipped: number; // messages left out: unreadable at rest, or an id, time or text a payload cannot carry
  pending: number; // payloads still in the outbox (relay unreachable): they leave with the next command that sends
}

/**
 * Waits (up to `waitMs`) until our own device list holds `device` and the relay serves its keys
 * under that entry, then sends it this home's history (streamHistory). `waiting` is called once if
 * the device is not there at the first look.
 */
export async function sendHistory(c: Client, t: RelayTarget, device: number, waiting: () => void, waitMs = HISTORY_WAIT_MS): Promise<HistorySent> {
  const deadline = Date.now() + waitMs;
  for (let first = true; ; first = false) {
    const found = await listedWithKeys(c, t, device);
    if (found.bundles) return streamHistory(c, t, device, found.bundles);
    if (Date.now() >= deadline) {
      throw new CliError('history_timeout', `device ${device} was approved, but it did not publish its keys within ${waitMs / 1000} s: no history was sent`, {
        hint: `check that \`fastchat device link\` finished on the new device, then send the history with \`fastchat device history ${device}\``,
      });
    }
    if (first) waiting();
    await new Promise((res) => setTimeout(res, HISTORY_POLL_MS));
  }
}

/**
 * `fastchat device history N`: this home's history to our own device N, now, by the same path as
 * at approval, with no wait: N must be another device our signed list holds, and the relay must
 * serve its keys under that list's entry.
 */
export async function sendHistoryTo(c: Client, t: RelayTarget, device: number): Promise<HistorySent> {
  if (device === ourAddress(c).device) {
    throw new CliError('own_device', `device ${device} is this home: history goes to another device of the account`, { hint: 'see `fastchat device list` for the others' });
  }
  const found = await listedWithKeys(c, t, device);
  if (!found.listed) {
    const ids = found.devices.join(', ') || 'none';
    throw new CliError('unknown_device', `device ${device} is not in the device list of @${ourAddress(c).user} (its devices: ${ids}); no history was sent`, { hint: 'see `fastchat device list`' });
  }
  if (!found.bundles) {
    throw new CliError('no_keys_published', `device ${device} is listed, but the relay serves no keys for it under its list entry; no history was sent`, {
      hint: `check that \`fastchat device link\` finished on device ${device}, then run this again`,
    });
  }
  return streamHistory(c, t, device, found.bundles);
}

/**
 * One look at our own list (checked under the account key) and the relay's bundles: whether the
 * list holds `device`, and the bundles when the relay serves one for it under that entry's keys
 * (a bundle under any other key is not used: the relay cannot slip in a device of its own).
 */
async function listedWithKeys(c: Client, t: RelayTarget, device: number): Promise<{ devices: number[]; listed: boolean; bundles?: PreKeyBundle[] }> {
  const devices = (await refreshOwnList(c, t))?.devices ?? [];
  const entry = devices.find((d) => d.device === device);
  const ids = devices.map((d) => d.device);
  if (!entry) return { devices: ids, listed: false };
  let bundles: PreKeyBundle[] = [];
  try {
    bundles = await fetchBundles(t, ourAddress(c).user);
  } catch (e) {
    if (!(e instanceof CliError && e.code === 'no_keys_published')) throw e;
  }
  const served = bundles.some((b) => b.address.device === device && sameDeviceKeys(b.identity, entry));
  return { devices: ids, listed: true, ...(served ? { bundles } : {}) };
}

/** Sends `device` every message of this home's history (historyBatches), oldest first, HISTORY_STEP_PAYLOADS payloads at a time. */
async function streamHistory(c: Client, t: RelayTarget, device: number, bundles: PreKeyBundle[]): Promise<HistorySent> {
  const me = ourAddress(c).user;
  const sent: HistorySent = { entries: 0, payloads: 0, skipped: 0, pending: 0 };
  const ids: string[] = [];
  let step: (HistoryPayload | GroupChangePayload)[] = [];
  const flush = async (): Promise<void> => {
    tx(c.db, () => {
      for (const p of step) queueForOwnDevice(c, device, p);
    });
    step = [];
    await encryptQueued(c, t, new Map([[me, bundles]]));
    await flushOutbox(c, t);
  };
  for (const p of historyBatches(c, sent)) {
    step.push(p);
    if (p.type === 'history') {
      ids.push(p.id);
      sent.entries += p.entries.length;
      sent.payloads++;
    }
    if (step.length >= HISTORY_STEP_PAYLOADS) await flush();
  }
  if (step.length > 0) await flush();
  sent.pending = countQueued(c, ids);
  return sent;
}

type Row = { seq: number; id: string; peer: string; direction: 'in' | 'out'; body: Uint8Array; sent_at: string; status: string };
type GroupRow = { seq: number; id: string; sender: string; direction: 'in' | 'out'; body: Uint8Array; sent_at: string; status: string };
type Entry = HistoryPayloadEntry | HistoryGroupEntry;

/** Entries gathered into payloads under both bounds; `add` returns the payload an entry closed, if any. */
class Batcher {
  private entries: Entry[] = [];
  private bytes: number;
  private readonly base: number;
  constructor(
    private readonly c: Client,
    private readonly sent: HistorySent,
  ) {
    this.base = utf8(JSON.stringify({ v: 1, type: 'history', id: 'x'.repeat(48), sentAt: new Date(c.now()).toISOString(), entries: [] })).length;
    this.bytes = this.base;
  }
  add(e: Entry | null): HistoryPayload | null {
    const size = e ? utf8(JSON.stringify(e)).length + 1 : 0;
    if (!e || this.base + size > HISTORY_PAYLOAD_MAX_BYTES) {
      this.sent.skipped++;
      return null;
    }
    const full = this.entries.length >= HISTORY_MAX_ENTRIES || this.bytes + size > HISTORY_PAYLOAD_MAX_BYTES ? this.end() : null;
    this.entries.push(e);
    this.bytes += size;
    return full;
  }
  end(): HistoryPayload | null {
    if (this.entries.length === 0) return null;
    const p: HistoryPayload = { v: 1, type: 'history', id: newMessageId(this.c), sentAt: new Date(this.c.now()).toISOString(), entries: this.entries };
    this.entries = [];
    this.bytes = this.base;
    return p;
  }
}

/**
 * The history as payloads, oldest first, each under HISTORY_PAYLOAD_MAX_BYTES and
 * HISTORY_MAX_ENTRIES: the conversations with users first, then each group we are an active member
 * of, its batches led by its chain (a `group_change` from the create record, G.9 rule 1), so the
 * new device holds the group before its history arrives; a device that holds it finds nothing new.
 * A batch holds one group's entries or pairwise ones only: a receiver that refuses one (a group it
 * does not hold, a client from before group history) loses that batch, not the others.
 * Left out (counted in `sent.skipped`): messages with no readable text (failed, or unreadable at
 * rest), and any message the entry schema refuses. Left out uncounted: conversations still
 * requests or blocked, and groups we left or were removed from. A message still queued here
 * leaves from here: it is sent as `sent`.
 */
export function* historyBatches(c: Client, sent: HistorySent): Generator<HistoryPayload | GroupChangePayload> {
  const hidden = hiddenPeers(c);
  const pairwise = new Batcher(c, sent);
  for (const rows of pages<Row>(c, 'SELECT seq, id, peer, direction, body, sent_at, status FROM messages WHERE seq > ? AND body IS NOT NULL ORDER BY seq LIMIT ?')) {
    for (const r of rows) {
      if (hidden.has(r.peer)) continue;
      const p = pairwise.add(entryOf(c, r));
      if (p) yield p;
    }
  }
  const last = pairwise.end();
  if (last) yield last;
  for (const g of listGroups(c)) {
    if (g.status !== 'active') continue;
    const batcher = new Batcher(c, sent);
    let chained = false;
    const led = function* (p: HistoryPayload | null): Generator<HistoryPayload | GroupChangePayload> {
      if (!p) return;
      if (!chained) yield groupChangePayload(c, loadRecords(c, g.groupId));
      chained = true;
      yield p;
    };
    const id = g.groupId;
    for (const rows of pages<GroupRow>(c, 'SELECT seq, id, sender, direction, body, sent_at, status FROM group_messages WHERE group_id = ? AND seq > ? AND body IS NOT NULL ORDER BY seq LIMIT ?', id)) {
      for (const r of rows) yield* led(batcher.add(groupEntryOf(c, g.groupId, g.idHex, r)));
    }
    yield* led(batcher.end());
  }
}

/** A query's rows READ_PAGE at a time, by seq (its last two parameters: after, limit). */
function* pages<R extends { seq: number }>(c: Client, sql: string, ...first: Uint8Array[]): Generator<R[]> {
  const stmt = c.db.prepare(sql);
  for (let after = 0; ; ) {
    const rows = stmt.all(...first, after, READ_PAGE) as R[];
    if (rows.length === 0) return;
    after = rows[rows.length - 1]!.seq;
    yield rows;
  }
}

/** The stored text of a message, or null when it does not open under its own row (or is not UTF-8). */
function openText(c: Client, label: 'message' | 'group_message', row: (string | Uint8Array)[], body: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(c.sealer.open(label, row, new Uint8Array(body)));
  } catch (e) {
    if (isCryptoError(e) || e instanceof TypeError) return null;
    throw e;
  }
}

function entryOf(c: Client, r: Row): HistoryPayloadEntry | null {
  const text = openText(c, 'message', [r.peer, r.direction, r.id], r.body);
  if (text === null) return null;
  // `read` goes as `delivered`: a device that predates read receipts refuses a batch naming it
  // (docs/PROTOCOL.md §12.2, history entries), and a message read was delivered.
  const status = r.direction === 'in' ? 'received' : r.status === 'queued' ? 'sent' : r.status === 'read' ? 'delivered' : r.status;
  const parsed = HistoryEntrySchema.safeParse({ peer: r.peer, direction: r.direction, id: r.id, sentAt: r.sent_at, text, status });
  return parsed.success ? parsed.data : null;
}

function groupEntryOf(c: Client, groupId: Uint8Array, group: string, r: GroupRow): HistoryGroupEntry | null {
  const text = openText(c, 'group_message', [groupId, r.sender, r.id], r.body);
  if (text === null) return null;
  const status = r.direction === 'in' ? 'received' : r.status === 'queued' ? 'sent' : r.status;
  const parsed = HistoryGroupEntrySchema.safeParse({ group, sender: r.sender, direction: r.direction, id: r.id, sentAt: r.sent_at, text, status });
  return parsed.success ? parsed.data : null;
}

function countQueued(c: Client, ids: string[]): number {
  if (ids.length === 0) return 0;
  const have = new Set((c.db.prepare('SELECT DISTINCT message_id FROM outbox WHERE peer = ?').all(ourAddress(c).user) as { message_id: string }[]).map((r) => r.message_id));
  return ids.filter((id) => have.has(id)).length;
}
