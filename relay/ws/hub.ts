// All open connections of this relay node, one per device: a newer connection of the same device
// replaces the older one (closed with 4002), because two readers acking the same queue would
// race — also when the two are on different nodes (device_connected on the bus: the newer wins
// on both). Listens on the bus for queued messages, presence changes, revocations and low prekeys.
//
// Presence rule (docs/RELAY.md "Presence"): a user is online from its first connection until
// presenceGraceMs after its last one closed with none back. A reconnect — the same device
// replacing its socket, another device still connected, or the user back within the grace, on
// this node or another — sends no presence frame at all: the audience was never told it left.
//
// Keep-alive pings and auth re-checks visit each socket once per their period, a slice of the
// sockets per tick (rotation.ts), so neither stalls the event loop in proportion to the sockets.
import type { Bus, BusMessage } from '../bus/index.js';
import type { RelayContext } from '../context.js';
import { CLOSE, RelayError } from '../errors.js';
import { errInfo, type Committed } from '../delivery/submitter.js';
import { ClusterPresence } from './cluster.js';
import type { Connection } from './connection.js';
import { Rotation } from './rotation.js';
import { WriteBatch } from './writes.js';

export class Hub {
  /** Coalesces socket writes of one commit or one backlog page (see writes.ts). */
  readonly writes = new WriteBatch();
  private readonly conns = new Map<string, Connection>();
  /** The connections of each connected user: presence is per user. */
  private readonly users = new Map<string, Set<Connection>>();
  /** Per user: the bus has registered our interest (resolved), so its events reach this node. */
  private readonly watching = new Map<string, Promise<void>>();
  private readonly unsubscribe: () => void;
  /** Presence announcements still looking up their audience, per user (announce()). */
  private readonly announcing = new Map<string, Promise<void>>();
  private readonly cluster: ClusterPresence;
  /** Users whose last connection here closed less than presenceGraceMs ago: still online here. */
  private readonly leaving = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  /** Each socket is pinged once per wsPingIntervalMs, on its own slot of the period. */
  readonly pings: Rotation<Connection>;
  /** Each socket's session is read again once per authRecheckMs, on its own slot of the period. */
  readonly rechecks: Rotation<Connection>;

  constructor(
    private readonly ctx: RelayContext,
    private readonly bus: Bus,
  ) {
    this.cluster = new ClusterPresence({
      bus,
      localUsers: () => this.localUsers(),
      isLocal: (u) => this.users.has(u) || this.leaving.has(u),
      changed: (u, online) => this.tellAudience(u, online),
      heartbeatMs: ctx.cfg.clusterHeartbeatMs,
    });
    this.unsubscribe = bus.subscribe((e) => this.onEvent(e));
    ctx.metrics.busUp.set(bus.status() === 'down' ? 0 : 1);
    this.pings = new Rotation(ctx.cfg.wsPingIntervalMs);
    this.pings.start((conns) => {
      for (const c of conns) c.heartbeat();
    });
    // Revocations made through a relay close sockets at once (the sessions_revoked bus event);
    // this catches bans and deletions made by another process on the database, and expiry.
    this.rechecks = new Rotation(ctx.cfg.authRecheckMs);
    this.rechecks.start((conns) => void this.recheck(conns));
  }

  add(c: Connection): void {
    const key = keyOf(c.addr.user, c.addr.device);
    const old = this.conns.get(key);
    this.conns.set(key, c);
    let mine = this.users.get(c.addr.user);
    if (!mine) {
      this.users.set(c.addr.user, (mine = new Set()));
      this.watching.set(c.addr.user, this.bus.watch(c.addr.user));
    }
    mine.add(c);
    this.pings.add(c);
    this.rechecks.add(c);
    if (old) {
      mine.delete(old);
      this.pings.delete(old);
      this.rechecks.delete(old);
      old.close(CLOSE.replaced, 'replaced');
    } else if (mine.size === 1) {
      const grace = this.leaving.get(c.addr.user);
      if (grace) {
        // Back within the grace: nobody was told it left, so nobody is told it is back.
        clearTimeout(grace);
        this.leaving.delete(c.addr.user);
      } else this.announce(c.addr.user, true);
    }
    this.bus.publish({ kind: 'device_connected', user: c.addr.user, device: c.addr.device, node: this.bus.node, conn: c.id, at: c.openedAt });
    this.ctx.metrics.connections.set(this.conns.size);
  }

  /** The last connection of `user` here closed: offline after the grace, unless it comes back. */
  private leave(user: string): void {
    if (this.stopped) return;
    const grace = this.ctx.cfg.presenceGraceMs;
    if (grace === 0) {
      this.announce(user, false);
      return;
    }
    const t = setTimeout(() => {
      this.leaving.delete(user);
      this.announce(user, false);
    }, grace);
    t.unref();
    this.leaving.set(user, t);
  }

  private *localUsers(): Iterable<string> {
    yield* this.users.keys();
    yield* this.leaving.keys();
  }

  /** Resolves once events about `user` reach this node (Connection.start waits for it). */
  ready(user: string): Promise<void> {
    return this.watching.get(user) ?? Promise.resolve();
  }

  remove(c: Connection): void {
    c.onClosed();
    this.pings.delete(c);
    this.rechecks.delete(c);
    const key = keyOf(c.addr.user, c.addr.device);
    if (this.conns.get(key) !== c) return; // already replaced
    this.conns.delete(key);
    const mine = this.users.get(c.addr.user);
    mine?.delete(c);
    if (mine?.size === 0) {
      this.users.delete(c.addr.user);
      this.watching.delete(c.addr.user);
      this.bus.unwatch(c.addr.user);
      this.leave(c.addr.user);
    }
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

  /**
   * An ephemeral frame (docs/RELAY.md "Ephemeral sends") for `to`, if that device is connected to
   * this node; otherwise it is gone. The bus carries no bodies (bus/index.ts), so a device on
   * another node of a cluster does not get it.
   */
  pushEphemeral(to: { user: string; device: number }, frame: string): void {
    this.conns.get(keyOf(to.user, to.device))?.pushEphemeral(frame);
  }

  /** Who `viewer` may see online, on any node: those who have sent it a message, and itself. */
  async onlineUsers(viewer: string): Promise<string[]> {
    const visible = new Set(await this.ctx.store.correspondents.visibleTo(viewer, this.ctx.now()));
    visible.add(viewer);
    return [...visible].filter((u) => this.cluster.online(u)).sort();
  }

  /**
   * Tells the bus that `user`'s first device connected here or its last one here left, with its
   * audience (the accounts that may see it, store/types.ts CorrespondentIndex) looked up once here
   * rather than by every listener. Announcements of one user go out in the order they were made.
   */
  private announce(user: string, online: boolean): void {
    const prev = this.announcing.get(user) ?? Promise.resolve();
    const next = prev
      .then(() => this.ctx.store.correspondents.audienceOf(user, this.ctx.now()))
      .then(
        (audience) => this.bus.publish({ kind: 'presence', user, online, audience, node: this.bus.node }),
        (e: unknown) => this.ctx.log.warn({ err: errInfo(e) }, 'presence not announced: the store did not answer'),
      )
      .finally(() => {
        if (this.announcing.get(user) === next) this.announcing.delete(user);
      });
    this.announcing.set(user, next);
  }

  /** The presence frame to the audience members connected here (only those: THREAT_MODEL "Presence"). */
  private sendPresence(user: string, online: boolean, audience: Iterable<string>): void {
    for (const viewer of audience) for (const c of this.users.get(viewer) ?? []) c.send({ type: 'presence', user, online });
  }

  /** A change learnt without an audience (a node expired, a resync): looked up here. */
  private tellAudience(user: string, online: boolean): void {
    this.ctx.store.correspondents.audienceOf(user, this.ctx.now()).then(
      (audience) => this.sendPresence(user, online, audience),
      (e: unknown) => this.ctx.log.warn({ err: errInfo(e) }, 'presence not told: the store did not answer'),
    );
  }

  all(): Connection[] {
    return [...this.conns.values()];
  }

  private onEvent(e: BusMessage): void {
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
      case 'device_connected': {
        if (e.node === this.bus.node) return;
        const c = this.conns.get(keyOf(e.user, e.device));
        // The newer connection wins, on both nodes alike: by its start time, then by node id.
        if (c && (e.at > c.openedAt || (e.at === c.openedAt && e.node > this.bus.node))) c.close(CLOSE.replaced, 'replaced');
        return;
      }
      case 'presence':
        // Only the users `e.user` has sent a message to hear it (docs/THREAT_MODEL.md "Presence").
        if (this.cluster.presence(e.node, e.user, e.online)) this.sendPresence(e.user, e.online, e.audience);
        return;
      case 'presence_revealed':
        if (this.cluster.online(e.user)) this.sendPresence(e.user, true, [e.to]);
        return;
      case 'bus_up':
        this.ctx.metrics.busUp.set(1);
        // Whatever happened on other nodes while we could not hear them: queues committed for our
        // devices, revocations, connections of our devices elsewhere, who is online.
        this.cluster.onBusUp();
        for (const c of this.conns.values()) {
          c.pump();
          this.bus.publish({ kind: 'device_connected', user: c.addr.user, device: c.addr.device, node: this.bus.node, conn: c.id, at: c.openedAt });
        }
        void this.recheckAuth();
        return;
      case 'bus_down':
        this.ctx.metrics.busUp.set(0);
        this.cluster.onBusDown();
        return;
      default:
        this.cluster.onCluster(e);
    }
  }

  /**
   * Closes every socket (of `user`, or of everyone) whose token was revoked or expired, or whose
   * account was banned or deleted. A store that does not answer closes nothing (it is asked again
   * at the next re-check).
   */
  recheckAuth(user?: string): Promise<void> {
    return this.recheck(user === undefined ? [...this.conns.values()] : [...(this.users.get(user) ?? [])]);
  }

  private async recheck(conns: Connection[]): Promise<void> {
    const now = this.ctx.now();
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
    this.stopped = true;
    this.pings.stop();
    this.rechecks.stop();
    for (const t of this.leaving.values()) clearTimeout(t);
    this.leaving.clear();
    this.cluster.stop();
    this.unsubscribe();
  }
}

function keyOf(user: string, device: number): string {
  return `${user}\0${device}`;
}
