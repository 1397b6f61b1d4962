// Fan-out between the parts of the relay that learn of an event (a message stored, a device
// connected, a token revoked) and the WebSocket connections that must hear of it, on this node and
// on every other. One node: LocalBus, in-process. Several nodes: NatsBus (nats.ts), which also
// carries each event to the nodes that hold a connection of its user.
//
// Events carry only names, device numbers, counts and node ids, never bodies or tokens (bodies
// are read from the store by whoever pushes). They are hints: losing one delays, never loses, a
// message (the connection reads its queue again on reconnect, at the bus's return, and on the
// next commit for it), so the bus needs no persistence of its own.
import { randomBytes } from 'node:crypto';
import type { BusEvent, ClusterEvent } from './events.js';

export type { BusEvent, ClusterEvent } from './events.js';

/** The bus's own news to this node's listeners: the connection to the other nodes came or went. */
export type BusSignal = { kind: 'bus_up' } | { kind: 'bus_down' };

/** What a listener hears: relay events, the nodes' talk about themselves, and the bus's state. */
export type BusMessage = BusEvent | ClusterEvent | BusSignal;

/** 'local': in-process (always up); 'up'/'down': the connection to NATS. */
export type BusStatus = 'local' | 'up' | 'down';

export interface Bus {
  /** This node's id in cluster events. */
  readonly node: string;
  /** Delivers to this node's listeners at once, and to the other nodes that need it. */
  publish(e: BusEvent | ClusterEvent): void;
  subscribe(fn: (e: BusMessage) => void): () => void;
  /**
   * Events about `user` reach this node from now on; resolves once the bus has registered the
   * interest (so a commit for the user after that is heard). Counted: unwatch as often.
   */
  watch(user: string): Promise<void>;
  unwatch(user: string): void;
  status(): BusStatus;
  close(): Promise<void>;
}

/** A random node id: 8 bytes, base64url (plus a name an operator chose, for logs). */
export function newNodeId(name?: string | null): string {
  const id = randomBytes(8).toString('base64url');
  return name ? `${name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}-${id}` : id;
}

export class LocalBus implements Bus {
  readonly node = newNodeId();
  private readonly subs = new Set<(e: BusMessage) => void>();

  publish(e: BusEvent | ClusterEvent): void {
    for (const fn of this.subs) fn(e);
  }

  subscribe(fn: (e: BusMessage) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  async watch(): Promise<void> {}

  unwatch(): void {}

  status(): BusStatus {
    return 'local';
  }

  async close(): Promise<void> {
    this.subs.clear();
  }
}
