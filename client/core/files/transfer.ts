// Moving blobs, the same for the CLI and the page: a file's bytes (a FileSource: a path in the
// CLI, bytes in memory in the page) → encrypt chunk by chunk → upload, and download (resumable
// with Range, into a BlobPart: a file in the CLI, memory in the page) → check → decrypt. The
// encryption, the chunking and the relay's blob protocol (POST /v1/blobs, ranges, the integrity
// rules, the errors) are here once; how bytes reach the wire and the disk is the BlobHttp and
// the source/part the caller hands in (client/node/file-transfer.ts, platform/fetch-blob-http.ts).
import { AttachmentOpener, AttachmentSealer, attachmentBlobSize } from '../../../crypto/attachment.js';
import { concat, fromBase64url, toBase64url } from '../../../crypto/encoding.js';
import { isCryptoError } from '../../../crypto/errors.js';
import type { RandomBytes } from '../../../crypto/sodium.js';
import { CliError } from '../../errors.js';
import type { FileRef } from '../payload.js';
import { RelayError, RelayUnreachable, type RelayTarget } from '../relay-http.js';
import { guessMime, safeFileName } from './names.js';

/** Attempts per download before giving up for this run (each resumes where the last stopped). */
const DOWNLOAD_ATTEMPTS = 4;

/** Progress of one transfer, as callbacks: a bar on a terminal (progress.ts), an element in the page. */
export interface Progress {
  update(bytes: number): void;
  /** The transfer finished: the bar is drawn complete and its line ended. */
  done(): void;
  /** The transfer stopped (an error): the bar is taken off its line, so what is printed next starts a line of its own. */
  clear(): void;
}

export const NO_PROGRESS: Progress = { update() {}, done() {}, clear() {} };

/** The file to send: its name (the last path component is sent), size, and its bytes in order. */
export interface FileSource {
  name: string;
  size: number;
  /** The bytes, `size` of them; yielding another number is refused as `file_changed`. */
  chunks(): AsyncIterable<Uint8Array>;
}

/** A file in memory (the page's file input). */
export function bytesSource(name: string, bytes: Uint8Array): FileSource {
  return {
    name,
    size: bytes.length,
    async *chunks() {
      for (let i = 0; i < bytes.length; i += 64 * 1024) yield bytes.subarray(i, i + 64 * 1024);
    },
  };
}

/** Where a blob's ciphertext collects while it downloads: kept across attempts (and runs) to resume. */
export interface BlobPart {
  size(): Promise<number>;
  /** Writes `chunks` after what is there (`append`), or in place of it. */
  write(chunks: AsyncIterable<Uint8Array>, append: boolean): Promise<void>;
  read(): AsyncIterable<Uint8Array>;
  remove(): Promise<void>;
}

/** A part in memory. */
export function memoryPart(): BlobPart & { bytes(): Uint8Array } {
  let parts: Uint8Array[] = [];
  const size = (): number => parts.reduce((n, p) => n + p.length, 0);
  return {
    async size() {
      return size();
    },
    async write(chunks, append) {
      if (!append) parts = [];
      for await (const c of chunks) parts.push(c.slice());
    },
    async *read() {
      yield* parts;
    },
    async remove() {
      parts = [];
    },
    bytes: () => concat(...parts),
  };
}

/** A relay's answer to a blob request: its status, headers and body as it arrives. */
export interface BlobAnswer {
  status: number;
  header(name: string): string | undefined;
  body: AsyncIterable<Uint8Array>;
  /** The body ended as the server meant it to (not broken off); asked after reading it. */
  complete(): boolean;
  /** Stops reading (an answer refused from its headers). */
  cancel(): void;
}

/**
 * How blob requests reach the relay: node:http streaming both ways in the CLI, fetch and
 * XMLHttpRequest in the page. Rejects only when no answer came (the relay is unreachable), or with
 * the error the body's iterable threw.
 */
export interface BlobHttp {
  /** POST of exactly `length` bytes; the answer's body is read whole (it is a small JSON). */
  upload(t: RelayTarget, path: string, length: number, body: AsyncIterable<Uint8Array>): Promise<{ status: number; text: string }>;
  /** GET from byte `from` on (a Range request when from > 0). */
  download(t: RelayTarget, path: string, from: number): Promise<BlobAnswer>;
}

export const UPLOAD_HINTS: Record<string, string> = {
  quota_exceeded: 'your files on the relay count against a quota until every recipient has fetched them; try again later, or ask the relay operator (--blob-quota-bytes)',
  payload_too_large: 'the relay has a size limit for files (--max-blob-bytes); split the file or ask the operator',
  unknown_user: 'check the recipient\'s username',
  storage_full: 'the relay\'s disk is full, so it takes no new files or messages until its operator frees space; try again later',
};

/** The relay's `{"error":{"code","message"}}`, or the bare status when the body is not that. */
export function relayErrorOf(status: number, text: string): RelayError {
  let code = `http_${status}`;
  let message = `the relay answered ${status}`;
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof e?.code === 'string') code = e.code;
    if (typeof e?.message === 'string') message = e.message;
  } catch {
    // not JSON: keep the status
  }
  return new RelayError(status, code, message);
}

/** Reads at most `max` bytes of an error body (a relay could stream one forever). */
async function boundedText(body: AsyncIterable<Uint8Array>, max = 64 * 1024): Promise<string> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of body) {
    chunks.push(c);
    n += c.length;
    if (n >= max) break;
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    all.set(c.subarray(0, n - at), at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

export interface Uploaded {
  ref: FileRef;
  blobSize: number;
}

/** Encrypts `src` under a fresh key while it streams to the relay for `recipients`. */
export async function uploadFile(t: RelayTarget, http: BlobHttp, src: FileSource, recipients: string[], random: RandomBytes, progress: Progress): Promise<Uploaded> {
  const sealer = new AttachmentSealer(src.size, random);
  const to = recipients.map(encodeURIComponent).join(',');
  let sent = 0;
  async function* encrypt(): AsyncGenerator<Uint8Array> {
    for await (const chunk of src.chunks()) {
      for (const c of sealer.push(chunk)) yield c;
      sent += chunk.length;
      progress.update(sent);
    }
    yield* sealer.finish();
  }
  let res: { status: number; text: string };
  try {
    res = await http.upload(t, `/v1/blobs?to=${to}`, sealer.blobSize, encrypt());
  } catch (e) {
    if (isCryptoError(e)) throw new CliError('file_changed', `${src.name} changed size while it was being sent`);
    if (e instanceof CliError) throw e;
    throw new RelayUnreachable(t.url, e);
  }
  if (res.status !== 201) {
    const err = relayErrorOf(res.status, res.text);
    const hint = UPLOAD_HINTS[err.code];
    throw new CliError(err.code, `the relay refused the file (${err.code}): ${err.message}`, hint ? { hint } : {});
  }
  let id: unknown;
  try {
    id = (JSON.parse(res.text) as { id?: unknown }).id;
  } catch {
    id = undefined;
  }
  if (typeof id !== 'string') throw new CliError('bad_response', 'the relay answered an upload without a blob id');
  progress.done();
  const { hash, blobSize } = sealer.sealed();
  const name = src.name.split(/[/\\]/).pop() ?? '';
  return { ref: { blob: id, key: toBase64url(sealer.key), hash: toBase64url(hash), size: src.size, name, mime: guessMime(name) }, blobSize };
}

/**
 * Downloads the blob into `part` (ciphertext), resuming from whatever `part` already holds with a
 * Range request, retrying a broken transfer a few times. Memory: one read at a time.
 *
 * The message named the file's size, so the blob's size is known before a byte arrives: the relay
 * must send exactly the rest of a blob of that size. More bytes, a range or length that says
 * otherwise, or an answer that ends complete but short is an integrity error (the relay is lying,
 * or serving another blob), never a reason to keep writing or to retry. A connection that breaks
 * off leaves a consistent prefix, which the next attempt resumes.
 */
export async function downloadBlob(t: RelayTarget, http: BlobHttp, blobId: string, blobSize: number, part: BlobPart, progress: Progress): Promise<void> {
  let lastError: unknown;
  for (let attempt = 0; attempt < DOWNLOAD_ATTEMPTS; attempt++) {
    let have = await part.size();
    if (have > blobSize) {
      await part.remove();
      have = 0;
    }
    if (have === blobSize) return;
    try {
      await fetchRange(t, http, blobId, part, have, blobSize, progress);
      const now = await part.size();
      if (now === blobSize) return;
      lastError = new Error(`download stopped at ${now} of ${blobSize} bytes`);
    } catch (e) {
      if (e instanceof RelayError || e instanceof CliError) throw e; // 404 (gone, or not ours), 401, integrity: retrying will not help
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
  }
  throw new RelayUnreachable(t.url, lastError);
}

export class DownloadIntegrityError extends CliError {
  constructor(what: string) {
    super('integrity', `the relay ${what}: the file failed its integrity check; the download was stopped and nothing was saved`);
  }
}

/** The answer must be exactly bytes `from`..blobSize-1 (206) or the whole blob (200). */
function expectedStart(res: BlobAnswer, from: number, blobSize: number): number {
  let start = 0;
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.header('content-range') ?? '');
    if (!m || Number(m[1]) !== from || Number(m[2]) !== blobSize - 1 || Number(m[3]) !== blobSize) {
      throw new DownloadIntegrityError(`answered the range ${JSON.stringify(res.header('content-range') ?? null)} where bytes ${from}-${blobSize - 1}/${blobSize} were asked for`);
    }
    start = from;
  }
  const length = res.header('content-length');
  if (length !== undefined && Number(length) !== blobSize - start) {
    throw new DownloadIntegrityError(`announced ${length} bytes where the rest of the file's blob is ${blobSize - start}`);
  }
  return start;
}

async function fetchRange(t: RelayTarget, http: BlobHttp, blobId: string, part: BlobPart, from: number, blobSize: number, progress: Progress): Promise<void> {
  const res = await http.download(t, `/v1/blobs/${encodeURIComponent(blobId)}`, from);
  if (res.status !== 200 && res.status !== 206) {
    const text = await boundedText(res.body);
    res.cancel();
    throw relayErrorOf(res.status, text);
  }
  let start: number;
  try {
    start = expectedStart(res, from, blobSize);
  } catch (e) {
    res.cancel();
    throw e;
  }
  let got = start;
  async function* count(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const c of src) {
      // Stop at the blob's size: a relay streaming more must not fill the disk.
      if (got + c.length > blobSize) throw new DownloadIntegrityError(`sent more than the ${blobSize} bytes of the file's blob`);
      got += c.length;
      progress.update(got);
      yield c;
    }
  }
  try {
    await part.write(count(res.body), start > 0);
  } catch (e) {
    res.cancel();
    throw e;
  }
  // The answer ended as complete (not broken off) yet short: the relay says this is all there is.
  if (got < blobSize && res.complete()) throw new DownloadIntegrityError(`ended the file's blob after ${got} of its ${blobSize} bytes`);
}

/**
 * The file's bytes from its downloaded blob, in order. The opener checks the key commitment
 * before the first byte and the hash and FINAL chunk at the end: a caller keeps what it wrote only
 * once the iteration ended without throwing. A failed check is the CliError `integrity`.
 */
export async function* openBlob(blob: AsyncIterable<Uint8Array>, ref: FileRef): AsyncGenerator<Uint8Array> {
  try {
    const opener = new AttachmentOpener({ key: fromBase64url(ref.key), size: ref.size, hash: fromBase64url(ref.hash) });
    for await (const c of blob) yield* opener.pull(c);
    opener.finish();
  } catch (e) {
    if (isCryptoError(e)) {
      throw new CliError('integrity', `the file "${safeFileName(ref.name)}" failed its integrity check (${e.message}): the blob on the relay was altered or truncated; nothing was saved`);
    }
    throw e;
  }
}

export { attachmentBlobSize };
