// The HTTP transport of the browser: fetch. The page is served by the relay it talks to, so the
// browser's own certificate checks apply; a CA file is a CLI option and is refused here.
import type { HttpAnswer, HttpRequest, HttpTransport } from './http.js';

export const httpTransport: HttpTransport = {
  async send(r: HttpRequest): Promise<HttpAnswer> {
    if (r.ca !== undefined) throw new Error('a CA file cannot be used from a browser: the browser checks the relay certificate itself');
    // content-length is the browser's to set: fetch refuses it as a forbidden header.
    const { 'content-length': _, ...headers } = r.headers;
    // The DOM's fetch takes only ArrayBuffer-backed bytes; ours never live in a SharedArrayBuffer.
    const res = await fetch(r.url, { method: r.method, headers, ...(r.body ? { body: r.body as Uint8Array<ArrayBuffer> } : {}), signal: AbortSignal.timeout(r.timeoutMs) });
    const body = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, header: (name) => res.headers.get(name) ?? undefined, body };
  },
  close() {},
};
