// All open connections of this relay, one per device: a newer connection of the same device
// replaces the older one (closed with 4002), because two readers acking the same queue would
// race. Listens on the bus for queued messages, presence changes and low prekeys.
import type { Bus, BusEvent } from '../bus.js';
import type { RelayContext } from '../context.js';
import { CLOSE, RelayError } from '../errors.js';
import type { Committed } from '../delivery/submitter.js';
import type { Connection } from './connection.js';
import { WriteBatch } from './writes.js';

export class Hub {
  /** Coalesces socket writes of one commit or one backlog page (see writes.ts). */
  readonly writes = new WriteBatch();
  private readonly conns = new Map<string, Connection>();
  /** Connected device count per user: presence is per user. */
  private readonly users = new Map<string, number>();
  private readonly unsubscribe: () => void;

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
      if (n === 1) this.ctx.bus.publish({ kind: 'presence', user: c.addr.user, online: true });
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
      this.ctx.bus.publish({ kind: 'presence', user: c.addr.user, online: false });
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
  onlineUsers(viewer: string): string[] {
    const visible = new Set(this.ctx.store.correspondents.visibleTo(viewer, this.ctx.now()));
    visible.add(viewer);
    return [...visible].filter((u) => this.users.has(u)).sort();
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
        this.recheckAuth(e.user);
        return;
      case 'presence': {
        // Only the users `e.user` has sent a message to hear it (docs/THREAT_MODEL.md "Presence").
        const audience = new Set(this.ctx.store.correspondents.audienceOf(e.user, this.ctx.now()));
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
   * account was banned or deleted.
   */
  recheckAuth(user?: string): void {
    const now = this.ctx.now();
    for (const c of this.conns.values()) {
      if (user !== undefined && c.addr.user !== user) continue;
      const s = this.ctx.store.getSession(c.tokenHash, now);
      if (!s) {
        c.sendError(new RelayError('unauthorized', 'session ended'));
        c.close(CLOSE.unauthorized, 'unauthorized');
      } else if (s.banned) {
        c.sendError(new RelayError('banned', 'account is banned'));
        c.close(CLOSE.policy, 'banned');
      }
    }
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
