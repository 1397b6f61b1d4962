// The WebSocket transport the core's relay socket goes through (relay-ws.ts): the `ws` package in
// the CLI (client/node/ws.ts, which can take a CA file and sends the token in the Authorization
// header), the browser's WebSocket in the page (platform/browser-ws.ts, which cannot set a header
// and sends the token as its first frame, docs/RELAY.md "WebSocket API"). package.json "imports"
// maps `#ws-transport` to one or the other, like `#http-transport` (platform/http.ts).

export interface SocketHandlers {
  /**
   * The relay's id from the upgrade answer (`Fastchat-Relay-Id`), when the transport can read it
   * (a browser cannot: there the page comes from the relay it talks to). Called before `open`.
   */
  upgrade(relayId: string | undefined): void;
  /** Open and, when a token was given, authenticated as far as the client's part goes. */
  open(): void;
  /** The upgrade was answered with this HTTP status instead of 101 (a browser only sees an error). */
  refused(status: number): void;
  error(e: Error): void;
  close(code: number, reason: string): void;
  /** A text frame; binary frames are not the relay's and are dropped. */
  text(data: string): void;
}

export interface SocketConnection {
  readonly isOpen: boolean;
  readonly isClosed: boolean;
  send(text: string): void;
  close(code: number): void;
  /** Drops the connection at once, without a closing handshake. */
  terminate(): void;
}

export interface SocketOptions {
  /** The bearer token, or none (the relay then refuses the socket). */
  token?: string;
  /** Path of a PEM file trusted for this relay (`--ca`); only a Node transport can take one. */
  ca?: string;
  /** How long the upgrade may take. */
  timeoutMs: number;
}

export interface SocketTransport {
  open(url: string, options: SocketOptions, handlers: SocketHandlers): SocketConnection;
}

/** What the `ws` package's socket and the browser's WebSocket have in common (RFC 6455's API). */
export interface StandardSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  send(text: string): void;
  close(code?: number): void;
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** A SocketConnection over either socket; `terminate` drops it without a closing handshake. */
export function connectionOf(ws: StandardSocket, terminate: () => void): SocketConnection {
  return {
    get isOpen() {
      return ws.readyState === OPEN;
    },
    get isClosed() {
      return ws.readyState === CLOSED;
    },
    send: (text) => ws.send(text),
    close(code) {
      if (ws.readyState === OPEN || ws.readyState === CONNECTING) ws.close(code);
    },
    terminate,
  };
}
