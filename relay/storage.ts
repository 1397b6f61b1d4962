// Disk headroom. A relay whose queue filled its disk could not even delete: an ack rewrites pages
// into the -wal, the -wal could not be checkpointed into a main file that could not grow, so every
// ack failed and the queue never drained. Two defences:
//  - a free-space floor (--min-free-bytes): below it new messages and uploads are refused with
//    storage_full (507), so what the relay itself writes never takes the last of the disk;
//  - a reserve file `<db>-reserve` holding space for the day something else fills the disk: when a
//    write fails for lack of space the relay deletes it and tries the acks again, and makes it
//    again once the disk is back above the floor.
// statfs is one cheap syscall, so the floor is checked on every commit batch and upload.
//
// SQLite never gives a file's space back: pages freed by acks go to its free list and are reused by
// the next inserts. So a queue that filled the disk to the floor and then drained leaves the disk
// as full as before, with the room inside the database. The floor counts those free pages (when
// the store can say how many) — but at least a quarter of the floor must be real free disk, for the
// -wal to grow into before a checkpoint.
import { closeSync, existsSync, openSync, rmSync, statfsSync, statSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { sqliteFile, type RelayConfig } from './config.js';
import type { Logger } from './log.js';

/** The reserve: half the floor, at most 16 MiB (several full -wal checkpoints' worth of pages). */
const RESERVE_MAX = 16 * 1024 * 1024;

/**
 * A database full or its file system out of space: the relay answers storage_full, not internal.
 * (PostgreSQL's disk_full is 53100; its own disk is watched by its operator, not by --min-free-bytes.)
 */
export function isStorageError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === '53100';
}

export interface StorageStatus {
  /** Bytes free to the relay on the database's disk (and the blob disk, whichever is less); null in memory. */
  freeBytes: number | null;
  minFreeBytes: number;
  /** Below the floor: new messages and uploads are refused. */
  full: boolean;
  /** The reserve file is in place. */
  reserve: boolean;
}

export class Headroom {
  private readonly dbDir: string | null;
  private readonly reservePath: string | null;
  private readonly reserveBytes: number;

  constructor(
    private readonly cfg: RelayConfig,
    private readonly log: Logger,
    /** Bytes free inside the database file (its free pages), reused before the file grows. */
    private readonly freeInside: () => number = () => 0,
  ) {
    // On PostgreSQL the database's disk is its server's (its operator watches it); the blob
    // directory's floor still holds.
    const file = sqliteFile(cfg);
    this.dbDir = file === null ? null : dirname(resolve(file));
    this.reservePath = file === null || cfg.minFreeBytes === 0 ? null : `${file}-reserve`;
    this.reserveBytes = Math.min(RESERVE_MAX, Math.floor(cfg.minFreeBytes / 2));
  }

  /** Free bytes on the file system holding `dir` (what an unprivileged writer may use). */
  static free(dir: string): number {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  }

  /** New messages would eat into the floor of the database's disk. */
  messagesFull(): boolean {
    if (this.dbDir === null || this.cfg.minFreeBytes === 0) return false;
    const disk = Headroom.free(this.dbDir);
    if (disk >= this.cfg.minFreeBytes) return false;
    return disk < this.cfg.minFreeBytes / 4 || disk + this.freeInside() < this.cfg.minFreeBytes;
  }

  /** A blob of `size` bytes in `dir` leaves the floor intact. */
  blobFits(dir: string, size: number): boolean {
    return this.cfg.minFreeBytes === 0 || Headroom.free(dir) - size >= this.cfg.minFreeBytes;
  }

  status(blobDir: string | null): StorageStatus {
    const dirs = [this.dbDir, blobDir].filter((d): d is string => d !== null && existsSync(d));
    const freeBytes = dirs.length > 0 ? Math.min(...dirs.map((d) => Headroom.free(d))) : null;
    // A blob directory on a disk of its own is full on its own terms.
    const blobDisk = blobDir !== null && this.dbDir !== null && existsSync(blobDir) && statSync(blobDir).dev !== statSync(this.dbDir).dev;
    return {
      freeBytes,
      minFreeBytes: this.cfg.minFreeBytes,
      full: this.messagesFull() || (blobDisk && this.cfg.minFreeBytes > 0 && Headroom.free(blobDir) < this.cfg.minFreeBytes),
      reserve: this.reservePath !== null && existsSync(this.reservePath),
    };
  }

  /** Makes the reserve file when it is missing and the disk can spare it above the floor. */
  ensureReserve(): void {
    if (!this.reservePath || !this.dbDir || this.reserveBytes === 0 || existsSync(this.reservePath)) return;
    if (Headroom.free(this.dbDir) - this.reserveBytes < this.cfg.minFreeBytes) return;
    let fd: number | null = null;
    try {
      fd = openSync(this.reservePath, 'wx', 0o600);
      const zeros = Buffer.alloc(Math.min(this.reserveBytes, 1024 * 1024));
      // Written, not fsynced: the file system takes the space at write() (ENOSPC comes here, even
      // with delayed allocation), and a reserve lost to a crash is simply made again.
      for (let left = this.reserveBytes; left > 0; left -= zeros.length) writeSync(fd, zeros, 0, Math.min(left, zeros.length));
    } catch (e) {
      this.log.warn({ event: 'reserve_failed', code: (e as NodeJS.ErrnoException).code }, 'could not make the disk reserve file');
      if (fd !== null) rmSync(this.reservePath, { force: true });
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  /** Frees the reserve (a write failed for lack of space); true when there was one to free. */
  releaseReserve(): boolean {
    if (!this.reservePath || !existsSync(this.reservePath)) return false;
    rmSync(this.reservePath, { force: true });
    this.log.warn({ event: 'reserve_released', bytes: this.reserveBytes }, 'disk full: released the reserve file so acks and deletes can commit');
    return true;
  }
}
