// Who is online on the other relay nodes (presence across nodes). Each node tells the others on
// the bus when a user's first device connects to it and its last one leaves (`presence`), says
// every HEARTBEAT_MS that it is alive (`node_alive`), and answers a `node_sync` with its list of
// online users. A node not heard from for EXPIRY_HEARTBEATS heartbeats has crashed or lost its
// bus: its users count as offline here, and their audiences are told. While this node's own bus
// is down it hears nobody, so it expires nobody; when the bus is back it asks everyone again.
//
// On one node (LocalBus) nothing of this runs: no other node ever speaks.
import type { Bus, ClusterEvent } from '../bus/index.js';

/** A node missing this many heartbeats in a row is gone. */
const EXPIRY_HEARTBEATS = 3;
/** Users per node_users event (a list is cut into chunks). */
const SYNC_CHUNK = 5000;

export interface ClusterPresenceDeps {
  bus: Bus;
  /** The users with a connection to this node. */
  localUsers(): Iterable<string>;
  isLocal(user: string): boolean;
  /** A user came online or went offline across the cluster: tell its audience on this node. */
  changed(user: string, online: boolean): void;
  heartbeatMs: number;
  /** A monotonic clock in ms (performance.now in the relay; a clock jump must not expire nodes). */
  clock?: () => number;
}

export class ClusterPresence {
  /** Other nodes: the users they announced online, and when they were last heard. */
  private readonly nodes = new Map<string, { users: Set<string>; seen: number }>();
  private readonly timer: NodeJS.Timeout;
  private readonly clock: () => number;
  private busUp: boolean;

  constructor(private readonly d: ClusterPresenceDeps) {
    this.clock = d.clock ?? (() => performance.now());
    this.busUp = d.bus.status() !== 'down';
    this.timer = setInterval(() => this.tick(), d.heartbeatMs);
    this.timer.unref();
    if (d.bus.status() === 'up') this.resync();
  }

  /** Whether `user` has a connection to another node (this node's own are the hub's). */
  elsewhere(user: string): boolean {
    for (const n of this.nodes.values()) if (n.users.has(user)) return true;
    return false;
  }

  online(user: string): boolean {
    return this.d.isLocal(user) || this.elsewhere(user);
  }

  /**
   * A presence event. For this node's own, the hub already counts the user; the change is seen
   * across the cluster unless another node holds the user anyway. Returns whether it changed.
   */
  presence(node: string | undefined, user: string, online: boolean): boolean {
    if (node === undefined || node === this.d.bus.node) return !this.elsewhere(user);
    const before = this.online(user);
    const n = this.heard(node);
    if (online) n.users.add(user);
    else n.users.delete(user);
    return this.online(user) !== before;
  }

  onCluster(e: ClusterEvent): void {
    if (e.node === this.d.bus.node) return;
    switch (e.kind) {
      case 'node_alive': {
        const known = this.nodes.has(e.node);
        const n = this.heard(e.node);
        // A node we did not know (it started, or we missed its list), or whose count we got
        // wrong: ask for its list.
        if (!known || n.users.size !== e.users) this.d.bus.publish({ kind: 'node_sync', node: this.d.bus.node });
        return;
      }
      case 'node_sync':
        this.sendUsers();
        return;
      case 'node_users': {
        const n = this.nodes.get(e.node);
        const old = n?.users ?? new Set<string>();
        const next = e.first ? new Set<string>() : new Set(old);
        for (const u of e.users) next.add(u);
        this.replace(e.node, old, next);
        return;
      }
      case 'node_gone':
        this.forget(e.node);
        return;
    }
  }

  /** The bus came back: everyone may have changed meanwhile. */
  onBusUp(): void {
    this.busUp = true;
    const now = this.clock();
    for (const n of this.nodes.values()) n.seen = now;
    this.resync();
  }

  onBusDown(): void {
    this.busUp = false;
  }

  /** On shutdown: the others forget this node's users at once rather than after the expiry. */
  stop(): void {
    clearInterval(this.timer);
    if (this.busUp && this.d.bus.status() === 'up') this.d.bus.publish({ kind: 'node_gone', node: this.d.bus.node });
  }

  private resync(): void {
    this.d.bus.publish({ kind: 'node_sync', node: this.d.bus.node });
    this.sendUsers();
  }

  private sendUsers(): void {
    const users = [...this.d.localUsers()];
    for (let i = 0; i === 0 || i < users.length; i += SYNC_CHUNK) {
      this.d.bus.publish({ kind: 'node_users', node: this.d.bus.node, users: users.slice(i, i + SYNC_CHUNK), first: i === 0 });
    }
  }

  private heard(node: string): { users: Set<string>; seen: number } {
    let n = this.nodes.get(node);
    if (!n) this.nodes.set(node, (n = { users: new Set(), seen: 0 }));
    n.seen = this.clock();
    return n;
  }

  /** Sets `node`'s users to `next`, telling audiences about every user whose state changed. */
  private replace(node: string, old: Set<string>, next: Set<string>): void {
    const touched = new Set([...old, ...next]);
    const before = new Map([...touched].map((u) => [u, this.online(u)]));
    this.heard(node).users = next;
    for (const u of touched) if (this.online(u) !== before.get(u)) this.d.changed(u, !before.get(u));
  }

  private forget(node: string): void {
    const n = this.nodes.get(node);
    if (!n) return;
    this.replace(node, n.users, new Set());
    this.nodes.delete(node);
  }

  private tick(): void {
    if (this.d.bus.status() !== 'up') return;
    this.d.bus.publish({ kind: 'node_alive', node: this.d.bus.node, users: countOf(this.d.localUsers()) });
    if (!this.busUp) return;
    const cutoff = this.clock() - EXPIRY_HEARTBEATS * this.d.heartbeatMs;
    for (const [node, n] of this.nodes) if (n.seen < cutoff) this.forget(node);
  }
}

function countOf(it: Iterable<string>): number {
  let n = 0;
  for (const _ of it) n++;
  return n;
}
