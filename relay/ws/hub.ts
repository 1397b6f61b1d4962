// All open connections of this relay, one per device: a newer connection of the same device
// replaces the older one (closed with 4002), because two readers acking the same queue would
// race. Listens on the bus for queued messages, presence changes and low prekeys.
import type { Bus, BusEvent } from '../bus.js';
import type { RelayContext } from '../context.js';
import { CLOSE, RelayError } from '../errors.js';
import { errInfo, type Committed } from '../delivery/submitter.js';
import type { Connection } from './connection.js';
import { WriteBatch } from './writes.js';

export class Hub {
  /** Coalesces socket writes of one commit or one backlog page (see writes.ts). */
  readonly writes = new WriteBatch();
  private readonly conns = new Map<string, Connection>();
  /** Connected device count per user: presence is per user. */
  private readonly users = new Map<string, number>();
  private readonly unsubscribe: () => void;
  /** Presence announcements still looking up their audience, per user (announce()). */
  private readonly announcing = new Map<string, Promise<void>>();

  constructor(private readonly ctx: RelayContext, bus: Bus) {
    this.unsubscribe = bus.subscribe((e) => this.onEvent(e));
  }

  add(c: Connection): void {
    const key = keyOf(c.addr.user, c.addr.device);
    const old = this.conns.get(key);
    this.conns.set(key, c);
    if (old) {
      old.close(CLOSE.replaced, 'replaced');
    } else {
      const n = (this.users.get(c.addr.user) ?? 0) + 1;
      this.users.set(c.addr.user, n);
      if (n === 1) this.announce(c.addr.user, true);
    }
    this.ctx.metrics.connections.set(this.conns.size);
  }

  remove(c: Connection): void {
    c.onClosed();
    const key = keyOf(c.addr.user, c.addr.device);
    if (this.conns.get(key) !== c) return; // already replaced
    this.conns.delete(key);
    const n = (this.users.get(c.addr.user) ?? 1) - 1;
    if (n <= 0) {
      this.users.delete(c.addr.user);
      this.announce(c.addr.user, false);
    } else this.users.set(c.addr.user, n);
    this.ctx.metrics.connections.set(this.conns.size);
  }

  /**
   * Messages just committed by this process (in delivery-id order): each is offered to its
   * recipient's connection, which pushes it at once when it is caught up with its queue, or else
   * leaves it to its next read of the store.
   */
  deliver(committed: Committed[]): void {
    let pushed = 0;
    let storedAt = Number.NaN;
    let sentAt = '';
    for (const m of committed) {
      const c = this.conns.get(keyOf(m.to.user, m.to.device));
      if (!c) continue;
      if (m.storedAt !== storedAt) {
        storedAt = m.storedAt;
        sentAt = new Date(storedAt).toISOString();
      }
      if (c.offer(m, sentAt)) pushed++;
    }
    if (pushed > 0) this.ctx.metrics.pushed.inc(pushed);
  }

  /** Who `viewer` may see online: those who have sent it a message, and itself. */
  async onlineUsers(viewer: string): Promise<string[]> {
    const visible = new Set(await this.ctx.store.correspondents.visibleTo(viewer, this.ctx.now()));
    visible.add(viewer);
    return [...visible].filter((u) => this.users.has(u)).sort();
  }

  /**
   * Tells the bus that `user` came online or went offline, with its audience (the accounts that
   * may see it, store/types.ts CorrespondentIndex) looked up once here rather than by every
   * listener. Announcements of one user go out in the order they were made.
   */
  private announce(user: string, online: boolean): void {
    const prev = this.announcing.get(user) ?? Promise.resolve();
    const next = prev
      .then(() => this.ctx.store.correspondents.audienceOf(user, this.ctx.now()))
      .then(
        (audience) => this.ctx.bus.publish({ kind: 'presence', user, online, audience }),
        (e: unknown) => this.ctx.log.warn({ err: errInfo(e) }, 'presence not announced: the store did not answer'),
      )
      .finally(() => {
        if (this.announcing.get(user) === next) this.announcing.delete(user);
      });
    this.announcing.set(user, next);
  }

  all(): Connection[] {
    return [...this.conns.values()];
  }

  private onEvent(e: BusEvent): void {
    switch (e.kind) {
      case 'queued':
        this.conns.get(keyOf(e.user, e.device))?.queued(e.upTo);
        return;
      case 'prekeys_low':
        this.conns.get(keyOf(e.user, e.device))?.send({ type: 'prekeys_low', oneTimePreKeys: e.count });
        return;
      case 'sessions_revoked':
        void this.recheckAuth(e.user);
        return;
      case 'presence': {
        // Only the users `e.user` has sent a message to hear it (docs/THREAT_MODEL.md "Presence").
        const audience = new Set(e.audience);
        if (audience.size === 0) return;
        for (const c of this.conns.values()) if (audience.has(c.addr.user)) c.send({ type: 'presence', user: e.user, online: e.online });
        return;
      }
      case 'presence_revealed':
        if (!this.users.has(e.user)) return;
        for (const c of this.conns.values()) if (c.addr.user === e.to) c.send({ type: 'presence', user: e.user, online: true });
        return;
    }
  }

  /**
   * Closes every socket (of `user`, or of everyone) whose token was revoked or expired, or whose
   * account was banned or deleted. A store that does not answer closes nothing (it is asked again
   * at the next re-check).
   */
  async recheckAuth(user?: string): Promise<void> {
    const now = this.ctx.now();
    const conns = [...this.conns.values()].filter((c) => user === undefined || c.addr.user === user);
    await Promise.all(
      conns.map(async (c) => {
        let s;
        try {
          s = await this.ctx.store.getSession(c.tokenHash, now);
        } catch (e) {
          this.ctx.log.warn({ err: errInfo(e) }, 'session re-check failed: the store did not answer');
          return;
        }
        if (!s) {
          c.sendError(new RelayError('unauthorized', 'session ended'));
          c.close(CLOSE.unauthorized, 'unauthorized');
        } else if (s.banned) {
          c.sendError(new RelayError('banned', 'account is banned'));
          c.close(CLOSE.policy, 'banned');
        }
      }),
    );
  }

  closeAll(code: number, reason: string): void {
    for (const c of this.conns.values()) c.close(code, reason);
  }

  stop(): void {
    this.unsubscribe();
  }
}

function keyOf(user: string, device: number): string {
  return `${user}\0${device}`;
}
