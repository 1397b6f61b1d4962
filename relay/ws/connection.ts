// One authenticated WebSocket of one device: reads client frames, and pushes the device's queue.
// The pump reads the store from a cursor (the last delivery id sent), so order is the store's
// order, nothing is held in memory per connection, and a slow reader simply falls behind: above
// wsHighWaterBytes of unsent data the pump stops and polls until the socket drains, then resumes
// from the cursor.
//
// Live fast path: once a read found nothing after the cursor (`live`), every message committed
// for this device afterwards is offered by the hub right after its commit, in delivery-id order,
// with its body in memory, and pushed as is. Order holds because nothing can be committed for the
// device without being offered. An offer that cannot be pushed at once (socket over the
// high-water mark, a read still pending) turns `live` off and leaves the message to the next read
// of the store, which starts after the cursor and so picks it up in order.
import type WebSocket from 'ws';
import type { RawData } from 'ws';
import type { RelayContext } from '../context.js';
import { chargeSend, EPHEMERAL_MAX_BYTES, toSubmitRequest } from '../delivery/send.js';
import { CLOSE, isRetryable, RelayError, toRelayError } from '../errors.js';
import { OrderGate } from './order-gate.js';
import { clientFrame, describeIssue, MAX_ACKS, type ClientFrame } from '../schemas.js';
import { errInfo, type Committed } from '../delivery/submitter.js';
import type { Address, QueuedMessage } from '../store/index.js';
import type { WriteBatch } from './writes.js';
import { encodeBase64url } from '../wire/base64url.js';
import { ephemeralFrame, expiredFrame, messageFrame, parseClientFrame, relayedFrame, sentFrame } from '../wire/frames.js';

const DRAIN_POLL_MS = 20;
/** After a failed read of the store, the pump tries again this much later. */
const STORE_RETRY_MS = 1000;
let streams = 0;

export class Connection {
  readonly addr: Address;
  private cursor = 0;
  private drainedSent = false;
  /** The cursor is at the last delivery committed for this device: offers may be pushed directly. */
  private live = false;
  /** The hello went out: pushing may begin. */
  private started = false;
  private pumpScheduled = false;
  /** A read of the store is in flight; `again`: something was committed for us meanwhile. */
  private reading = false;
  private again = false;
  private drainTimer: NodeJS.Timeout | null = null;
  private badFrames = 0;
  /** Per-recipient order of this connection's sends across refusals. */
  private readonly order = new OrderGate();
  /** Names this connection: its sends to the store (SubmitRequest.stream), and on the bus. */
  readonly id = ++streams;
  private readonly stream = this.id;
  /** When it opened (the newer of two connections of one device wins, also across nodes). */
  readonly openedAt: number;
  private alive = true;
  closed = false;

  constructor(
    private readonly ctx: RelayContext,
    private readonly writes: WriteBatch,
    readonly ws: WebSocket,
    readonly tokenHash: Uint8Array,
    user: string,
    device: number,
    /** Pushes an ephemeral frame to a device if it is connected to this node (Hub.pushEphemeral). */
    private readonly ephemeral: (to: Address, frame: string) => void = () => {},
  ) {
    this.addr = { user, device };
    this.openedAt = ctx.now();
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
  }

  /**
   * Says hello, then pushes the queue. Nothing is pushed before the hello, and nothing is read
   * before `ready` (the bus carries this user's events to this node from then on, so a commit on
   * another node after the first read is heard).
   */
  async start(ready: Promise<void> = Promise.resolve()): Promise<void> {
    let oneTimePreKeys: number;
    let queued: number;
    try {
      await ready;
      // Acks of this device's last connection may still wait for their commit (submitter.ts).
      await this.ctx.submitter.commitAcks(this.addr);
      [oneTimePreKeys, queued] = await Promise.all([this.ctx.store.countOneTimePreKeys(this.addr.user, this.addr.device), this.ctx.store.queuedFor(this.addr)]);
    } catch (e) {
      this.ctx.log.error({ err: errInfo(e) }, 'connection start failed');
      this.sendError(new RelayError('internal', 'the relay cannot read its store right now'));
      this.close(CLOSE.tryAgainLater, 'store unavailable');
      return;
    }
    if (this.closed) return;
    // So a client that stops before `drained` can say how much it left behind.
    // `maxAcks`: this relay takes `acks` frames naming up to that many delivery ids (a client that
    // does not see it acks one id per frame).
    this.send({ type: 'hello', user: this.addr.user, device: this.addr.device, oneTimePreKeys, queued, maxAcks: MAX_ACKS });
    this.started = true;
    this.pump();
  }

  send(frame: object): void {
    this.sendText(JSON.stringify(frame));
  }

  private sendText(text: string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.writes.join(this.ws);
    this.ws.send(text);
  }

  sendError(e: RelayError, id?: string): void {
    this.ctx.metrics.rejects.inc({ code: e.code });
    this.send({ type: 'error', code: e.code, message: e.message, ...(id !== undefined ? { id } : {}), ...(e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {}) });
  }

  close(code: number, reason: string): void {
    this.stopPump();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
  }

  /** Server ping; a peer that did not answer the previous one is gone. */
  heartbeat(): void {
    if (!this.alive) {
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /**
   * A message just committed for this device. Pushed now (true) when the connection is live and
   * the socket has room; otherwise (false) it is left in the store for the next read.
   */
  offer(m: Committed, sentAt: string): boolean {
    if (m.deliveryId <= this.cursor) return false; // a read of the store already pushed it
    if (!this.live || this.closed || this.ws.readyState !== this.ws.OPEN || this.overHighWater()) {
      this.live = false;
      // A read in flight may have started before this commit: it must be followed by another.
      if (this.reading) this.again = true;
      return false;
    }
    this.sendText(messageFrame(m.deliveryId, m.clientId, m.from.user, m.from.device, m.body, sentAt));
    this.cursor = m.deliveryId;
    return true;
  }

  /**
   * An ephemeral frame for this device: written now if the socket is past its hello and has room,
   * else dropped (it is never stored, so there is nothing to read later).
   */
  pushEphemeral(frame: string): boolean {
    if (!this.started || this.closed || this.ws.readyState !== this.ws.OPEN || this.overHighWater()) return false;
    this.sendText(frame);
    return true;
  }

  /** Messages up to delivery id `upTo` (unknown: undefined) are committed for this device. */
  queued(upTo?: number): void {
    if (upTo !== undefined && this.live && this.cursor >= upTo) return; // already pushed by offer()
    this.pump();
  }

  /** New messages may be queued for this device: read them from the store soon. */
  pump(): void {
    // Until that read has run, the store may hold messages before any new offer.
    this.live = false;
    if (this.reading) {
      this.again = true;
      return;
    }
    if (this.closed || !this.started || this.pumpScheduled || this.drainTimer) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      void this.pumpPage();
    });
  }

  /**
   * Reads one page after the cursor and pushes it. The read is asynchronous (store/types.ts), so
   * a commit for this device can land while it is in flight; such a commit's offer or bus event
   * sets `again`, and the page is followed by another read before the connection goes live.
   */
  private async pumpPage(): Promise<void> {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.reading = true;
    this.again = false;
    let batch;
    try {
      batch = await this.ctx.store.pending(this.addr, this.cursor, this.ctx.cfg.pushBatch);
    } catch (e) {
      // The store is unreachable (a database restart): nothing is lost, the queue stays where it
      // is; try again shortly.
      this.reading = false;
      this.ctx.log.warn({ err: errInfo(e) }, 'queue read failed, retrying');
      this.retryLater(STORE_RETRY_MS);
      return;
    }
    this.reading = false;
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.writes.run(() => this.pushPage(batch));
  }

  private pushPage(batch: QueuedMessage[]): void {
    let sent = 0;
    for (const m of batch) {
      if (m.deliveryId <= this.cursor) continue; // pushed live while the read was in flight
      // Checked before every frame: at most one frame above the high-water mark is ever buffered.
      if (this.overHighWater()) {
        this.ctx.metrics.pushed.inc(sent);
        this.retryLater(DRAIN_POLL_MS);
        return;
      }
      this.sendText(
        m.kind === 'expired'
          ? expiredFrame(m.deliveryId, m.body)
          : messageFrame(m.deliveryId, m.clientId, m.from.user, m.from.device, encodeBase64url(m.body), new Date(m.storedAt).toISOString()),
      );
      this.cursor = m.deliveryId;
      sent++;
    }
    this.ctx.metrics.pushed.inc(sent);
    if (batch.length === this.ctx.cfg.pushBatch || this.again) {
      this.pump(); // more to read, or committed during the read: yield to other connections first
      return;
    }
    if (!this.drainedSent) {
      this.drainedSent = true;
      this.send({ type: 'drained' });
    }
    // Everything committed before the read is pushed, and nothing was committed for this device
    // since it began (no offer or bus event came in between).
    this.live = true;
  }

  private retryLater(ms: number): void {
    if (this.closed || this.drainTimer) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      void this.pumpPage();
    }, ms);
  }

  /** More than wsHighWaterBytes are waiting for the kernel (corked frames are handed over first). */
  private overHighWater(): boolean {
    const hw = this.ctx.cfg.wsHighWaterBytes;
    if (this.ws.bufferedAmount <= hw) return false;
    this.writes.release(this.ws);
    return this.ws.bufferedAmount > hw;
  }

  private stopPump(): void {
    this.closed = true;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
  }

  onClosed(): void {
    this.stopPump();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    let json: unknown;
    try {
      if (isBinary) throw new Error('binary');
      json = JSON.parse(rawToString(data));
    } catch {
      this.sendError(new RelayError('bad_request', 'frame is not json text'));
      this.close(CLOSE.invalidPayload, 'invalid frame');
      return;
    }
    // The auth frame opens a socket that came without the header (attach.ts); here it is
    // authenticated already, and a token sent again is refused rather than looked at.
    if ((json as { type?: unknown } | null)?.type === 'auth') {
      this.sendError(new RelayError('bad_request', 'this connection is already authenticated'));
      this.close(CLOSE.policy, 'auth frame after hello');
      return;
    }
    // The hand-written check passes every valid frame; zod judges (and words) the rest.
    let f = parseClientFrame(json);
    if (f === undefined) {
      const parsed = clientFrame.safeParse(json);
      if (!parsed.success) {
        const id = typeof (json as { id?: unknown })?.id === 'string' ? ((json as { id: string }).id.slice(0, 64)) : undefined;
        this.badFrame(new RelayError('bad_request', describeIssue(parsed.error)), id);
        return;
      }
      f = parsed.data;
    }
    switch (f.type) {
      case 'ping':
        this.send({ type: 'pong' });
        return;
      case 'ack':
        this.ctx.submitter.ack(this.addr, Number(f.id));
        return;
      case 'acks':
        for (const id of f.ids) this.ctx.submitter.ack(this.addr, Number(id));
        return;
      case 'send': {
        if (f.ephemeral) {
          this.relayEphemeral(f);
          return;
        }
        const { seq, waitFor } = this.order.admit(f.id, f.to);
        if (waitFor !== undefined) {
          // Not charged: it is refused for the order's sake, and will be sent again.
          const err = new RelayError('out_of_order', `an earlier send to the same recipient on this connection (${waitFor}) was refused; resend it first`);
          if (this.refuseUncharged(err, f.id)) this.held(f.id, seq, f.to, err);
          return;
        }
        try {
          // Charged first: a refused send is never decoded, queued or stored.
          chargeSend(this.ctx.limits, this.addr, f.to.length, this.ctx.now());
        } catch (e) {
          const err = toRelayError(e);
          if (this.refuseUncharged(err, f.id)) this.held(f.id, seq, f.to, err);
          return;
        }
        const req = this.checkSend(f);
        if (!req) return;
        const id = f.id;
        const to = f.to;
        this.ctx.submitter.submitThen({ ...req, stream: this.stream }, (r) => {
          if (r.ok) this.sendText(sentFrame(id, new Date(r.storedAt).toISOString()));
          else this.refuse(r.error, id, seq, to);
        });
        return;
      }
    }
  }

  /**
   * An ephemeral send (docs/RELAY.md "Ephemeral sends"): charged and checked as any send, then
   * pushed to each recipient device connected to this node now, and forgotten. Nothing of it is
   * written to the store, and a device that connects later never gets it. The answer (`relayed`)
   * is the same whether it reached a device or none, so a sender learns nothing of who is connected
   * (presence has its own audience, THREAT_MODEL "Presence"); a recipient who blocks the sender
   * gets nothing, as with stored sends. It holds no recipient for order: it is in no queue.
   */
  private relayEphemeral(f: Extract<ClientFrame, { type: 'send' }>): void {
    try {
      chargeSend(this.ctx.limits, this.addr, f.to.length, this.ctx.now());
    } catch (e) {
      this.refuseUncharged(toRelayError(e), f.id);
      return;
    }
    const req = this.checkSend(f, EPHEMERAL_MAX_BYTES);
    if (!req) return;
    const id = f.id;
    const frame = ephemeralFrame(id, this.addr.user, this.addr.device, f.body, new Date(this.ctx.now()).toISOString());
    const sender = this.addr.user;
    void Promise.all(req.to.map(async (to) => ((await this.ctx.store.blocks.blocks(to.user, sender)) ? undefined : to))).then(
      (targets) => {
        for (const to of targets) if (to) this.ephemeral(to, frame);
        this.sendText(relayedFrame(id));
      },
      (e: unknown) => {
        this.ctx.log.warn({ err: errInfo(e) }, 'ephemeral send dropped: the store did not answer');
        this.sendError(new RelayError('internal', 'the relay cannot read its store right now'), id);
      },
    );
  }

  /**
   * The send as the store takes it, or undefined once its refusal is answered (a malformed one
   * counts as a bad frame). `maxBody`: a bound tighter than maxMessageBytes (ephemeral sends).
   */
  private checkSend(f: Extract<ClientFrame, { type: 'send' }>, maxBody?: number): ReturnType<typeof toSubmitRequest> | undefined {
    try {
      const req = toSubmitRequest(this.addr, f, this.ctx.cfg);
      if (maxBody !== undefined && req.body.length > maxBody) throw new RelayError('payload_too_large', `an ephemeral body is at most ${maxBody} bytes`);
      return req;
    } catch (e) {
      const err = toRelayError(e);
      if (err.code === 'bad_request') this.badFrame(err, f.id);
      else this.sendError(err, f.id);
      return undefined;
    }
  }

  /** Answers a refused send; a retryable refusal holds its recipients (OrderGate). */
  private refuse(e: RelayError, id: string, seq: number, to: readonly { user: string; device: number }[]): void {
    this.sendError(e, id);
    this.held(id, seq, to, e);
  }

  private held(id: string, seq: number, to: readonly { user: string; device: number }[], e: RelayError): void {
    if (!isRetryable(e.code) || this.order.refused(id, seq, to)) return;
    this.close(CLOSE.policy, 'too many refused sends outstanding');
  }

  /**
   * A send refused before it cost anything (the device's rate limit, the order gate): answered
   * with an error frame (the client resends, after `retryAfter` for a rate limit); false when the
   * connection was closed instead. A peer that keeps sending without reading its answers would
   * pile refusals up in the socket buffer, so once that is over the high-water mark the connection
   * is closed: a flood costs the relay a parse and a bucket look-up per frame, and bounded memory.
   */
  private refuseUncharged(e: RelayError, id: string): boolean {
    if (this.overHighWater()) {
      this.ctx.metrics.rejects.inc({ code: e.code });
      this.close(CLOSE.policy, 'rate limit ignored');
      return false;
    }
    this.sendError(e, id);
    return true;
  }

  private badFrame(e: RelayError, id?: string): void {
    this.sendError(e, id);
    this.badFrames++;
    if (this.badFrames >= this.ctx.cfg.wsMaxBadFrames) this.close(CLOSE.policy, 'too many bad frames');
  }
}

export function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
