// The high-water mark: the relay's commit counter (meta.ts) written to a small file beside the
// database, `<db>-hwm`, after every commit. It lives outside the SQLite file on purpose: when a
// -wal is truncated, emptied or fails its checksums, SQLite silently starts from the last good
// frame and the counter inside the database goes back with everything else, but this file does
// not. At start a counter below the mark means committed (acknowledged) transactions are gone.
//
// Written with one pwrite of a fixed-size line after each commit, not fsynced (a kill -9 keeps
// what the page cache holds; an fsync per commit would double the relay's fsyncs). It is written
// only after the commit returned, so the mark is never ahead of a committed counter; after a
// power loss it may be behind (fewer losses detected), never ahead (no false alarm) — except with
// --synchronous normal, where a power loss really can lose acknowledged commits, which is what the
// alarm then says.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';

const MAGIC = 'fastchat-relay-hwm 1';
const LINE = /^fastchat-relay-hwm 1 ([A-Za-z0-9_-]{22}) (\d{16})\n$/;

export interface Mark {
  relayId: string;
  commits: number;
}

export const markPath = (db: string): string => `${db}-hwm`;

/** The mark beside `db`: null when there is none, 'unreadable' when the file is not one. */
export function readMark(db: string): Mark | null | 'unreadable' {
  const p = markPath(db);
  if (!existsSync(p)) return null;
  const m = LINE.exec(readFileSync(p, 'latin1'));
  return m ? { relayId: m[1]!, commits: Number(m[2]) } : 'unreadable';
}

const line = (relayId: string, commits: number): Buffer => Buffer.from(`${MAGIC} ${relayId} ${String(commits).padStart(16, '0')}\n`, 'latin1');

/** Writes the mark at once, durably (start-up, an operator's reset). */
export function writeMarkNow(db: string, mark: Mark): void {
  const fd = openSync(markPath(db), 'w', 0o600);
  try {
    writeSync(fd, line(mark.relayId, mark.commits), 0, undefined, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The relay's open mark file, rewritten in place after each commit. */
export class MarkWriter {
  private fd: number | null;
  private last = -1;

  constructor(
    private readonly db: string,
    private readonly relayId: string,
  ) {
    this.fd = openSync(markPath(db), 'r+');
  }

  /** Records `commits` (ignored when not above what was written: the mark only goes up). */
  write(commits: number): void {
    if (this.fd === null || commits <= this.last) return;
    writeSync(this.fd, line(this.relayId, commits), 0, undefined, 0);
    this.last = commits;
  }

  /** On shutdown: the last value reaches the disk. */
  close(): void {
    if (this.fd === null) return;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}
