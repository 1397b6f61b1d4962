// A hostile relay for tests: a proxy on 127.0.0.1 in front of a real relay process that forwards
// HTTP and WebSocket traffic unchanged until a test tells it to lie. It plays the relay of
// docs/THREAT_MODEL.md "Malicious or compromised relay": it sees every frame and request, and it
// can drop, hold, reorder, duplicate, relabel, redirect, tamper with and inject messages, answer
// `sent` for a message it never stored, substitute key bundles, strip or reuse one-time prekeys,
// and serve blobs with extra, missing or altered bytes. Whatever authenticates a client to the
// relay (a header, the query string, a first frame) passes through untouched.
//
//   const hostile = await startHostileRelay(relay.url);       // relay: a RelayProcess
//   t.after(() => hostile.close());
//   setUpUser(home, hostile.url);                              // homes talk to the proxy only
//   hostile.onDeliver((f, to) => (to.user === 'bob' ? 'drop' : undefined));
//
// Hooks run in the order they were added; the first that returns a verdict decides. Each `on*`
// returns a function that removes the hook. Hooks see frames as parsed JSON; a verdict that
// forwards frames forwards them re-serialised.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { makeHome, makeTempRoot, setUpUser, type TestHome } from './fastchat-cli.js';
import { RELAY_TEST_ARGS } from './fault.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';

export interface Addr {
  user: string;
  device: number;
}
export type Frame = { type: string; [k: string]: any };
/** A relay → client `message` frame (docs/RELAY.md). */
export interface MessageFrame extends Frame {
  type: 'message';
  id: string;
  clientId: string;
  from: Addr;
  body: string;
  sentAt: string;
}
/** A client → relay `send` (from a WebSocket frame, or a POST /v1/messages body). */
export interface SendFrame extends Frame {
  type: 'send';
  id: string;
  to: Addr[];
  body: string;
}

/**
 * What the relay does with a message it should deliver:
 * - undefined: deliver it unchanged;
 * - 'drop': never deliver it; the proxy acks it to the relay, so it is gone for good;
 * - 'hold': keep it (acked to the relay) in `held` until `release()`;
 * - { deliver: [...] }: deliver these frames instead (tampered, relabelled, duplicated…). The
 *   proxy acks the original to the relay once and swallows the client's acks of the frames it made.
 */
export type DeliverVerdict = undefined | 'drop' | 'hold' | { deliver: MessageFrame[] };
/**
 * What the relay does with a message a client sends:
 * - undefined: store it (forward to the relay);
 * - 'lie': answer `sent` (HTTP 200) without storing anything;
 * - 'silence': store nothing and never answer;
 * - { store: frame }: store this instead (redirected, tampered), answered as the relay answers it.
 */
export type SendVerdict = undefined | 'lie' | 'silence' | { store: SendFrame };

export interface KeysContext {
  /** The account whose keys were asked for. */
  user: string;
  /** 'bundle' = GET /v1/keys/:user (hands out one-time prekeys), 'identity' = GET /v1/keys/:user/identity. */
  kind: 'bundle' | 'identity';
  /** Who asked (from the token), when the proxy saw that token log in. */
  requester: Addr | null;
  /** The relay's answer: `{username, devices: [...]}` as in docs/RELAY.md. */
  answer: { username: string; devices: any[] };
}

export interface DeviceListsContext {
  /** The account whose device lists were asked for (GET /v1/devices/:user). */
  user: string;
  since: number;
  requester: Addr | null;
  /** The relay's answer: `{username, lists: [{version, list}], more}` as in docs/RELAY.md. */
  answer: { username: string; lists: { version: number; list: string }[]; more: boolean };
}

/** A hook that hides `users`' device lists from everyone but themselves (a relay serving no list, as for a client from before device lists). */
export function hideDeviceLists(...users: string[]): Hook<[DeviceListsContext], DeviceListsContext['answer']> {
  return (ctx) => (users.includes(ctx.user) && ctx.requester?.user !== ctx.user ? { ...ctx.answer, lists: [], more: false } : undefined);
}

export interface BlobContext {
  id: string;
  /** The client's Range header, if any. */
  range: string | undefined;
  requester: Addr | null;
  /** The relay's answer, fully read (test blobs are small). */
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}
/** A blob answer to serve instead; a missing field keeps the relay's. Content-Length is set from `body` unless given (use `null` to send none). */
export interface BlobAnswer {
  status?: number;
  headers?: Record<string, string | null>;
  body?: Buffer | AsyncIterable<Buffer>;
}

export interface Held {
  to: Addr;
  frame: MessageFrame;
}

/** One frame or request as the proxy saw it, before any hook changed it. */
export interface Seen {
  dir: 'up' | 'down'; // up: client → relay, down: relay → client
  via: 'ws' | 'http';
  conn: Addr | null;
  frame: Frame;
}

type Hook<A extends unknown[], R> = (...args: A) => R | void;

interface Conn {
  client: WebSocket;
  upstream: WebSocket;
  addr: Addr | null;
  /** Delivery ids the proxy made up (injected, rewritten): their acks never reach the relay. */
  ours: Set<string>;
}

export interface HostileRelay {
  /** http://127.0.0.1:PORT of the proxy: give this to the homes. */
  url: string;
  wsUrl: string;
  /** Every frame and message request seen so far, in order. */
  readonly log: Seen[];
  /** Messages kept by a 'hold' verdict, oldest first. */
  readonly held: Held[];
  onDeliver(fn: Hook<[f: MessageFrame, to: Addr], DeliverVerdict>): () => void;
  onSend(fn: Hook<[f: SendFrame, from: Addr | null], SendVerdict>): () => void;
  /** Rewrite a key-directory answer (substitute identities or bundles, strip or reuse prekeys). */
  onKeys(fn: Hook<[ctx: KeysContext], KeysContext['answer']>): () => void;
  onBlob(fn: Hook<[ctx: BlobContext], BlobAnswer>): () => void;
  /** Rewrite a device-list answer (serve an older list, one signed by another key, none at all). */
  onDeviceLists(fn: Hook<[ctx: DeviceListsContext], DeviceListsContext['answer']>): () => void;
  /** Pushes a frame to `to`: now if it is connected, else right after its next `hello`. */
  inject(to: Addr, frame: Frame): void;
  /** Delivers held messages (all by default) to their recipient, or to `to` instead. */
  release(which?: (h: Held) => boolean, to?: Addr): number;
  /** Messages `from` sent to `to` as the relay received them (`send` frames and POSTs), oldest first. */
  sentBy(from: string, to?: string): SendFrame[];
  /** Delivers nothing more to anyone: removes every hook (held messages stay held). */
  clearHooks(): void;
  /** With `record: true`: every byte it carried (frames both ways, HTTP bodies both ways), to scan. */
  recorded(): Buffer;
  /** Closes every socket and the listener. */
  close(): Promise<void>;
}

/** A delivery id / client id the relay itself could have chosen. */
export function fakeId(): string {
  return randomBytes(16).toString('base64url');
}

const HOP_HEADERS = new Set(['host', 'connection', 'upgrade', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'te', 'trailer', 'expect']);
const WS_HANDSHAKE = /^sec-websocket-/;

function firstVerdict<A extends unknown[], R>(hooks: Hook<A, R>[], ...args: A): R | undefined {
  for (const h of hooks) {
    const v = h(...args);
    if (v !== undefined) return v as R;
  }
  return undefined;
}

function forwardHeaders(h: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_HEADERS.has(k)) out[k] = v;
  return out;
}

async function readAll(s: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

function drainedOrClosed(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Ws close codes a peer may send; the others (1005, 1006, 1015) only describe what happened. */
function closeWith(ws: WebSocket, code: number, reason: Buffer): void {
  if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) return;
  if (code === 1005) ws.close();
  else if (code === 1006 || code === 1015) ws.terminate();
  else ws.close(code, reason);
}

export async function startHostileRelay(upstreamUrl: string, opts: { record?: boolean } = {}): Promise<HostileRelay> {
  const upstream = new URL(upstreamUrl);
  const upstreamWs = `${upstreamUrl.replace(/^http/, 'ws').replace(/\/$/, '')}`;
  const deliverHooks: Hook<[MessageFrame, Addr], DeliverVerdict>[] = [];
  const sendHooks: Hook<[SendFrame, Addr | null], SendVerdict>[] = [];
  const keysHooks: Hook<[KeysContext], KeysContext['answer']>[] = [];
  const listHooks: Hook<[DeviceListsContext], DeviceListsContext['answer']>[] = [];
  const blobHooks: Hook<[BlobContext], BlobAnswer>[] = [];
  const log: Seen[] = [];
  const held: Held[] = [];
  const conns = new Set<Conn>();
  const pending: { to: Addr; frame: Frame }[] = [];
  /** bearer token → address, learnt from login answers (the proxy sees them in the clear). */
  const tokens = new Map<string, Addr>();
  const sockets = new Set<Socket | Duplex>();
  const wire: Buffer[] = [];
  const tap = (d: Buffer | string): void => {
    if (opts.record) wire.push(Buffer.from(d));
  };

  const add = <T>(list: T[], fn: T): (() => void) => {
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  };
  const same = (a: Addr | null, b: Addr): boolean => a !== null && a.user === b.user && a.device === b.device;
  const requesterOf = (req: http.IncomingMessage): Addr | null => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m ? (tokens.get(m[1]!) ?? null) : null;
  };

  function push(conn: Conn, frame: Frame): void {
    if (frame.type === 'message' && typeof frame.id === 'string') conn.ours.add(frame.id);
    if (conn.client.readyState === WebSocket.OPEN) conn.client.send(JSON.stringify(frame));
  }

  function deliverTo(to: Addr, frame: Frame): void {
    const conn = [...conns].find((c) => same(c.addr, to) && c.client.readyState === WebSocket.OPEN);
    if (conn) push(conn, frame);
    else pending.push({ to, frame });
  }

  function onUpstreamFrame(conn: Conn, text: string): void {
    tap(text);
    let f: Frame;
    try {
      f = JSON.parse(text) as Frame;
    } catch {
      conn.client.send(text);
      return;
    }
    log.push({ dir: 'down', via: 'ws', conn: conn.addr, frame: f });
    if (f.type === 'hello') {
      conn.addr = { user: String(f.user), device: Number(f.device) };
      conn.client.send(text);
      for (let i = 0; i < pending.length; ) {
        if (same(conn.addr, pending[i]!.to)) push(conn, pending.splice(i, 1)[0]!.frame);
        else i++;
      }
      return;
    }
    if (f.type !== 'message' || !conn.addr) {
      conn.client.send(text);
      return;
    }
    const to = conn.addr;
    const v = firstVerdict(deliverHooks, f as MessageFrame, to);
    if (v === undefined) {
      conn.client.send(text);
      return;
    }
    // Whatever the relay does instead, it forgets the original.
    if (conn.upstream.readyState === WebSocket.OPEN) conn.upstream.send(JSON.stringify({ type: 'ack', id: f.id }));
    if (v === 'drop') return;
    if (v === 'hold') {
      held.push({ to, frame: f as MessageFrame });
      return;
    }
    for (const d of v.deliver) push(conn, d);
  }

  function onClientFrame(conn: Conn, text: string): void {
    tap(text);
    let f: Frame | undefined;
    try {
      f = JSON.parse(text) as Frame;
    } catch {
      f = undefined;
    }
    if (f) log.push({ dir: 'up', via: 'ws', conn: conn.addr, frame: f });
    if (f?.type === 'ack' && conn.ours.has(f.id)) {
      conn.ours.delete(f.id);
      return;
    }
    if (f?.type === 'send') {
      const v = firstVerdict(sendHooks, f as SendFrame, conn.addr);
      if (v === 'lie') {
        conn.client.send(JSON.stringify({ type: 'sent', id: f.id, storedAt: new Date().toISOString() }));
        return;
      }
      if (v === 'silence') return;
      if (v !== undefined) text = JSON.stringify(v.store);
    }
    if (conn.upstream.readyState === WebSocket.OPEN) conn.upstream.send(text);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });

  function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_HEADERS.has(k) && !WS_HANDSHAKE.test(k)) headers[k] = v;
    const up = new WebSocket(upstreamWs + (req.url ?? '/'), { headers, maxPayload: 64 * 1024 * 1024 });
    const early: string[] = [];
    let conn: Conn | undefined;
    up.on('message', (data, isBinary) => {
      if (isBinary) return void conn?.client.send(data, { binary: true });
      if (conn) onUpstreamFrame(conn, data.toString());
      else early.push(data.toString());
    });
    up.once('unexpected-response', (_r, res) => {
      // The relay refused the upgrade (401…): the client hears the same status.
      void readAll(res).then((body) => {
        socket.end(`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\ncontent-type: ${res.headers['content-type'] ?? 'text/plain'}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body.toString('latin1')}`);
      });
    });
    up.once('error', () => {
      if (!conn) socket.destroy();
    });
    up.once('open', () => {
      wss.handleUpgrade(req, socket, head, (client) => {
        const c: Conn = { client, upstream: up, addr: null, ours: new Set() };
        conn = c;
        conns.add(c);
        client.on('message', (data, isBinary) => {
          if (isBinary) up.send(data, { binary: true });
          else onClientFrame(c, data.toString());
        });
        client.on('close', (code, reason) => {
          conns.delete(c);
          closeWith(up, code, reason);
        });
        client.on('error', () => {});
        up.on('close', (code, reason) => closeWith(client, code, reason));
        for (const t of early.splice(0)) onUpstreamFrame(c, t);
      });
    });
  }

  /** Forwards one HTTP request; `body` given means it was read already. */
  function forward(req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer, onAnswer?: (status: number, headers: http.IncomingHttpHeaders, body: Buffer) => void): void {
    const headers = forwardHeaders(req.headers);
    if (body !== undefined) {
      delete headers['content-length'];
      headers['content-length'] = String(body.length);
    }
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent: false }, (ur) => {
      ur.on('data', tap);
      if (onAnswer) {
        void readAll(ur).then((b) => onAnswer(ur.statusCode ?? 502, ur.headers, b));
        return;
      }
      res.writeHead(ur.statusCode ?? 502, forwardHeaders(ur.headers));
      ur.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.destroy();
    });
    if (body !== undefined) {
      tap(body);
      up.end(body);
    } else {
      req.on('data', tap);
      req.pipe(up);
    }
  }

  function answerJson(res: http.ServerResponse, status: number, headers: http.IncomingHttpHeaders, value: unknown): void {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    const h = forwardHeaders(headers);
    delete h['content-length'];
    res.writeHead(status, { ...h, 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  async function onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const path = url.pathname;
    if (req.method === 'POST' && path === '/v1/sessions') {
      const body = await readAll(req);
      return forward(req, res, body, (status, headers, answer) => {
        try {
          const a = JSON.parse(answer.toString('utf8')) as { token?: string; username?: string; deviceId?: number };
          if (status === 200 && a.token && a.username) tokens.set(a.token, { user: a.username, device: a.deviceId ?? 1 });
        } catch {
          // not JSON: pass it on as it is
        }
        answerJson(res, status, headers, answer.toString('utf8'));
      });
    }
    if (req.method === 'POST' && path === '/v1/messages') {
      const raw = await readAll(req);
      let f: SendFrame | undefined;
      try {
        const b = JSON.parse(raw.toString('utf8')) as Omit<SendFrame, 'type'>;
        f = { ...b, type: 'send' } as SendFrame;
      } catch {
        f = undefined;
      }
      const from = requesterOf(req);
      if (!f) return forward(req, res, raw);
      log.push({ dir: 'up', via: 'http', conn: from, frame: f });
      const v = firstVerdict(sendHooks, f, from);
      if (v === 'lie') return answerJson(res, 200, { 'content-type': 'application/json' }, { id: f.id, storedAt: new Date().toISOString() });
      if (v === 'silence') return void sockets.forEach((s) => s === req.socket && s.destroy());
      if (v === undefined) return forward(req, res, raw);
      const { type: _t, ...stored } = v.store;
      return forward(req, res, Buffer.from(JSON.stringify(stored)));
    }
    const keys = /^\/v1\/keys\/([^/]+)(\/identity)?$/.exec(path);
    if (req.method === 'GET' && keys && keys[1] !== 'count' && keysHooks.length > 0) {
      return forward(req, res, Buffer.alloc(0), (status, headers, answer) => {
        if (status !== 200) return answerJson(res, status, headers, answer.toString('utf8'));
        const ctx: KeysContext = { user: decodeURIComponent(keys[1]!), kind: keys[2] ? 'identity' : 'bundle', requester: requesterOf(req), answer: JSON.parse(answer.toString('utf8')) };
        answerJson(res, status, headers, firstVerdict(keysHooks, ctx) ?? ctx.answer);
      });
    }
    const lists = /^\/v1\/devices\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && lists && listHooks.length > 0) {
      return forward(req, res, Buffer.alloc(0), (status, headers, answer) => {
        if (status !== 200) return answerJson(res, status, headers, answer.toString('utf8'));
        const ctx: DeviceListsContext = { user: decodeURIComponent(lists[1]!), since: Number(url.searchParams.get('since') ?? 0), requester: requesterOf(req), answer: JSON.parse(answer.toString('utf8')) };
        answerJson(res, status, headers, firstVerdict(listHooks, ctx) ?? ctx.answer);
      });
    }
    const blob = /^\/v1\/blobs\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && blob && blobHooks.length > 0) {
      return forward(req, res, Buffer.alloc(0), (status, headers, answer) => {
        const ctx: BlobContext = { id: decodeURIComponent(blob[1]!), range: req.headers.range, requester: requesterOf(req), status, headers: forwardHeaders(headers) as Record<string, string>, body: answer };
        const a = firstVerdict(blobHooks, ctx) ?? {};
        const h: Record<string, string> = { ...ctx.headers };
        for (const [k, v] of Object.entries(a.headers ?? {})) {
          if (v === null) delete h[k.toLowerCase()];
          else h[k.toLowerCase()] = v;
        }
        const out = a.body ?? ctx.body;
        if (Buffer.isBuffer(out)) {
          if (!a.headers || a.headers['content-length'] === undefined) h['content-length'] = String(out.length);
          res.writeHead(a.status ?? status, h);
          res.end(out);
          return;
        }
        delete h['content-length'];
        res.writeHead(a.status ?? status, h);
        void (async () => {
          try {
            for await (const chunk of out) {
              if (res.destroyed) return;
              if (!res.write(chunk)) await drainedOrClosed(res);
            }
            res.end();
          } catch {
            res.destroy();
          }
        })();
      });
    }
    forward(req, res);
  }

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    log,
    held,
    onDeliver: (fn) => add(deliverHooks, fn),
    onSend: (fn) => add(sendHooks, fn),
    onKeys: (fn) => add(keysHooks, fn),
    onBlob: (fn) => add(blobHooks, fn),
    onDeviceLists: (fn) => add(listHooks, fn),
    inject: deliverTo,
    release(which = () => true, to) {
      let n = 0;
      for (let i = 0; i < held.length; ) {
        const h = held[i]!;
        if (which(h)) {
          held.splice(i, 1);
          deliverTo(to ?? h.to, h.frame);
          n++;
        } else i++;
      }
      return n;
    },
    sentBy(from, to) {
      return log
        .filter((s) => s.dir === 'up' && s.frame.type === 'send' && s.conn?.user === from && (to === undefined || (s.frame as SendFrame).to.some((a) => a.user === to)))
        .map((s) => s.frame as SendFrame);
    },
    recorded: () => Buffer.concat(wire),
    clearHooks() {
      for (const l of [deliverHooks, sendHooks, keysHooks, blobHooks, listHooks] as unknown[][]) l.length = 0;
    },
    async close() {
      for (const c of conns) {
        c.client.terminate();
        c.upstream.terminate();
      }
      conns.clear();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The usual world of a hostile-relay test: a real relay process (test limits lifted), the proxy in
 * front of it, and homes registered through the proxy on demand. `stop()` ends all of it.
 */
export async function startHostileWorld(prefix: string, opts: { record?: boolean } = {}): Promise<{ relay: RelayProcess; hostile: HostileRelay; home(name: string): Promise<TestHome>; stop(): Promise<void> }> {
  const tmp = makeTempRoot(prefix);
  mkdirSync(join(tmp.root, 'relay'));
  const relay = await startRelayProcess({ db: join(tmp.root, 'relay', 'relay.db'), args: RELAY_TEST_ARGS });
  const hostile = await startHostileRelay(relay.url, opts);
  return {
    relay,
    hostile,
    async home(name) {
      const h = makeHome(tmp.root, name);
      await setUpUser(h, hostile.url);
      return h;
    },
    async stop() {
      await hostile.close();
      await relay.stop();
      tmp.cleanup();
    },
  };
}
