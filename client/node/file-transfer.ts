// The CLI's side of file transfer (client/core/files/transfer.ts does the protocol): files on disk
// as sources and parts, and node:http(s) streaming both ways, so memory holds a few 64 KiB chunks
// whatever the file size. Saving takes a temp file and link(): an existing file is never replaced.
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { link, mkdir, open, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CliError } from '../errors.js';
import type { FileRef } from '../core/payload.js';
import type { RelayTarget } from '../core/relay-http.js';
import { candidateNames, safeFileName } from '../core/files/names.js';
import { openBlob, type BlobAnswer, type BlobHttp, type BlobPart, type FileSource } from '../core/files/transfer.js';

const IDLE_TIMEOUT_MS = 30_000;

/** A file on disk; refused up front when it is not a readable regular file. */
export async function pathSource(path: string): Promise<FileSource> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new CliError('no_file', `cannot read ${path}`);
  }
  if (!st.isFile()) throw new CliError('no_file', `${path} is not a regular file`);
  return { name: basename(path), size: st.size, chunks: () => createReadStream(path, { highWaterMark: 64 * 1024 }) };
}

/** A part on disk (mode 0600), which a later run resumes. */
export function filePart(path: string): BlobPart {
  return {
    async size() {
      return existsSync(path) ? statSync(path).size : 0;
    },
    async write(chunks, append) {
      await pipeline(Readable.from(chunks), createWriteStream(path, { flags: append ? 'a' : 'w', mode: 0o600 }));
    },
    read: () => createReadStream(path, { highWaterMark: 64 * 1024 }),
    async remove() {
      await rm(path, { force: true });
    },
  };
}

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

async function textOf(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) {
    chunks.push(c as Buffer);
    if (chunks.length > 64) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

export const nodeBlobHttp: BlobHttp = {
  async upload(t, path, length, body) {
    // Expect: 100-continue: the relay refuses a too-large or over-quota upload from the headers,
    // before any byte of the body is on the wire (otherwise its early answer races our body).
    const { lib, url, opts } = requestOptions(t, 'POST', path, { 'content-type': 'application/octet-stream', 'content-length': String(length), accept: 'application/json', expect: '100-continue' });
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
    // The upload runs while we wait for the answer: the relay may refuse (413, 507) before the body.
    const uploading = mayStart.then(() => pipeline(Readable.from(body), req)).then(() => null, (e: unknown) => e);
    let res: http.IncomingMessage;
    try {
      res = await answered;
    } catch (e) {
      const failed = await uploading;
      throw failed ?? e; // the body's own error (the file changed size) says more than the socket's
    }
    if (res.statusCode !== 201) {
      clearTimeout(expectTimer); // refused from the headers: the body is never sent
      req.destroy();
      return { status: res.statusCode ?? 0, text: await textOf(res) };
    }
    const failed = await uploading;
    if (failed) throw failed;
    return { status: 201, text: await textOf(res) };
  },

  async download(t, path, from) {
    const { lib, url, opts } = requestOptions(t, 'GET', path, from > 0 ? { range: `bytes=${from}-` } : {});
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = lib.request(url, opts, resolve);
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
    const header = (name: string): string | undefined => {
      const v = res.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    const answer: BlobAnswer = { status: res.statusCode ?? 0, header, body: res, complete: () => res.complete, cancel: () => res.destroy() };
    return answer;
  },
};

/**
 * Decrypts the downloaded blob into a hidden temp file beside the destination and gives it its
 * final name only when the opener accepted the whole blob (FINAL chunk, hash). The final name is
 * taken with link(), which fails if the name exists: an existing file is never replaced, even by a
 * race with another process. Returns the path written.
 */
export async function decryptToFile(part: BlobPart, ref: FileRef, outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  const tmp = join(outDir, `.fastchat-${ref.blob}.tmp`);
  try {
    await pipeline(Readable.from(openBlob(part.read(), ref)), createWriteStream(tmp, { mode: 0o600 }));
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
  } finally {
    await rm(tmp, { force: true });
  }
}
