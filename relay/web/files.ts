// The web client's files, read once when the relay starts: a map from URL path to bytes. Requests
// are answered from this map only, never by turning a URL into a file path, so no request can
// reach a file outside the directory (`/../relay.db`, `/%2e%2e/…`, encoded slashes): there is no
// path to traverse.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTENT_TYPES } from './headers.js';

export interface WebFile {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

/** dist/web/, beside the compiled relay (dist/relay/web/files.js), where `npm run build` puts the client. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

/** Names served: plain file names, no dot files, no directories. */
const SERVED_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** URL path → file; `/` is index.html. null when the directory does not exist (the client was not built). */
export function loadWebFiles(dir: string): Map<string, WebFile> | null {
  if (!existsSync(dir)) return null;
  const files = new Map<string, WebFile>();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(name)];
    const path = join(dir, name);
    if (!SERVED_NAME.test(name) || type === undefined || !statSync(path).isFile()) continue;
    const body = readFileSync(path);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    files.set(`/${name}`, { body, type, etag });
  }
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}
