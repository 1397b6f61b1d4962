// Moving blobs: file on disk → encrypt chunk by chunk → streamed upload, and streamed download
// (resumable with Range) → decrypt → temp file → final name. Every step is a stream pipeline, so
// memory holds a few 64 KiB chunks whatever the file size.
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { link, mkdir, open, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AttachmentOpener, AttachmentSealer, attachmentBlobSize } from '../../../crypto/attachment.js';
import { fromBase64url, toBase64url } from '../../../crypto/encoding.js';
import { isCryptoError } from '../../../crypto/errors.js';
import type { RandomBytes } from '../../../crypto/sodium.js';
import { CliError } from '../../errors.js';
import type { FileRef } from '../payload.js';
import { RelayError, RelayUnreachable, type RelayTarget } from '../relay-http.js';
import { candidateNames, guessMime, safeFileName } from './names.js';
import type { Progress } from './progress.js';

/** Attempts per download before giving up for this run (each resumes where the last stopped). */
const DOWNLOAD_ATTEMPTS = 4;
const IDLE_TIMEOUT_MS = 30_000;

function requestOptions(t: RelayTarget, method: string, path: string, headers: Record<string, string>): { lib: typeof http | typeof https; url: URL; opts: https.RequestOptions } {
  const url = new URL(path, t.url.endsWith('/') ? t.url : `${t.url}/`);
  const https_ = url.protocol === 'https:';
  return {
    lib: https_ ? https : http,
    url,
    // A connection of its own (no keep-alive pool): an upload the relay refused mid-body must not
    // leave a half-written request on a socket that the next call would reuse.
    opts: { method, agent: false, headers: { ...headers, ...(t.token ? { authorization: `Bearer ${t.token}` } : {}) }, timeout: IDLE_TIMEOUT_MS, ...(https_ && t.ca ? { ca: readFileSync(t.ca) } : {}) },
  };
}

async function errorFrom(res: http.IncomingMessage): Promise<RelayError> {
  const chunks: Buffer[] = [];
  for await (const c of res) {
    chunks.push(c as Buffer);
    if (chunks.length > 64) break;
  }
  let code = `http_${res.statusCode}`;
  let message = `the relay answered ${res.statusCode}`;
  try {
    const e = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof e?.code === 'string') code = e.code;
    if (typeof e?.message === 'string') message = e.message;
  } catch {
    // not JSON: keep the status
  }
  return new RelayError(res.statusCode ?? 0, code, message);
}

const UPLOAD_HINTS: Record<string, string> = {
  quota_exceeded: 'your files on the relay count against a quota until every recipient has fetched them; try again later, or ask the relay operator (--blob-quota-bytes)',
  payload_too_large: 'the relay has a size limit for files (--max-blob-bytes); split the file or ask the operator',
  unknown_user: 'check the recipient\'s username',
  storage_full: 'the relay\'s disk is full, so it takes no new files or messages until its operator frees space; try again later',
};

export interface Uploaded {
  ref: FileRef;
  blobSize: number;
}

/** Encrypts `path` under a fresh key while streaming it to the relay for `recipients`. */
export async function uploadFile(t: RelayTarget, path: string, recipients: string[], random: RandomBytes, progress: Progress): Promise<Uploaded> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new CliError('no_file', `cannot read ${path}`);
  }
  if (!st.isFile()) throw new CliError('no_file', `${path} is not a regular file`);
  const sealer = new AttachmentSealer(st.size, random);
  const to = recipients.map(encodeURIComponent).join(',');
  // Expect: 100-continue: the relay refuses a too-large or over-quota upload from the headers,
  // before any byte of the body is on the wire (otherwise its early answer races our body).
  const { lib, url, opts } = requestOptions(t, 'POST', `/v1/blobs?to=${to}`, { 'content-type': 'application/octet-stream', 'content-length': String(sealer.blobSize), accept: 'application/json', expect: '100-continue' });
  const req = lib.request(url, opts);
  let expectTimer: NodeJS.Timeout | undefined;
  const mayStart = new Promise<void>((resolve) => {
    req.once('continue', resolve);
    // A request that failed (relay unreachable) starts nothing, but must not leave this pending:
    // `uploading` is awaited on the error path too.
    req.once('error', () => resolve());
    expectTimer = setTimeout(resolve, 2000); // a server that ignores Expect: send anyway (RFC 9110 §10.1.1)
  }).finally(() => clearTimeout(expectTimer));
  req.flushHeaders();
  const answered = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  req.on('timeout', () => req.destroy(new Error('timed out')));
  let sent = 0;
  async function* encrypt(src: AsyncIterable<Buffer>): AsyncGenerator<Uint8Array> {
    for await (const chunk of src) {
      for (const c of sealer.push(chunk)) yield c;
      sent += chunk.length;
      progress.update(sent);
    }
    yield* sealer.finish();
  }
  // The upload runs while we wait for the answer: the relay may refuse (413, 507) before the body.
  const uploading = mayStart.then(() => pipeline(createReadStream(path, { highWaterMark: 64 * 1024 }), encrypt, req)).then(() => null, (e: unknown) => e);
  let res: http.IncomingMessage;
  try {
    res = await answered;
  } catch (e) {
    const failed = await uploading;
    if (isCryptoError(failed)) throw new CliError('file_changed', `${path} changed size while it was being sent`);
    throw new RelayUnreachable(t.url, e);
  }
  if (res.statusCode !== 201) {
    clearTimeout(expectTimer); // refused from the headers: the body is never sent
    req.destroy();
    const err = await errorFrom(res);
    const hint = UPLOAD_HINTS[err.code];
    throw new CliError(err.code, `the relay refused the file (${err.code}): ${err.message}`, hint ? { hint } : {});
  }
  const failed = await uploading;
  if (failed) throw new RelayUnreachable(t.url, failed);
  const body = JSON.parse(await textOf(res)) as { id?: unknown };
  if (typeof body.id !== 'string') throw new CliError('bad_response', 'the relay answered an upload without a blob id');
  progress.done();
  const { hash, blobSize } = sealer.sealed();
  const name = basename(path);
  return { ref: { blob: body.id, key: toBase64url(sealer.key), hash: toBase64url(hash), size: st.size, name, mime: guessMime(name) }, blobSize };
}

async function textOf(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Downloads the blob to `part` (ciphertext), resuming from whatever `part` already holds with a
 * Range request, retrying a broken transfer a few times. Memory: one socket read at a time.
 *
 * The message named the file's size, so the blob's size is known before a byte arrives: the relay
 * must send exactly the rest of a blob of that size. More bytes, a range or length that says
 * otherwise, or an answer that ends complete but short is an integrity error (the relay is lying,
 * or serving another blob), never a reason to keep writing or to retry. A connection that breaks
 * off leaves a consistent prefix, which the next attempt resumes.
 */
export async function downloadBlob(t: RelayTarget, blobId: string, blobSize: number, part: string, progress: Progress): Promise<void> {
  let lastError: unknown;
  for (let attempt = 0; attempt < DOWNLOAD_ATTEMPTS; attempt++) {
    let have = existsSync(part) ? statSync(part).size : 0;
    if (have > blobSize) {
      await rm(part, { force: true });
      have = 0;
    }
    if (have === blobSize) return;
    try {
      await fetchRange(t, blobId, part, have, blobSize, progress);
      const now = statSync(part).size;
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
function expectedStart(res: http.IncomingMessage, from: number, blobSize: number): number {
  let start = 0;
  if (res.statusCode === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers['content-range'] ?? '');
    if (!m || Number(m[1]) !== from || Number(m[2]) !== blobSize - 1 || Number(m[3]) !== blobSize) {
      throw new DownloadIntegrityError(`answered the range ${JSON.stringify(res.headers['content-range'] ?? null)} where bytes ${from}-${blobSize - 1}/${blobSize} were asked for`);
    }
    start = from;
  }
  const length = res.headers['content-length'];
  if (length !== undefined && Number(length) !== blobSize - start) {
    throw new DownloadIntegrityError(`announced ${length} bytes where the rest of the file's blob is ${blobSize - start}`);
  }
  return start;
}

async function fetchRange(t: RelayTarget, blobId: string, part: string, from: number, blobSize: number, progress: Progress): Promise<void> {
  const { lib, url, opts } = requestOptions(t, 'GET', `/v1/blobs/${encodeURIComponent(blobId)}`, from > 0 ? { range: `bytes=${from}-` } : {});
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = lib.request(url, opts, resolve);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
  if (res.statusCode !== 200 && res.statusCode !== 206) throw await errorFrom(res);
  let start: number;
  try {
    start = expectedStart(res, from, blobSize);
  } catch (e) {
    res.destroy();
    throw e;
  }
  let got = start;
  async function* count(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of src) {
      // Stop at the blob's size: a relay streaming more must not fill the disk.
      if (got + c.length > blobSize) throw new DownloadIntegrityError(`sent more than the ${blobSize} bytes of the file's blob`);
      got += c.length;
      progress.update(got);
      yield c;
    }
  }
  try {
    await pipeline(res, count, createWriteStream(part, { flags: start > 0 ? 'a' : 'w', mode: 0o600 }));
  } catch (e) {
    res.destroy();
    throw e;
  }
  // The answer ended as complete (not broken off) yet short: the relay says this is all there is.
  if (got < blobSize && res.complete) throw new DownloadIntegrityError(`ended the file's blob after ${got} of its ${blobSize} bytes`);
}

/**
 * Decrypts the downloaded blob into a hidden temp file beside the destination and gives it its
 * final name only when the opener accepted the whole blob (FINAL chunk, hash). The final name is
 * taken with link(), which fails if the name exists: an existing file is never replaced, even by a
 * race with another process. Returns the path written.
 */
export async function decryptToFile(part: string, ref: FileRef, outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  const opener = new AttachmentOpener({ key: fromBase64url(ref.key), size: ref.size, hash: fromBase64url(ref.hash) });
  const tmp = join(outDir, `.fastchat-${ref.blob}.tmp`);
  async function* decrypt(src: AsyncIterable<Buffer>): AsyncGenerator<Uint8Array> {
    for await (const c of src) yield* opener.pull(c);
    opener.finish();
  }
  try {
    await pipeline(createReadStream(part, { highWaterMark: 64 * 1024 }), decrypt, createWriteStream(tmp, { mode: 0o600 }));
    const fh = await open(tmp, 'r');
    await fh.sync();
    await fh.close();
    for (const name of candidateNames(safeFileName(ref.name))) {
      const dest = join(outDir, name);
      try {
        await link(tmp, dest);
        return dest;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    throw new Error('unreachable');
  } catch (e) {
    if (isCryptoError(e)) {
      throw new CliError('integrity', `the file "${safeFileName(ref.name)}" failed its integrity check (${e.message}): the blob on the relay was altered or truncated; nothing was saved`);
    }
    throw e;
  } finally {
    await rm(tmp, { force: true });
  }
}

export { attachmentBlobSize };
