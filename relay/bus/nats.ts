// The bus between relay nodes, on NATS core publish/subscribe (no JetStream: events are hints,
// bus/index.ts). Subjects, under a prefix (default `fastchat`):
//   <prefix>.u.<user>   events about one account (queued, prekeys_low, sessions_revoked,
//                       device_connected, presence_revealed to `to`): only the nodes that hold a
//                       connection of that account subscribe (watch/unwatch), so a node hears of
//                       the messages of its own users, not of everyone's;
//   <prefix>.cluster    presence changes and the nodes' heartbeats (relay/ws/cluster.ts), heard
//                       by every node.
// Every event is also delivered to this node's listeners at once, in publish() (noEcho keeps
// NATS from sending it back). While NATS is unreachable the node goes on alone: it starts
// without it, publishes only locally, and reconnects forever in the background; its listeners
// hear `bus_down` and `bus_up` (then they read queues again and resynchronise presence).
import { connect, Events, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from '../log.js';
import { busEvent, clusterEvent, type BusEvent, type ClusterEvent } from './events.js';
import { newNodeId, type Bus, type BusMessage, type BusStatus } from './index.js';

/** How long watch() waits for NATS to confirm a subscription before going on anyway. */
const WATCH_CONFIRM_MS = 2000;
/** Largest event accepted from NATS (a node_users chunk of 10,000 names is ~340 KiB). */
const MAX_EVENT_BYTES = 1024 * 1024;

/** One event, from a process that is not a node (the admin command): connect, publish, flush, close. */
export async function publishOnce(servers: string[], e: BusEvent, prefix = 'fastchat'): Promise<void> {
  const nc = await connect({ servers, name: 'fastchat-relay admin', timeout: 5000 });
  try {
    const subject = e.kind === 'presence_revealed' ? `${prefix}.u.${e.to}` : 'user' in e && e.kind !== 'presence' ? `${prefix}.u.${e.user}` : `${prefix}.cluster`;
    nc.publish(subject, new TextEncoder().encode(JSON.stringify(e)));
    await nc.flush();
  } finally {
    await nc.close();
  }
}

export interface NatsBusOptions {
  /** nats://HOST:PORT, one or more. */
  servers: string[];
  nodeName?: string | null;
  prefix?: string;
  log: Logger;
}

export class NatsBus implements Bus {
  readonly node: string;
  private nc: NatsConnection | null = null;
  private up = false;
  private closed = false;
  private readonly prefix: string;
  private readonly subs = new Set<(e: BusMessage) => void>();
  private readonly watched = new Map<string, { n: number; sub: Subscription | null }>();
  private clusterSub: Subscription | null = null;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();

  constructor(private readonly opts: NatsBusOptions) {
    this.node = newNodeId(opts.nodeName);
    this.prefix = opts.prefix ?? 'fastchat';
    void this.connect();
  }

  private async connect(): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: this.opts.servers,
        name: `fastchat-relay ${this.node}`,
        noEcho: true,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        // A server that stopped answering is noticed within a few seconds, not two minutes.
        pingInterval: 2000,
        maxPingOut: 2,
      });
    } catch (e) {
      if (this.closed) return;
      this.opts.log.warn({ event: 'bus_connect_failed', err: { message: (e as Error).message } }, 'cannot connect to NATS, retrying');
      setTimeout(() => void this.connect(), 1000).unref();
      return;
    }
    if (this.closed) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.clusterSub = nc.subscribe(`${this.prefix}.cluster`, { callback: (err, m) => !err && this.receive(m.data, true) });
    for (const [user, w] of this.watched) w.sub = this.subscribeUser(user);
    void this.followStatus(nc);
    void nc.closed().then(() => {
      if (!this.closed) this.opts.log.error({ event: 'bus_closed' }, 'the NATS connection closed for good');
      this.setUp(false);
    });
    this.setUp(true);
  }

  private async followStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) this.setUp(false);
      else if (s.type === Events.Reconnect) this.setUp(true);
    }
  }

  private setUp(up: boolean): void {
    if (this.up === up || this.closed) return;
    this.up = up;
    if (up) this.opts.log.info({ event: 'bus_up', node: this.node }, 'connected to NATS');
    else this.opts.log.warn({ event: 'bus_down', node: this.node }, 'lost NATS: serving this node alone until it is back');
    this.emit({ kind: up ? 'bus_up' : 'bus_down' });
  }

  private emit(e: BusMessage): void {
    for (const fn of this.subs) fn(e);
  }

  /** An event from another node: parsed and checked before any listener sees it. */
  private receive(data: Uint8Array, cluster: boolean): void {
    if (data.length > MAX_EVENT_BYTES) return this.drop('too large');
    let json: unknown;
    try {
      json = JSON.parse(this.dec.decode(data));
    } catch {
      return this.drop('not json');
    }
    const parsed = (cluster ? clusterEvent.or(busEvent) : busEvent).safeParse(json);
    if (!parsed.success) return this.drop('not a bus event');
    if ('node' in parsed.data && parsed.data.node === this.node) return; // our own, back from another route
    this.emit(parsed.data);
  }

  private drop(why: string): void {
    this.opts.log.warn({ event: 'bus_event_dropped', why }, 'dropped a malformed event from NATS');
  }

  private subjectOf(e: BusEvent | ClusterEvent): string {
    switch (e.kind) {
      case 'presence':
      case 'node_alive':
      case 'node_sync':
      case 'node_users':
      case 'node_gone':
        return `${this.prefix}.cluster`;
      case 'presence_revealed':
        return `${this.prefix}.u.${e.to}`;
      default:
        return `${this.prefix}.u.${e.user}`;
    }
  }

  publish(e: BusEvent | ClusterEvent): void {
    this.emit(e);
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    try {
      // While reconnecting, nats.js keeps what is published and sends it once it is back.
      nc.publish(this.subjectOf(e), this.enc.encode(JSON.stringify(e)));
    } catch (err) {
      this.opts.log.warn({ event: 'bus_publish_failed', err: { message: (err as Error).message } }, 'an event did not reach NATS');
    }
  }

  subscribe(fn: (e: BusMessage) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  private subscribeUser(user: string): Subscription | null {
    if (!this.nc || this.nc.isClosed()) return null;
    return this.nc.subscribe(`${this.prefix}.u.${user}`, { callback: (err, m) => !err && this.receive(m.data, false) });
  }

  async watch(user: string): Promise<void> {
    const w = this.watched.get(user);
    if (w) {
      w.n++;
      return;
    }
    const sub = this.subscribeUser(user);
    this.watched.set(user, { n: 1, sub });
    // Confirmed by a round trip, so a commit for the user after this is heard; without NATS the
    // node is alone anyway (and reads every queue again when it is back).
    if (sub && this.up) await Promise.race([this.nc!.flush().catch(() => {}), new Promise((r) => setTimeout(r, WATCH_CONFIRM_MS).unref())]);
  }

  unwatch(user: string): void {
    const w = this.watched.get(user);
    if (!w) return;
    if (--w.n > 0) return;
    this.watched.delete(user);
    try {
      w.sub?.unsubscribe();
    } catch {
      // the connection is closed: nothing to undo
    }
  }

  status(): BusStatus {
    return this.up ? 'up' : 'down';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const nc = this.nc;
    // Last words first (a node_gone from the hub), then the connection.
    if (nc && !nc.isClosed()) await nc.flush().catch(() => {});
    this.closed = true;
    this.subs.clear();
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}
