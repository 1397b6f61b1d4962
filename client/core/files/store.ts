// Files received and still to fetch: one row per file message, with its reference (blob id, key,
// hash) sealed at rest. Written in the transaction that stored the message, so a crash before the
// download loses nothing: the next inbox or chat fetches it.
import { fromUtf8, utf8 } from '../../../crypto/encoding.js';
import type { Client } from '../context.js';
import { lazySchema } from '../db.js';
import type { FileRef } from '../payload.js';

export type TransferStatus = 'pending' | 'done' | 'failed';

export interface IncomingFile {
  id: string; // message id
  from: string;
  group: Uint8Array | null;
  file: FileRef;
  status: TransferStatus;
  path: string | null;
  error: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS incoming_files (
  message_id TEXT NOT NULL,
  sender     TEXT NOT NULL,
  group_id   BLOB,                        -- NULL for a direct message
  ref        BLOB NOT NULL,               -- sealed FileRef JSON (holds the blob key)
  status     TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
  path       TEXT,                        -- where it was saved
  error      TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (sender, message_id)
);`;

const ensure = lazySchema(SCHEMA);

export function recordIncomingFile(c: Client, f: { id: string; from: string; group: Uint8Array | null; file: FileRef }): void {
  ensure(c);
  c.db
    .prepare("INSERT OR IGNORE INTO incoming_files (message_id, sender, group_id, ref, status, created_at) VALUES (?, ?, ?, ?, 'pending', ?)")
    .run(f.id, f.from, f.group ? Buffer.from(f.group) : null, Buffer.from(c.sealer.seal('file_ref', [f.from, f.id], utf8(JSON.stringify(f.file)))), c.now());
}

type Row = { message_id: string; sender: string; group_id: Buffer | null; ref: Buffer; status: TransferStatus; path: string | null; error: string | null };

function fromRow(c: Client, r: Row): IncomingFile {
  return {
    id: r.message_id,
    from: r.sender,
    group: r.group_id ? new Uint8Array(r.group_id) : null,
    file: JSON.parse(fromUtf8(c.sealer.open('file_ref', [r.sender, r.message_id], new Uint8Array(r.ref)))) as FileRef,
    status: r.status,
    path: r.path,
    error: r.error,
  };
}

/** Files not fetched yet, oldest first. */
export function pendingFiles(c: Client): IncomingFile[] {
  ensure(c);
  return (c.db.prepare("SELECT * FROM incoming_files WHERE status = 'pending' ORDER BY created_at, rowid").all() as Row[]).map((r) => fromRow(c, r));
}

export function getIncomingFile(c: Client, from: string, id: string): IncomingFile | undefined {
  ensure(c);
  const r = c.db.prepare('SELECT * FROM incoming_files WHERE sender = ? AND message_id = ?').get(from, id) as Row | undefined;
  return r && fromRow(c, r);
}

export function markFile(c: Client, from: string, id: string, status: TransferStatus, path: string | null, error: string | null): void {
  ensure(c);
  c.db.prepare('UPDATE incoming_files SET status = ?, path = ?, error = ? WHERE sender = ? AND message_id = ?').run(status, path, error, from, id);
}
