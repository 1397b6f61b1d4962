// One receive pass over a WebSocket: flush our outbox, take the backlog the relay pushes until it
// says `drained`, optionally wait for live messages, then flush the receipts that produced and, now
// that we know every change the relay had for us, the queued group messages (sync before send).
// Also the moment to keep our prekeys healthy (top-up, rotation), since we are connected anyway.
import type { Client } from './context.js';
import { expireHeld } from './group-held.js';
import { flushGroupOutbox, type GroupFlushReport } from './group-outbox.js';
import { expiredWarning, markExpired } from './expired.js';
import { gapGraceMs, takeGaps, type Gap } from './gaps.js';
import { IncomingPager, type Incoming } from './incoming.js';
import { refreshListsOf } from './device-lists.js';
import { deliverOutbox, type FlushReport } from './outbox.js';
import { rotateIfDue, topUpIfLow } from './prekeys.js';
import { RelayUnreachable, type RelayTarget } from './relay-http.js';
import { describeClose, RelaySocket, type RelayFrame } from './relay-ws.js';
import { openSignatureVerifier } from '#signature-verifier';

/** After a live message, keep listening this long for the rest of a burst before returning. */
const QUIET_MS = 400;
const DRAIN_TIMEOUT_MS = 30_000;

export interface SyncOptions {
  waitSeconds?: number;
  /**
   * Ends the wait for live messages early: the pass still stores, acks and flushes what it has and
   * returns. A page that listens in long passes aborts it when a send needs the connection (a
   * second socket of the device would replace the first one at the relay).
   */
  stopWaiting?: AbortSignal;
  onIncoming(r: Incoming): void;
  onWarning(message: string): void;
}

export interface SyncReport {
  received: number;
  /** The relay said `drained`: everything queued at connect was received. */
  drained: boolean;
  /** When not drained: how many of the messages queued at connect were not received (if known). */
  left: number | undefined;
  /** Messages that later ones showed missing and that stayed missing past the grace (gaps.ts). */
  gaps: Gap[];
  outbox: FlushReport & { held: string[] };
  /** The group messages flushed after the pass. */
  groups: GroupFlushReport;
  /** Held group items that expired at the start of the pass, per group id (hex). */
  expired: Map<string, number>;
}

/** Keeps prekeys topped up and the signed prekey fresh; failures are only warnings. */
export async function maintainKeys(c: Client, t: RelayTarget, relayCount: number | undefined, warn: (m: string) => void): Promise<void> {
  try {
    await topUpIfLow(c, t, relayCount);
    await rotateIfDue(c, t);
  } catch (e) {
    warn(`could not refresh prekeys on the relay: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function syncInbox(c: Client, t: RelayTarget, opts: SyncOptions): Promise<SyncReport> {
  const graceMs = gapGraceMs();
  let received = 0;
  let frames = 0;
  let drained = false;
  let wake: (() => void) | undefined;
  let failure: unknown;
  const pokeWaiter = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  // Message frames are stored a burst at a time, one transaction each, and acked after it commits;
  // group message signatures are checked ahead on another thread where there is one (incoming.ts).
  const signatures = openSignatureVerifier();
  const pager = new IncomingPager(c, {
    result: (r) => {
      frames++;
      // A group payload may release messages held until its key or change arrived.
      for (const x of r.kind === 'control' ? r.released : [r]) {
        if (x.kind === 'duplicate') {
          if (x.replayed) opts.onWarning(`ignored a replayed message from @${x.from} (already received once)`);
          continue;
        }
        if (x.kind !== 'receipt') received++;
        opts.onIncoming(x);
      }
      pokeWaiter();
    },
    fail: (e) => {
      failure ??= e;
      pokeWaiter();
    },
    refreshLists: (user) => refreshListsOf(c, t, user),
    signatures,
  });
  const onFrame = (f: RelayFrame, socket: RelaySocket): void => {
    try {
      if (f.type === 'message') {
        pager.push(f, (id) => socket.ack(id));
        return;
      }
      // `drained` is noted once the messages before it are stored (their signatures checked
      // ahead: a flush here would verify the last pages' in line).
      if (f.type === 'drained') {
        void pager.settled().then(() => {
          drained = true;
          pokeWaiter();
        });
        return;
      }
      // Every other frame comes after the messages before it: those are stored first.
      pager.flush();
      if (f.type === 'expired') {
        const w = expiredWarning(markExpired(c, f.messages));
        socket.ack(f.id);
        if (w) opts.onWarning(w);
      } else if (f.type === 'prekeys_low') {
        void maintainKeys(c, t, f.oneTimePreKeys, opts.onWarning);
      } else if (f.type === 'error') {
        opts.onWarning(`relay error: ${f.code}${f.message ? ` (${f.message})` : ''}`);
      }
    } catch (e) {
      failure = e;
      pokeWaiter();
    }
  };
  const { socket, hello } = await RelaySocket.connect(t, onFrame);
  const stopped = (): boolean => opts.stopWaiting?.aborted === true;
  opts.stopWaiting?.addEventListener('abort', pokeWaiter);
  const expired = expireHeld(c, c.now());
  let closed = false;
  let closeReason = '';
  socket.on('close', (code) => {
    closed = true;
    closeReason = describeClose(code);
    pokeWaiter();
  });
  const waitFor = (ms: number): Promise<void> =>
    new Promise((r) => {
      const timer = setTimeout(() => {
        wake = undefined;
        r();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        r();
      };
    });

  try {
    await maintainKeys(c, t, hello.oneTimePreKeys, opts.onWarning);
    const first = await deliverOutbox(c, t, socket);
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (!drained && !closed && failure === undefined && Date.now() < deadline) await waitFor(deadline - Date.now());
    if (failure !== undefined) throw failure;
    const waitMs = (opts.waitSeconds ?? 0) * 1000;
    // Not drained: the report says so (`drained`, `left`). Drained but closed before or while
    // waiting: the wait that was asked for did not happen, which is an error, not "no messages".
    if (waitMs > 0 && received === 0 && drained && !stopped()) {
      const until = Date.now() + waitMs;
      while (received === 0 && !closed && !stopped() && failure === undefined && Date.now() < until) await waitFor(until - Date.now());
      if (received === 0 && closed) throw new RelayUnreachable(t.url, new Error(`${closeReason}, while waiting for messages`));
      // A burst rarely arrives as one frame: collect until the line goes quiet.
      let before = received > 0 ? -1 : received;
      while (received !== before && !closed && !stopped() && failure === undefined) {
        before = received;
        await waitFor(QUIET_MS);
      }
      if (failure !== undefined) throw failure;
    }
    // Frames of the last turn are stored (and acked) before the pass reports, those held for a
    // device-list check or their signatures' checks included.
    await pager.settled();
    if (failure !== undefined) throw failure;
    const second = await deliverOutbox(c, t, socket);
    // Group messages only after a complete pass: what it taught us (a removal) comes first.
    const groups = drained && !second.unreachable ? await flushGroupOutbox(c, t, { afterSync: true }) : { sent: 0, failed: [], unreachable: second.unreachable, stale: [], pastFence: 0, behind: [] };
    return {
      received,
      drained,
      left: drained || hello.queued === undefined ? undefined : Math.max(0, hello.queued - frames),
      gaps: takeGaps(c, c.now(), graceMs),
      outbox: { ...second, sent: first.sent + second.sent, failed: [...first.failed, ...second.failed], held: second.held },
      groups,
      expired,
    };
  } finally {
    opts.stopWaiting?.removeEventListener('abort', pokeWaiter);
    signatures?.close();
    socket.close();
  }
}
