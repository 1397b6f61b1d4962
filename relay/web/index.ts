// GET / and the web client's static files (docs/RELAY.md "Web client"). One route per file found
// at start-up; anything else falls through to the app's JSON 404.
import { Hono } from 'hono';
import type { Env } from '../http/auth.js';
import { WEB_HEADERS } from './headers.js';
import type { WebFile } from './files.js';

export function webRoutes(files: Map<string, WebFile>): Hono<Env> {
  const app = new Hono<Env>();
  for (const [path, file] of files) {
    app.get(path, (c) => {
      const headers: Record<string, string> = { ...WEB_HEADERS, 'Content-Type': file.type, ETag: file.etag };
      if (c.req.header('If-None-Match') === file.etag) return c.body(null, 304, headers);
      return c.body(file.body, 200, headers);
    });
  }
  return app;
}

export { DEFAULT_WEB_DIR, loadWebFiles, type WebFile } from './files.js';
export { WEB_CSP, WEB_HEADERS } from './headers.js';
