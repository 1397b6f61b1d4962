// One WebSocket connection to the relay (docs/RELAY.md): validates each frame, turns it into an
// event, and answers pings. Reconnecting is the caller's business (chat does, inbox does not).
// The socket itself comes from `#ws-transport` (platform/ws.ts): the `ws` package in the CLI, the
// browser's WebSocket in the page.
import { socketTransport } from '#ws-transport';
import * as z from 'zod/mini';
import { CliError } from '../errors.js';
import { Emitter } from './emitter.js';
import type { SocketConnection } from './platform/ws.js';
import { checkRelayId, RelayError, RelayUnreachable, type RelayTarget } from './relay-http.js';

// zod/mini (zod's tree-shakable API): the web page bundles this file.
const int = () => z.number().check(z.int());
const Addr = z.object({ user: z.string(), device: int() });
const Frame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), user: z.string(), device: int(), oneTimePreKeys: z.optional(int()), queued: z.optional(int().check(z.nonnegative())), maxAcks: z.optional(int()) }),
  z.object({ type: z.literal('sent'), id: z.string(), storedAt: z.optional(z.string()) }),
  z.object({ type: z.literal('message'), id: z.string(), clientId: z.string(), from: Addr, body: z.string(), sentAt: z.string() }),
  // An ephemeral send of another device (a typing indicator, client/core/typing.ts): not stored, not acked.
  z.object({ type: z.literal('ephemeral'), clientId: z.string(), from: Addr, body: z.string(), sentAt: z.string() }),
  z.object({ type: z.literal('relayed'), id: z.string() }),
  z.object({ type: z.literal('drained') }),
  z.object({ type: z.literal('presence'), user: z.string(), online: z.boolean() }),
  z.object({ type: z.literal('prekeys_low'), oneTimePreKeys: int() }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.optional(z.string()), id: z.optional(z.string()), retryAfter: z.optional(z.number().check(z.nonnegative())) }),
  z.object({ type: z.literal('pong') }),
  // The relay's notice that some of our messages expired undelivered (docs/RELAY.md); ack it by id.
  z.object({ type: z.literal('expired'), id: z.string(), messages: z.array(z.object({ id: z.string(), to: Addr, sentAt: z.optional(z.string()) })).check(z.maxLength(10_000)) }),
]);
export type RelayFrame = z.infer<typeof Frame>;
export type MessageFrame = Extract<RelayFrame, { type: 'message' }>;
export type EphemeralFrame = Extract<RelayFrame, { type: 'ephemeral' }>;
export type HelloFrame = Extract<RelayFrame, { type: 'hello' }>;

/** Pings keep NAT and proxies from dropping an idle chat. */
const PING_INTERVAL_MS = 25_000;
const CONNECT_TIMEOUT_MS = 10_000;

export interface RelaySocketEvents {
  frame: [RelayFrame];
  close: [code: number, reason: string];
}

/** How long a `send` frame may wait for its `sent` (or `error`) answer before we give up on it. */
const SEND_TIMEOUT_MS = 15_000;

interface PendingSend {
  resolve: (storedAt: string) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class RelaySocket extends Emitter<RelaySocketEvents> {
  private ping: ReturnType<typeof setInterval> | undefined;
  /** Our `send` frames awaiting their answer, by client id; their answers are not emitted as frames. */
  private readonly sends = new Map<string, PendingSend>();
  /** Waiting for the socket to close (closed()). */
  private readonly onClosed: (() => void)[] = [];
  private ws!: SocketConnection;
  /** Delivery ids acked since the last frame went out: sent as one `acks` frame (ack()). */
  private acks: string[] = [];
  private acksScheduled = false;
  /** How many ids one `acks` frame may name (hello's `maxAcks`); 0: this relay takes one `ack` per id. */
  private maxAcks = 0;
  private constructor(private readonly url: string) {
    super();
  }

  /**
   * Opens the socket and resolves with the hello frame; rejects with RelayUnreachable or an auth
   * error. `onFrame` is attached before the first frame can arrive: the relay pushes the backlog
   * right after hello, often in the same TCP read, so a listener added after `await` would miss it.
   */
  static connect(t: RelayTarget, onFrame: (f: RelayFrame, socket: RelaySocket) => void): Promise<{ socket: RelaySocket; hello: HelloFrame }> {
    const url = `${t.url.replace(/^http/, 'ws').replace(/\/$/, '')}/v1/ws`;
    const socket = new RelaySocket(t.url);
    socket.on('frame', (f) => onFrame(f, socket));
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        socket.ws.terminate();
        reject(e);
      };
      socket.ws = socketTransport.open(url, { ...(t.token ? { token: t.token } : {}), ...(t.ca ? { ca: t.ca } : {}), timeoutMs: CONNECT_TIMEOUT_MS }, {
        // The upgrade names the relay's database: a different one is refused before any frame.
        upgrade(relayId) {
          try {
            checkRelayId(t, relayId);
          } catch (e) {
            fail(e as Error);
          }
        },
        open() {},
        refused(status) {
          fail(status === 401 ? new RelayUnauthorized() : new RelayUnreachable(t.url, new Error(`websocket upgrade refused with ${status}`)));
        },
        error: (e) => fail(new RelayUnreachable(t.url, e)),
        close(code, reason) {
          for (const r of socket.onClosed.splice(0)) r();
          if (!settled) {
            if (code === 4001) fail(new RelayUnauthorized());
            else fail(new RelayUnreachable(t.url, new Error(describeClose(code))));
            return;
          }
          socket.stopPing();
          socket.failSends(new RelayUnreachable(t.url, new Error(describeClose(code))));
          socket.emit('close', code, reason);
        },
        text(data) {
          let frame: RelayFrame;
          try {
            const parsed = Frame.safeParse(JSON.parse(data));
            if (!parsed.success) return; // a frame type from a newer relay: ignore it
            frame = parsed.data;
          } catch {
            return;
          }
          if (!settled && frame.type === 'hello') {
            settled = true;
            socket.maxAcks = frame.maxAcks !== undefined && frame.maxAcks >= 1 ? frame.maxAcks : 0;
            socket.startPing();
            resolve({ socket, hello: frame });
            return;
          }
          // An error before hello is the relay refusing this connection (banned, bad token): that,
          // not the close that follows, is what the user needs to hear.
          if (!settled && frame.type === 'error' && (frame.code === 'unauthorized' || frame.code === 'banned')) {
            fail(frame.code === 'unauthorized' ? new RelayUnauthorized() : new RelayError(403, 'banned', 'the relay refused this account: it is banned'));
            return;
          }
          if (socket.answerSend(frame)) return;
          socket.emit('frame', frame);
        },
      });
    });
  }

  send(frame: Record<string, unknown>): void {
    this.flushAcks(); // every frame goes out in the order it was made: the acks made before it first
    if (this.ws.isOpen) this.ws.send(JSON.stringify(frame));
  }

  /**
   * Hands one message to the relay over this socket; resolves with `storedAt` once the relay has
   * stored it durably (`sent`), rejects with a RelayError for an `error` answer and with
   * RelayUnreachable when the socket closes or no answer comes in time. Frames on one socket are
   * stored in the order they were sent, and after a retryable refusal the relay refuses the later
   * ones to the same recipient (`out_of_order`) until the refused one is sent again, so several
   * sends may be in flight without reordering.
   */
  submit(id: string, to: { user: string; device: number }[], body: string): Promise<string> {
    return this.request({ type: 'send', id, to, body });
  }

  /**
   * An ephemeral send (docs/RELAY.md "Ephemeral sends"): pushed by the relay to the recipient
   * devices connected now, never stored. Resolves on `relayed`, which does not say whether any
   * device got it.
   */
  async submitEphemeral(id: string, to: { user: string; device: number }[], body: string): Promise<void> {
    await this.request({ type: 'send', id, to, body, ephemeral: true });
  }

  private request(frame: { type: 'send'; id: string; to: { user: string; device: number }[]; body: string; ephemeral?: true }): Promise<string> {
    const id = frame.id;
    if (!this.open) return Promise.reject(new RelayUnreachable(this.url, new Error('the connection is closed')));
    if (this.sends.has(id)) return Promise.reject(new Error(`client id ${id} is already in flight`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.sends.delete(id);
        reject(new RelayUnreachable(this.url, new Error('no answer to a send in time')));
      }, SEND_TIMEOUT_MS);
      this.sends.set(id, { resolve, reject, timer });
      this.send(frame);
    });
  }

  /** Settles a pending `submit` with its answer; true when the frame was one. */
  private answerSend(f: RelayFrame): boolean {
    if ((f.type !== 'sent' && f.type !== 'error' && f.type !== 'relayed') || f.id === undefined) return false;
    const p = this.sends.get(f.id);
    if (!p) return false;
    this.sends.delete(f.id);
    clearTimeout(p.timer);
    if (f.type === 'sent') p.resolve(f.storedAt ?? new Date().toISOString());
    else if (f.type === 'relayed') p.resolve('');
    // The WebSocket answer has no HTTP status: the code says what it is (isRetryableRefusal).
    else p.reject(new RelayError(f.code === 'internal' ? 500 : 400, f.code, f.message ?? f.code, f.retryAfter));
    return true;
  }

  private failSends(e: Error): void {
    for (const p of this.sends.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.sends.clear();
  }

  /**
   * Tells the relay it may delete the message `deliveryId` (we stored it). The acks of one turn go
   * out together, before any later frame and at the latest in a microtask: a stored page of 256
   * messages is one `acks` frame (one socket write) where the relay says it takes them, not 256.
   */
  ack(deliveryId: string): void {
    this.acks.push(deliveryId);
    if (this.acksScheduled) return;
    this.acksScheduled = true;
    queueMicrotask(() => this.flushAcks());
  }

  private flushAcks(): void {
    this.acksScheduled = false;
    if (this.acks.length === 0) return;
    const ids = this.acks;
    this.acks = [];
    if (!this.ws.isOpen) return; // not deleted: the relay gives them again and we know them as seen
    if (this.maxAcks === 0) {
      for (const id of ids) this.ws.send(JSON.stringify({ type: 'ack', id }));
      return;
    }
    for (let i = 0; i < ids.length; i += this.maxAcks) this.ws.send(JSON.stringify({ type: 'acks', ids: ids.slice(i, i + this.maxAcks) }));
  }

  get open(): boolean {
    return this.ws.isOpen;
  }

  /**
   * Resolves once the relay has answered a ping sent now. The relay writes to one socket in order,
   * and frames are handled as they are read, so by then every message it had pushed us before the
   * ping has been handled: a receive pass for a connection that is already receiving.
   */
  roundTrip(): Promise<void> {
    if (!this.open) return Promise.reject(new RelayUnreachable(this.url, new Error('the connection is closed')));
    return new Promise((resolve, reject) => {
      const done = (e?: Error): void => {
        clearTimeout(timer);
        this.off('frame', onFrame);
        this.off('close', onClose);
        if (e) reject(e);
        else resolve();
      };
      const onFrame = (f: RelayFrame): void => {
        if (f.type === 'pong') done();
      };
      const onClose = (): void => done(new RelayUnreachable(this.url, new Error('the connection closed')));
      const timer = setTimeout(() => done(new RelayUnreachable(this.url, new Error('no answer to a ping in time'))), SEND_TIMEOUT_MS);
      this.on('frame', onFrame);
      this.on('close', onClose);
      this.send({ type: 'ping' });
    });
  }

  close(): void {
    this.stopPing();
    this.flushAcks();
    this.ws.close(1000);
  }

  /** Resolves when the socket is closed (at once if it already is). */
  closed(): Promise<void> {
    if (this.ws.isClosed) return Promise.resolve();
    return new Promise((r) => this.onClosed.push(r));
  }

  private startPing(): void {
    this.ping = setInterval(() => this.send({ type: 'ping' }), PING_INTERVAL_MS);
    unref(this.ping);
  }

  private stopPing(): void {
    if (this.ping) clearInterval(this.ping);
    this.ping = undefined;
  }
}

/** In Node the pings alone do not keep a process alive; a browser's timer is a number. */
function unref(timer: unknown): void {
  if (typeof timer === 'object' && timer !== null && 'unref' in timer && typeof timer.unref === 'function') timer.unref();
}

/**
 * A WebSocket close code in words (docs/RELAY.md "Close codes"): people see these when a chat
 * drops, and "1006" tells them nothing.
 */
export function describeClose(code: number): string {
  switch (code) {
    case 1000:
      return 'the relay closed the connection';
    case 1001:
      return 'the relay is restarting or shutting down';
    case 1006:
      return 'the connection dropped (the relay stopped, or the network is down)';
    case 1007:
    case 1008:
      return 'the relay closed the connection: it refused what this client sent, or the account is banned';
    case 1009:
      return 'the relay closed the connection: a message was over its size limit';
    case 1011:
      return 'the relay closed the connection after an internal error';
    case 1013:
      return 'the relay is overloaded; try again later';
    case 4001:
      return 'the relay ended this login (the token expired or was revoked)';
    case 4002:
      return 'replaced by another connection of this home (another fastchat of this home connected)';
    default:
      return `the connection closed (code ${code})`;
  }
}

export class RelayUnauthorized extends CliError {
  constructor() {
    super('unauthorized', 'the relay refused our token (expired or logged out)', { hint: 'run `fastchat login <username>`' });
  }
}
