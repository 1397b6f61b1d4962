// The headers every file of the web client is served with. The page's own code is the only code
// it may run: scripts and styles from this origin only, nothing inline, no eval (WebAssembly
// compilation is allowed: libsodium and, later, SQLite run as WebAssembly), connections to this
// relay only, and no framing. test/web.test.ts checks the header byte for byte.

export const WEB_CSP = [
  "default-src 'none'",
  // 'wasm-unsafe-eval' allows WebAssembly.instantiate and nothing else: no eval, no inline script.
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  // blob: and data: for image previews made in the page from decrypted attachments.
  "img-src 'self' blob: data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export const WEB_HEADERS: Record<string, string> = {
  'Content-Security-Policy': WEB_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // Every load asks the relay again (answered 304 when unchanged): an upgraded relay never runs
  // beside a stale cached script of the old one.
  'Cache-Control': 'no-cache',
};

/** Content types by extension; a file of any other kind in the web directory is not served. */
export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};
