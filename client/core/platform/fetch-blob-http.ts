// The page's blob transport (client/core/files/transfer.ts BlobHttp). Chromium streams a fetch
// request body only over HTTP/2, so an upload is sealed into memory first and sent whole with
// XMLHttpRequest, whose upload events give the progress of the bytes on the wire (`onSent`); the
// page bounds the size of a file it sends. A download streams fetch's body.
import type { RelayTarget } from '../relay-http.js';
import type { BlobAnswer, BlobHttp } from '../files/transfer.js';

/** The part of the DOM's XMLHttpRequest used here (the Node project has no DOM types). */
interface Xhr {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: Uint8Array): void;
  upload: { onprogress: ((e: { loaded: number }) => void) | null; onload: (() => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  status: number;
  responseText: string;
}
declare const XMLHttpRequest: new () => Xhr;

function urlOf(t: RelayTarget, path: string): string {
  return new URL(path, t.url.endsWith('/') ? t.url : `${t.url}/`).toString();
}

function authOf(t: RelayTarget): Record<string, string> {
  if (t.ca !== undefined) throw new Error('a CA file cannot be used from a browser: the browser checks the relay certificate itself');
  return t.token ? { authorization: `Bearer ${t.token}` } : {};
}

/** `onSent(bytes, total)`: how much of an upload's body is on the wire. */
export function fetchBlobHttp(onSent: (bytes: number, total: number) => void = () => {}): BlobHttp {
  return {
    async upload(t, path, length, body) {
      const all = new Uint8Array(length);
      let at = 0;
      for await (const c of body) {
        if (at + c.length > length) throw new Error(`the sealed file is longer than its ${length} bytes`);
        all.set(c, at);
        at += c.length;
      }
      if (at !== length) throw new Error(`the sealed file is ${at} bytes, not ${length}`);
      const headers = { 'content-type': 'application/octet-stream', accept: 'application/json', ...authOf(t) };
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', urlOf(t, path));
        for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
        xhr.upload.onprogress = (e) => onSent(e.loaded, length);
        // A small body may be sent without a progress event: its end is one too.
        xhr.upload.onload = () => onSent(length, length);
        xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
        xhr.onerror = () => reject(new Error('the upload failed: the relay could not be reached'));
        xhr.onabort = () => reject(new Error('the upload was stopped'));
        xhr.send(all);
      });
    },

    async download(t, path, from) {
      const stop = new AbortController();
      // no-store: a blob is fetched once and then deleted; no copy of its ciphertext in the cache.
      const init = { headers: { ...authOf(t), ...(from > 0 ? { range: `bytes=${from}-` } : {}) }, signal: stop.signal, cache: 'no-store' };
      const res = await fetch(urlOf(t, path), init as RequestInit);
      let ended = false;
      async function* chunks(): AsyncGenerator<Uint8Array> {
        if (res.body === null) {
          ended = true;
          return;
        }
        const reader = res.body.getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            yield value;
          }
          ended = true;
        } finally {
          reader.releaseLock();
        }
      }
      const answer: BlobAnswer = { status: res.status, header: (name) => res.headers.get(name) ?? undefined, body: chunks(), complete: () => ended, cancel: () => stop.abort() };
      return answer;
    },
  };
}
