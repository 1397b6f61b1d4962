// The integrity manifest: one sealed value that names every contact row and every session row of
// store.db with a digest of its sealed bytes, plus the store's generation counter. Sealing binds a
// value to its row, but cannot tell that a row was deleted, put back from an older copy of the file,
// or that a whole row set was replaced; the manifest can, because a disk writer without the storage
// key can neither forge it nor edit one entry of it (docs/PROTOCOL.md S.3).
//
// Every write of a contact or session row updates its entry in the same transaction and bumps the
// generation; the counter file outside the store (counter.ts) then records the generation, so a
// store.db rolled back as a whole is noticed at the next open (open.ts).
import { concat, lp, Reader, u32, u64, u8, utf8, fromUtf8, equalBytes } from '../../../crypto/encoding.js';
import { sodium } from '../../../crypto/sodium.js';
import type { Sealer } from '../at-rest.js';
import { afterCommit, forgetPageReads, pageRead, type DB } from '../db.js';
import type { SqlStatement } from '../platform/sql.js';

/**
 * Format 1 names contact and session rows; format 2 adds kept values of the `meta` table (our own
 * device list). A manifest with no kept value is still written as format 1, so a home with one
 * device stays readable by a build from before format 2.
 */
const MANIFEST_FORMAT = 1;
const MANIFEST_FORMAT_VALUES = 2;
/**
 * Digest of a row's sealed bytes: BLAKE2b-128. The manifest is sealed, so a writer cannot change a
 * digest; replacing a row unnoticed needs another sealed value with the same digest, a second
 * preimage (2^128 work). Collisions do not help: only we produce sealed values.
 */
export const ROW_DIGEST_BYTES = 16;

/** Why sending is refused until `fastchat reset-sessions` (open.ts sets it, reset clears it). */
export type AlarmReason = 'rolled_back' | 'counter_missing' | 'counter_unreadable' | 'manifest_unreadable' | 'store_replaced';
const ALARM_REASONS: readonly AlarmReason[] = ['rolled_back', 'counter_missing', 'counter_unreadable', 'manifest_unreadable', 'store_replaced'];

export interface Alarm {
  reason: AlarmReason;
  at: number; // ms since the epoch, when it was detected
  storeGeneration: number; // what the store said
  counterGeneration: number; // what the counter file said (0 when missing or unreadable)
}

export interface Manifest {
  generation: number;
  alarm: Alarm | null;
  contacts: Map<string, Uint8Array>; // username → digest of contacts.sealed
  sessions: Map<string, Uint8Array>; // sessionKey(user, device) → digest of (state, previous)
  values: Map<string, Uint8Array>; // meta key → digest of its value (keptValue.ts)
}

export interface Store {
  db: DB;
  sealer: Sealer;
}

export class ManifestUnreadable extends Error {
  constructor(readonly why: 'missing' | 'unreadable') {
    super(`the store's integrity manifest is ${why}`);
  }
}

export function sessionKey(user: string, device: number): string {
  return `${user}/${device}`;
}

export function splitSessionKey(k: string): { user: string; device: number } {
  const i = k.lastIndexOf('/');
  return { user: k.slice(0, i), device: Number(k.slice(i + 1)) };
}

export function rowDigest(...parts: (Uint8Array | null)[]): Uint8Array {
  // lp() with a flag keeps (a, null) and (null, a) and (a||b, '') apart.
  const framed = parts.map((p) => (p === null ? u8(0) : concat(u8(1), u32(p.length), p)));
  return sodium().crypto_generichash(ROW_DIGEST_BYTES, concat(...framed), null);
}

export function sameDigest(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && equalBytes(a, b);
}

export function emptyManifest(): Manifest {
  return { generation: 0, alarm: null, contacts: new Map(), sessions: new Map(), values: new Map() };
}

export function encodeManifest(m: Manifest): Uint8Array {
  const out: Uint8Array[] = [u8(m.values.size > 0 ? MANIFEST_FORMAT_VALUES : MANIFEST_FORMAT), u64(m.generation)];
  if (m.alarm) out.push(u8(1), u8(ALARM_REASONS.indexOf(m.alarm.reason)), u64(m.alarm.at), u64(m.alarm.storeGeneration), u64(m.alarm.counterGeneration));
  else out.push(u8(0));
  const contacts = [...m.contacts].sort(([a], [b]) => (a < b ? -1 : 1));
  out.push(u32(contacts.length));
  for (const [user, d] of contacts) out.push(lp(utf8(user)), d);
  const sessions = [...m.sessions].sort(([a], [b]) => (a < b ? -1 : 1));
  out.push(u32(sessions.length));
  for (const [k, d] of sessions) {
    const { user, device } = splitSessionKey(k);
    out.push(lp(utf8(user)), u32(device), d);
  }
  if (m.values.size > 0) {
    const values = [...m.values].sort(([a], [b]) => (a < b ? -1 : 1));
    out.push(u32(values.length));
    for (const [k, d] of values) out.push(lp(utf8(k)), d);
  }
  return concat(...out);
}

export function parseManifest(b: Uint8Array): Manifest {
  const r = new Reader(b);
  const format = r.u8();
  if (format !== MANIFEST_FORMAT && format !== MANIFEST_FORMAT_VALUES) throw new Error('unknown manifest format');
  const generation = r.u64();
  let alarm: Alarm | null = null;
  if (r.u8() === 1) {
    const reason = ALARM_REASONS[r.u8()];
    if (!reason) throw new Error('unknown alarm reason');
    alarm = { reason, at: r.u64(), storeGeneration: r.u64(), counterGeneration: r.u64() };
  }
  const contacts = new Map<string, Uint8Array>();
  for (let n = r.u32(); n > 0; n--) contacts.set(fromUtf8(r.lp()), r.bytes(ROW_DIGEST_BYTES));
  const sessions = new Map<string, Uint8Array>();
  for (let n = r.u32(); n > 0; n--) {
    const user = fromUtf8(r.lp());
    sessions.set(sessionKey(user, r.u32()), r.bytes(ROW_DIGEST_BYTES));
  }
  const values = new Map<string, Uint8Array>();
  if (format === MANIFEST_FORMAT_VALUES) for (let n = r.u32(); n > 0; n--) values.set(fromUtf8(r.lp()), r.bytes(ROW_DIGEST_BYTES));
  r.end();
  return { generation, alarm, contacts, sessions, values };
}

const ROW: readonly string[] = ['store'];

/** Whether this store has a manifest row at all (a format-1 store has none). */
export function hasManifest(db: DB): boolean {
  return db.prepare('SELECT 1 FROM store_manifest WHERE id = 1').get() !== undefined;
}

/**
 * The last manifest this process read or wrote, by its sealed bytes: every message reads it a few
 * times, and opening and parsing it each time would cost more than the message. A copy is handed
 * out, so a caller's changes reach the cache only through saveManifest.
 */
interface Cached {
  sealed: Buffer;
  manifest: Manifest;
}
const cache = new WeakMap<DB, Cached>();
const statements = new WeakMap<DB, { get: SqlStatement; put: SqlStatement }>();

function stmts(db: DB): { get: SqlStatement; put: SqlStatement } {
  let st = statements.get(db);
  if (!st) {
    st = {
      get: db.prepare('SELECT sealed FROM store_manifest WHERE id = 1'),
      put: db.prepare('INSERT INTO store_manifest (id, sealed) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed'),
    };
    statements.set(db, st);
  }
  return st;
}

function copy(m: ManifestView): Manifest {
  return { generation: m.generation, alarm: m.alarm && { ...m.alarm }, contacts: new Map(m.contacts), sessions: new Map(m.sessions), values: new Map(m.values) };
}

export function loadManifest(s: Store): Manifest {
  return copy(viewManifest(s));
}

/** The manifest as stored, read only: the cached one itself (no copy of its maps), for checks of one entry. */
export interface ManifestView {
  readonly generation: number;
  readonly alarm: Readonly<Alarm> | null;
  readonly contacts: ReadonlyMap<string, Uint8Array>;
  readonly sessions: ReadonlyMap<string, Uint8Array>;
  readonly values: ReadonlyMap<string, Uint8Array>;
}

/**
 * As loadManifest, without the copy: a row check reads one entry per message, and copying every
 * entry's map for it grew with the number of contacts and sessions (docs/PERFORMANCE.md "Client
 * cores"). The stored row is still read each call; the cache answers only for its exact bytes.
 */
export function viewManifest(s: Store): ManifestView {
  // Once per page (db.ts pageRead): saveManifest forgets it.
  return pageRead(s.db, 'manifest', '', () => readManifest(s));
}

function readManifest(s: Store): Manifest {
  const r = stmts(s.db).get.get() as { sealed: Buffer } | undefined;
  if (!r) throw new ManifestUnreadable('missing');
  const hit = cache.get(s.db);
  if (hit && equalBytes(hit.sealed, r.sealed)) return hit.manifest;
  let m: Manifest;
  try {
    m = parseManifest(s.sealer.open('manifest', ROW, new Uint8Array(r.sealed)));
  } catch {
    throw new ManifestUnreadable('unreadable');
  }
  cache.set(s.db, { sealed: r.sealed, manifest: m });
  return m;
}

type GenerationSink = (generation: number) => void;
const sinks = new WeakMap<DB, GenerationSink>();

/** Where the generation goes after each commit that changed it (the counter file, set by open.ts). */
export function onGenerationCommitted(db: DB, sink: GenerationSink): void {
  sinks.set(db, sink);
}

/**
 * Bumps the generation and stores the manifest. Call inside the transaction that changed the rows
 * it describes; the counter file is written only after that transaction commits, and with the
 * generation then in the store (never ahead of it: a counter ahead of the store reads as a rollback).
 */
export function saveManifest(s: Store, m: Manifest): void {
  m.generation += 1;
  const sealed = Buffer.from(s.sealer.seal('manifest', ROW, encodeManifest(m)));
  stmts(s.db).put.run(sealed);
  cache.set(s.db, { sealed, manifest: copy(m) });
  // What a page kept of the manifest, and the contact checks made against it, are read again.
  forgetPageReads(s.db, 'manifest');
  forgetPageReads(s.db, 'contact');
  const sink = sinks.get(s.db);
  // The generation this transaction commits (a rolled-back savepoint's save is replaced by a later one).
  const generation = m.generation;
  if (sink) afterCommit(s.db, 'store-generation', () => sink(generation));
}

/** Load, change, save: the one way row modules update their entries. */
export function updateManifest(s: Store, change: (m: Manifest) => void): void {
  const m = loadManifest(s);
  change(m);
  saveManifest(s, m);
}
