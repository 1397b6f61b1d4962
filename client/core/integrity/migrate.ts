// Store format 1 → 2, on the first open after the upgrade, in the caller's transaction. Format 1
// sealed each value with its column only and kept contacts as plain rows; format 2 binds every
// sealed value to its row (at-rest.ts), seals each contact record and lists contacts and sessions
// in the integrity manifest. The store is trusted as it stands at this moment: an edit made by a
// disk writer before the upgrade is carried over (docs/THREAT_MODEL.md says so).
//
// A value that does not open with the format-1 AD is left as it is: it was unreadable before and
// stays so, and a session or contact left out of the manifest reads as failed, never trusted.
import { parsePublicIdentity } from '../../../crypto/identity.js';
import { openFormat1, type Column, type RowKey } from '../at-rest.js';
import { putContactRow, type Trust } from '../contacts.js';
import type { DB } from '../db.js';
import { emptyManifest, rowDigest, saveManifest, sessionKey, type Store } from './manifest.js';

export type Row = Record<string, unknown> & { _rid: number };

export interface SealedColumn {
  table: string;
  column: string;
  legacy: string; // the format-1 column label
  next: Column;
  key: (r: Row) => RowKey;
}

const b = (v: unknown): Uint8Array => new Uint8Array(v as Buffer);
const str = (v: unknown): string => v as string;
const num = (v: unknown): number => v as number;

/** Every sealed column of format 1 with its row key (exported for the test that builds a format-1 home). */
export const FORMAT1_COLUMNS: readonly SealedColumn[] = [
  { table: 'sessions', column: 'state', legacy: 'session', next: 'session', key: (r) => [str(r.username), num(r.device)] },
  { table: 'sessions', column: 'previous', legacy: 'session', next: 'session', key: (r) => [str(r.username), num(r.device)] },
  { table: 'signed_prekeys', column: 'secret', legacy: 'signed_prekey', next: 'signed_prekey', key: (r) => [num(r.id)] },
  { table: 'one_time_prekeys', column: 'secret', legacy: 'one_time_prekey', next: 'one_time_prekey', key: (r) => [num(r.id)] },
  { table: 'messages', column: 'body', legacy: 'message', next: 'message', key: (r) => [str(r.peer), str(r.direction), str(r.id)] },
  { table: 'outbox', column: 'payload', legacy: 'outbox', next: 'outbox', key: (r) => [str(r.peer), str(r.message_id), str(r.kind)] },
  { table: 'groups', column: 'state', legacy: 'group_state', next: 'group_state', key: (r) => [b(r.group_id)] },
  { table: 'group_records', column: 'record', legacy: 'group_record', next: 'group_record', key: (r) => [b(r.group_id), num(r.epoch)] },
  {
    table: 'group_sender_keys',
    column: 'key',
    legacy: 'group_sender_key',
    next: 'group_sender_key',
    key: (r) => [b(r.group_id), str(r.sender), num(r.epoch), num(r.ours)],
  },
  {
    table: 'group_pending',
    column: 'body',
    legacy: 'group_pending',
    next: 'group_pending',
    key: (r) => [b(r.group_id), str(r.kind), str(r.sender), num(r.device), num(r.epoch), str(r.client_id)],
  },
  { table: 'group_messages', column: 'body', legacy: 'message', next: 'group_message', key: (r) => [b(r.group_id), str(r.sender), str(r.id)] },
  { table: 'incoming_files', column: 'ref', legacy: 'file_ref', next: 'file_ref', key: (r) => [str(r.sender), str(r.message_id)] },
];

function tableExists(db: DB, table: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
}

/** Reseals every format-1 value bound to its row; returns how many values it could not open. */
function resealColumns(s: Store, storageKey: Uint8Array): number {
  let unreadable = 0;
  for (const c of FORMAT1_COLUMNS) {
    if (!tableExists(s.db, c.table)) continue;
    const rows = s.db.prepare(`SELECT rowid AS _rid, * FROM ${c.table} WHERE ${c.column} IS NOT NULL`).all() as Row[];
    const update = s.db.prepare(`UPDATE ${c.table} SET ${c.column} = ? WHERE rowid = ?`);
    for (const r of rows) {
      let plain: Uint8Array;
      try {
        plain = openFormat1(storageKey, c.legacy, b(r[c.column]));
      } catch {
        unreadable++;
        continue;
      }
      update.run(Buffer.from(s.sealer.seal(c.next, c.key(r), plain)), r._rid);
    }
  }
  return unreadable;
}

interface ContactRow {
  username: string;
  identity: Buffer;
  trust: Trust;
  pending_identity: Buffer | null;
  added_at: number;
  updated_at: number;
}

/** Runs inside the caller's transaction. */
export function migrateFormat1(s: Store, storageKey: Uint8Array): { unreadable: number } {
  const unreadable = resealColumns(s, storageKey);
  const m = emptyManifest();
  for (const r of s.db.prepare('SELECT username, identity, trust, pending_identity, added_at, updated_at FROM contacts').all() as ContactRow[]) {
    let identity, pending;
    try {
      identity = parsePublicIdentity(b(r.identity));
      pending = r.pending_identity ? parsePublicIdentity(b(r.pending_identity)) : null;
    } catch {
      continue; // a row that does not parse is left out of the manifest: it reads as failed
    }
    const sealed = putContactRow(s, r.username, { identity, trust: r.trust, pendingIdentity: pending, trustBefore: 'unverified', rejected: [], addedAt: r.added_at }, r.updated_at);
    m.contacts.set(r.username, rowDigest(sealed));
  }
  for (const r of s.db.prepare('SELECT username, device, state, previous FROM sessions').all() as { username: string; device: number; state: Buffer; previous: Buffer | null }[]) {
    try {
      s.sealer.open('session', [r.username, r.device], b(r.state));
    } catch {
      continue; // did not migrate: left out, so it reads as failed
    }
    m.sessions.set(sessionKey(r.username, r.device), rowDigest(b(r.state), r.previous ? b(r.previous) : null));
  }
  saveManifest(s, m);
  return { unreadable };
}

/**
 * A manifest made from the rows as they are, for a store whose manifest is gone or unreadable:
 * only rows that open under their own row key are listed. Used together with an alarm (open.ts),
 * since these rows may come from an older copy.
 */
export function rebuildManifest(s: Store, keepGeneration: number): void {
  const m = emptyManifest();
  m.generation = keepGeneration;
  for (const r of s.db.prepare('SELECT username, sealed FROM contacts WHERE sealed IS NOT NULL').all() as { username: string; sealed: Buffer }[]) {
    try {
      s.sealer.open('contact', [r.username], b(r.sealed));
      m.contacts.set(r.username, rowDigest(b(r.sealed)));
    } catch {
      // left out: reads as failed
    }
  }
  for (const r of s.db.prepare('SELECT username, device, state, previous FROM sessions').all() as { username: string; device: number; state: Buffer; previous: Buffer | null }[]) {
    try {
      s.sealer.open('session', [r.username, r.device], b(r.state));
      m.sessions.set(sessionKey(r.username, r.device), rowDigest(b(r.state), r.previous ? b(r.previous) : null));
    } catch {
      // left out
    }
  }
  saveManifest(s, m);
}
