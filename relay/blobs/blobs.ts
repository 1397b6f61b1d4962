// Attachment blobs: opaque encrypted files the relay stores on disk (one file per blob, named by
// its random id) with a metadata row in the store. The relay never holds a blob in memory: an
// upload is written as it arrives, a download is read as the socket drains.
//
// Crash safety: an upload goes to `<id>.part` and is renamed to `<id>` only when every declared
// byte arrived and was fsynced; the row is written after the rename. Anything else in the
// directory — a `.part` left by a crash, a file whose row was deleted (expiry, account deletion)
// — is garbage, removed at start-up and by every sweep.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteFile, type RelayConfig } from '../config.js';
import { RelayError } from '../errors.js';
import type { Logger } from '../log.js';
import { isStorageError, type Headroom } from '../storage.js';
import { fixMode } from '../store/file-modes.js';
import type { BlobIndex, BlobRecord } from '../store/types.js';

const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
const PART = '.part';
/** In a shared blob directory, files younger than this may belong to another node's upload. */
const SHARED_GRACE_MS = 15 * 60_000;

export function isBlobId(s: string): boolean {
  return ID_PATTERN.test(s);
}

/** Where blobs live: the configured directory, else `<db>-blobs`; null for an in-memory DB. */
function blobDirFor(cfg: RelayConfig): string | null {
  if (cfg.blobDir) return cfg.blobDir;
  const file = sqliteFile(cfg);
  return file === null ? null : `${file}-blobs`;
}

/** Narrows the blob directory to 0700 and every blob file in it to 0600; returns how many changed. */
function secureBlobDir(dir: string): number {
  const fixed: { file: string; mode: number }[] = [];
  fixMode(dir, 0o700, fixed);
  for (const name of readdirSync(dir)) {
    const id = name.endsWith(PART) ? name.slice(0, -PART.length) : name;
    if (isBlobId(id)) fixMode(join(dir, name), 0o600, fixed);
  }
  return fixed.length;
}

export class Blobs {
  private readonly configuredDir: string | null;
  /** A temp dir made on first use for a relay with an in-memory DB (tests); removed by close(). */
  private ephemeralDir: string | null = null;
  /** Bytes of uploads in flight per owner: counted against the quota until they finish. */
  private readonly inflight = new Map<string, number>();
  /** Ids being written, so a sweep never takes an in-flight `.part` for garbage. */
  private readonly writing = new Set<string>();

  constructor(
    private readonly cfg: RelayConfig,
    private readonly index: BlobIndex,
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly headroom: Pick<Headroom, 'blobFits'> | null = null,
    /** Other relay nodes use the same directory (a relay on PostgreSQL): see collectGarbage(). */
    private readonly shared = false,
  ) {
    this.configuredDir = blobDirFor(cfg);
    if (this.configuredDir) {
      mkdirSync(this.configuredDir, { recursive: true, mode: 0o700 });
      // A directory or files left by an older relay (or copied in) may be open to others.
      const fixed = secureBlobDir(this.configuredDir);
      if (fixed > 0) log.warn({ event: 'file_mode_fixed', dir: this.configuredDir, files: fixed }, 'blob directory or files were readable by others; narrowed to 0700/0600');
    }
  }

  /** The blob directory when it exists (a relay on ':memory:' makes one only on first use). */
  get existingDir(): string | null {
    return this.configuredDir ?? this.ephemeralDir;
  }

  get dir(): string {
    if (this.configuredDir) return this.configuredDir;
    this.ephemeralDir ??= mkdtempSync(join(tmpdir(), 'fastchat-blobs-'));
    return this.ephemeralDir;
  }

  path(id: string): string {
    return join(this.dir, id);
  }

  /**
   * Checks the declared size against the cap and the owner's quota and reserves it. Called before
   * a byte of the body is read, so an oversized or over-quota upload costs the relay nothing.
   */
  async reserve(owner: string, size: number): Promise<() => void> {
    if (size > this.cfg.maxBlobBytes) throw new RelayError('payload_too_large', `blob over ${this.cfg.maxBlobBytes} bytes`);
    // Counted in flight before the store is asked, so two uploads checked at once see each other.
    const pending = this.inflight.get(owner) ?? 0;
    this.inflight.set(owner, pending + size);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const left = (this.inflight.get(owner) ?? size) - size;
      if (left > 0) this.inflight.set(owner, left);
      else this.inflight.delete(owner);
    };
    try {
      if ((await this.index.usage(owner)) + pending + size > this.cfg.blobQuotaBytes) {
        throw new RelayError('quota_exceeded', `blob storage quota of ${this.cfg.blobQuotaBytes} bytes exceeded`);
      }
      // Every upload in flight may still write all of its declared bytes.
      let inflight = 0;
      for (const n of this.inflight.values()) inflight += n;
      if (this.headroom && !this.headroom.blobFits(this.dir, inflight)) {
        throw new RelayError('storage_full', "the relay's disk is full: no new files are stored until its operator frees space");
      }
    } catch (e) {
      release();
      throw e;
    }
    return release;
  }

  /**
   * Streams `body` to disk; exactly `size` bytes must arrive. A body that ends short, runs long or
   * breaks off leaves nothing behind. Backpressure: the next piece is read only after the last
   * one was written.
   */
  async receive(owner: string, size: number, recipients: string[], body: ReadableStream<Uint8Array> | null): Promise<BlobRecord> {
    const id = randomBytes(16).toString('base64url');
    const part = this.path(id) + PART;
    this.writing.add(id);
    const file = await open(part, 'wx', 0o600);
    let ok = false;
    try {
      let total = 0;
      if (body) {
        for await (const chunk of body) {
          total += chunk.byteLength;
          if (total > size) throw new RelayError('bad_request', `body longer than the declared ${size} bytes`);
          await file.write(chunk);
        }
      }
      if (total !== size) throw new RelayError('bad_request', `body of ${total} bytes, ${size} declared`);
      await file.sync();
      await file.close();
      await rename(part, this.path(id));
      const now = this.now();
      const rec: BlobRecord = { id, owner, size, createdAt: now, expiresAt: now + this.cfg.blobTtlMs, recipients };
      await this.index.create(rec);
      ok = true;
      return rec;
    } catch (e) {
      // The disk filled up under the upload after all: say so, not "internal".
      if (isStorageError(e)) throw new RelayError('storage_full', "the relay's disk is full: no new files are stored until its operator frees space", { cause: e });
      throw e;
    } finally {
      this.writing.delete(id);
      if (!ok) {
        await file.close().catch(() => {});
        rmSync(part, { force: true });
        rmSync(this.path(id), { force: true });
      }
    }
  }

  /** The blob if `user` may read it (its owner or a recipient that has not acked), else not_found. */
  async readable(id: string, user: string): Promise<BlobRecord> {
    const rec = isBlobId(id) ? await this.index.get(id) : undefined;
    // Existence is not revealed to anyone else: same answer as an unknown id.
    if (!rec || (rec.owner !== user && !rec.recipients.includes(user)) || rec.expiresAt <= this.now()) {
      throw new RelayError('not_found', 'no such blob');
    }
    return rec;
  }

  /** The owner deletes the blob; a recipient acknowledges it (the last ack deletes it). */
  async release(id: string, user: string): Promise<'deleted' | 'kept'> {
    const rec = await this.readable(id, user);
    if (rec.recipients.includes(user)) {
      const r = await this.index.ack(id, user);
      if (r === 'deleted') this.unlink(id);
      if (r !== 'not_recipient') return r;
    }
    if (rec.owner !== user) throw new RelayError('not_found', 'no such blob');
    if (await this.index.delete(id)) this.unlink(id);
    return 'deleted';
  }

  /** Deletes expired blobs and garbage files; returns how many blobs expired. */
  async sweep(now: number): Promise<number> {
    const expired = await this.index.expire(now);
    for (const id of expired) this.unlink(id);
    await this.collectGarbage();
    return expired.length;
  }

  close(): void {
    if (this.ephemeralDir) rmSync(this.ephemeralDir, { recursive: true, force: true });
    this.ephemeralDir = null;
  }

  private unlink(id: string): void {
    try {
      unlinkSync(this.path(id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ event: 'blob_unlink_failed', code: (e as NodeJS.ErrnoException).code }, 'could not delete a blob file');
    }
  }

  /**
   * Removes `.part` files not being written and files without a metadata row (at start-up and
   * on every sweep). In a directory shared by several nodes another node may be writing a `.part`
   * or be between its rename and its row: there, only files untouched for SHARED_GRACE_MS (longer
   * than any upload may take) are garbage.
   */
  async collectGarbage(): Promise<number> {
    if (!this.configuredDir && !this.ephemeralDir) return 0;
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return 0;
    }
    const done = names.filter((n) => isBlobId(n));
    const keep = await this.index.existing(done);
    const cutoff = Date.now() - SHARED_GRACE_MS;
    let removed = 0;
    for (const n of names) {
      const id = n.endsWith(PART) ? n.slice(0, -PART.length) : n;
      if (this.writing.has(id) || keep.has(n)) continue;
      if (!isBlobId(id)) continue; // not ours: leave an operator's files alone
      if (this.shared && !untouchedSince(join(this.dir, n), cutoff)) continue;
      rmSync(join(this.dir, n), { force: true });
      removed++;
    }
    return removed;
  }
}

/** Whether the file was last modified before `cutoff` (a vanished file is not ours to remove). */
function untouchedSince(file: string, cutoff: number): boolean {
  try {
    return statSync(file).mtimeMs < cutoff;
  } catch {
    return false;
  }
}
