// Group commit. Every submission and ack that arrives in one event-loop turn is written in ONE
// transaction at the end of the turn (setImmediate); only after that commit do senders get
// their `sent` acks and recipients get pushed. One batch is committed at a time: what arrives
// while a commit is in flight (a PostgreSQL round trip) waits for it and goes into the next
// batch, so batches grow with the database's latency instead of piling up transactions, and the
// sends of one connection are committed in the order they arrived. On SQLite the commit is done
// when commitBatch returns, so the next batch is simply the next turn's. One fsync per batch instead of per message is what
// makes synchronous=FULL affordable (measured on this machine: ~11k msg/s with one transaction per
// message, ~31–43k msg/s batched); one transaction for acks and sends together halves the commits
// of a turn that has both (the common case: a conversation both sends and acks).
//
// A turn that brought only acks is not committed at its end but up to `ackCommitDelayMs` later,
// or with the next turn that brings a send, whichever comes first: an ack-only commit is a whole
// commit (and fsync) for a few deletes. Only acks wait. An ack not yet committed is the client
// saying it has a message; lost in a crash, it only makes the relay push that message again (clients
// deduplicate by sender and client id). A send is committed at the end of its turn as before and
// answered `sent` only after that commit. Whatever reads a device's queue for a new connection
// first commits that device's acks waiting (`commitAcks`), so a reconnect to the same process is
// not pushed what it just acked.
//
// After the commit, the messages just stored are handed to the local pusher (the WebSocket hub)
// with their bodies still in memory, so a connected, caught-up recipient gets them without the
// store being read back; then the bus hears "device X has messages up to delivery id N", which is
// all a remote node (or a connection that was behind) needs to read them from the store.
import { performance } from 'node:perf_hooks';
import type { Bus } from '../bus/index.js';
import type { RelayConfig } from '../config.js';
import { RelayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { isStorageError, type Headroom } from '../storage.js';
import type { AckRequest, Address, Store, SubmitRequest, SubmitResult } from '../store/index.js';
import { encodeBase64url } from '../wire/base64url.js';

interface Waiting {
  req: SubmitRequest;
  done: (r: SubmitResult) => void;
}

/** One delivery committed in the last batch, in delivery-id order. */
export interface Committed {
  to: Address;
  deliveryId: number;
  clientId: string;
  from: Address;
  /** base64url of the body, as it arrived. */
  body: string;
  storedAt: number;
}

/** This process's sockets (the WebSocket hub), told about each commit. */
export interface LocalPusher {
  /** Pushes messages just committed to connected, caught-up recipients. */
  deliver(committed: Committed[]): void;
  /** Runs the answers and pushes of one commit with their socket writes coalesced. */
  batch(fn: () => void): void;
}

export class Submitter {
  private submits: Waiting[] = [];
  private acks: AckRequest[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  /** The commit of ack-only work, `ackCommitDelayMs` after the first of those acks. */
  private ackTimer: NodeJS.Timeout | null = null;
  /** The acks pending are to be committed with the next batch even without a send (flush()). */
  private acksDue = false;
  /** The commit loop while it runs (one batch in flight at a time). */
  private committing: Promise<void> | null = null;
  private pusher: LocalPusher | null = null;

  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly cfg: RelayConfig,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
    private readonly headroom: Pick<Headroom, 'messagesFull' | 'releaseReserve'> | null = null,
  ) {}

  /** Who pushes committed messages to this process's sockets (the hub), called right after each commit. */
  setLocalPusher(fn: LocalPusher | null): void {
    this.pusher = fn;
  }

  /** Resolves once the message is committed (or refused); never rejects. */
  submit(req: SubmitRequest): Promise<SubmitResult> {
    return new Promise((resolve) => this.submitThen(req, resolve));
  }

  /**
   * Calls `done` right after the commit (or refusal), synchronously inside the post-commit batch,
   * so a WebSocket `sent` ack shares its socket write with the others of the same commit.
   */
  submitThen(req: SubmitRequest, done: (r: SubmitResult) => void): void {
    this.submits.push({ req, done });
    this.schedule();
  }

  ack(to: Address, deliveryId: number): void {
    this.acks.push({ to, deliveryId });
    if (this.cfg.ackCommitDelayMs === 0) this.schedule();
    else this.scheduleAcks();
  }

  /**
   * Commits the acks waiting for their delay now (and anything else pending): called with the
   * device before its queue is read for a new connection, so a device that acked and reconnected
   * at once is not pushed again what it acked. Other devices' acks keep waiting: in a mass
   * reconnect every connect used to force a commit of its own for acks that were not its
   * (docs/PERFORMANCE.md, "A connect commits only its own acks"). A commit in flight is waited
   * for either way, as it may hold this device's acks.
   */
  async commitAcks(of?: Address): Promise<void> {
    const mine = of === undefined ? this.acks.length > 0 : this.acks.some((a) => a.to.device === of.device && a.to.user === of.user);
    if (mine) await this.flush();
    else if (this.committing) await this.committing;
  }

  private schedule(): void {
    // While a commit is in flight, the loop in run() picks the new work up after it.
    if (this.committing) return;
    this.scheduled ??= setImmediate(() => void this.run());
  }

  /** Ack-only work: committed after the delay, unless a send's commit (schedule) takes it first. */
  private scheduleAcks(): void {
    // A commit in flight or a send's commit about to run takes the acks, or starts the timer after.
    if (this.committing || this.scheduled) return;
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = null;
      void this.flush();
    }, this.cfg.ackCommitDelayMs);
  }

  /**
   * Commits everything pending now, acks included, and what arrives meanwhile (also awaited on
   * shutdown so no accepted write is lost).
   */
  flush(): Promise<void> {
    this.acksDue = true;
    return this.run();
  }

  /** Sends are always due; acks when their delay is over, flush() asked, or there is no delay. */
  private due(): boolean {
    return this.submits.length > 0 || (this.acks.length > 0 && (this.acksDue || this.cfg.ackCommitDelayMs === 0));
  }

  /** Commits batches while work is due, one in flight at a time. */
  private run(): Promise<void> {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    if (this.committing) return this.committing.then(() => (this.due() ? this.run() : undefined));
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.committing = (async () => {
      try {
        while (this.due()) await this.commitOnce();
      } finally {
        this.committing = null;
        // Acks that arrived during the commit and were not due wait for their delay.
        if (this.acks.length > 0) this.scheduleAcks();
      }
    })();
    return this.committing;
  }

  private async commitOnce(): Promise<void> {
    const acks = this.acks;
    this.acks = [];
    this.acksDue = false;
    const batch = this.submits;
    this.submits = [];
    const reqs = batch.map((w) => w.req);
    const limits = {
      maxMessages: this.cfg.queueMaxMessages,
      maxBytes: this.cfg.queueMaxBytes,
      ttlMs: this.cfg.messageTtlMs,
      storageFull: batch.length > 0 && this.headroom !== null && this.headroom.messagesFull(),
    };
    let results: SubmitResult[];
    const started = performance.now();
    try {
      const r = await this.store.commitBatch(acks, reqs, this.now(), limits);
      this.metrics.commitSeconds.observe((performance.now() - started) / 1000);
      this.metrics.delivered.inc(r.acked);
      results = r.results;
    } catch (e) {
      // Out of disk after all (something else filled it): free the reserve so the acks can commit.
      if (isStorageError(e)) this.headroom?.releaseReserve();
      // The shared transaction failed: retry the two halves apart, so a failing ack cannot cost a
      // sender its message (and the other way round).
      this.log.error({ err: errInfo(e), acks: acks.length, n: batch.length }, 'commit batch failed, retrying acks and sends apart');
      results = await this.commitApart(acks, reqs, limits);
    }
    if (batch.length === 0) return;
    this.metrics.batchSize.observe(batch.length);
    if (this.pusher) this.pusher.batch(() => this.afterCommit(batch, results));
    else this.afterCommit(batch, results);
  }

  /** Answers the senders, pushes to local recipients, then tells the bus. */
  private afterCommit(batch: Waiting[], results: SubmitResult[]): void {
    const committed: Committed[] = [];
    const upTo = new Map<string, { a: Address; id: number }>();
    results.forEach((r, i) => {
      const w = batch[i]!;
      if (r.ok && !r.duplicate) {
        this.metrics.stored.inc();
        const { req } = w;
        const body = req.bodyText ?? encodeBase64url(req.body);
        r.recipients.forEach((to, j) => {
          const deliveryId = r.deliveryIds[j]!;
          committed.push({ to, deliveryId, clientId: req.clientId, from: req.sender, body, storedAt: r.storedAt });
          upTo.set(`${to.user}\0${to.device}`, { a: to, id: deliveryId });
        });
      }
      try {
        w.done(r);
      } catch (e) {
        this.log.error({ err: errInfo(e) }, 'submit callback failed');
      }
    });
    if (committed.length === 0) return;
    if (this.pusher) {
      try {
        this.pusher.deliver(committed);
      } catch (e) {
        // Nothing is lost: the messages are committed and the bus event below makes the
        // connections read them from the store.
        this.log.error({ err: errInfo(e) }, 'local push failed');
      }
    }
    for (const { a, id } of upTo.values()) this.bus.publish({ kind: 'queued', user: a.user, device: a.device, upTo: id });
    results.forEach((r, i) => {
      if (r.ok && r.revealedTo) for (const to of r.revealedTo) this.bus.publish({ kind: 'presence_revealed', user: batch[i]!.req.sender.user, to });
    });
  }

  private async commitApart(acks: AckRequest[], reqs: SubmitRequest[], limits: { maxMessages: number; maxBytes: number; ttlMs: number; storageFull: boolean }): Promise<SubmitResult[]> {
    if (acks.length > 0) {
      try {
        this.metrics.delivered.inc(await this.store.ackBatch(acks));
      } catch (e) {
        // Not fatal: unacked deliveries are simply pushed again on the next connection.
        this.log.error({ err: errInfo(e), n: acks.length }, 'ack batch failed');
      }
    }
    if (reqs.length === 0) return [];
    try {
      return await this.store.submitBatch(reqs, this.now(), limits);
    } catch (e) {
      this.log.error({ err: errInfo(e), n: reqs.length }, 'submit batch failed');
      const err = isStorageError(e) ? new RelayError('storage_full', "the relay's disk is full: no new messages are stored until its operator frees space") : new RelayError('internal', 'message could not be stored');
      return reqs.map(() => ({ ok: false, error: err }));
    }
  }
}

/** Error details safe to log: class, code and message only (never a request or a body). */
export function errInfo(e: unknown): { type: string; code?: string; message: string } {
  if (e instanceof Error) return { type: e.name, ...('code' in e && typeof e.code === 'string' ? { code: e.code } : {}), message: e.message };
  return { type: typeof e, message: String(e) };
}
