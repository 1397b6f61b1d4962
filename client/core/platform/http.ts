// The HTTP transport the core's relay calls go through (relay-http.ts): node:http(s) in the CLI
// (client/node/http.ts, which takes a CA file for a self-signed relay), fetch in the browser
// (platform/fetch-http.ts). package.json "imports" maps `#http-transport` to one or the other by
// the resolver's conditions ("browser" for the page's bundle), so the core names neither.

export interface HttpRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  /** Path of a PEM file trusted for this relay (`--ca`); only a Node transport can take one. */
  ca?: string;
  /** Use a new connection, not a kept-alive one (the retry after a StaleConnection). */
  fresh: boolean;
  timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  /** A response header by its lower-case name. */
  header(name: string): string | undefined;
  body: Uint8Array;
}

/**
 * The request went out on a kept-alive connection the server had already closed, and it dropped
 * before any answer: the server almost certainly never saw it (relay-http.ts decides on a retry).
 */
export class StaleConnection extends Error {
  constructor(readonly error: Error) {
    super(error.message);
    this.name = 'StaleConnection';
  }
}

export interface HttpTransport {
  /** Rejects with StaleConnection as above, or with the error that kept the server from answering. */
  send(request: HttpRequest): Promise<HttpAnswer>;
  /** Frees kept-alive connections so a short command can exit at once. */
  close(): void;
}
