// In-process fan-out between the parts of the relay that learn of an event (a message stored, a
// device connected, a prekey taken) and the WebSocket connections that must hear of it. A
// multi-node relay swaps this for Redis pub/sub or NATS behind the same interface; events carry
// only addresses and counts, never bodies (bodies are read from the store by whoever pushes).
export type BusEvent =
  // New messages for this device are committed, the last with delivery id `upTo`: a connection
  // that already pushed that far (from the local pusher) need not read the store.
  | { kind: 'queued'; user: string; device: number; upTo?: number }
  // `audience`: the accounts that may see `user`'s presence (looked up once, by the announcer).
  | { kind: 'presence'; user: string; online: boolean; audience: string[] }
  // `user` sent `to` a message for the first time (in the message TTL): `to` may now see whether
  // `user` is online, so a node where `user` is connected tells `to` at once.
  | { kind: 'presence_revealed'; user: string; to: string }
  | { kind: 'prekeys_low'; user: string; device: number; count: number }
  // Tokens of this account were revoked (logout, log out everywhere, password change): every
  // node closes the account's sockets whose token is no longer in the store, at once.
  | { kind: 'sessions_revoked'; user: string };

export interface Bus {
  publish(e: BusEvent): void;
  subscribe(fn: (e: BusEvent) => void): () => void;
  close(): void;
}

export class LocalBus implements Bus {
  private readonly subs = new Set<(e: BusEvent) => void>();

  publish(e: BusEvent): void {
    for (const fn of this.subs) fn(e);
  }

  subscribe(fn: (e: BusEvent) => void): () => void {
    this.subs.add(fn);
    return () => this.subs.delete(fn);
  }

  close(): void {
    this.subs.clear();
  }
}
