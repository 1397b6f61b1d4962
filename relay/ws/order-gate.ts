// Per-recipient order on one connection, across refusals (docs/RELAY.md "Order").
//
// The relay stores the sends of a connection in the order they arrive, so a client may keep many
// in flight. A send refused with a retryable error (rate_limited, queue_full, internal …) breaks
// that: the client resends it later, and the sends behind it that were already on the wire would
// be stored first. So once a send is refused that way, every later send of this connection to one
// of its recipients is refused with `out_of_order` until the refused id is sent again. The
// refusals decided inside one commit batch are the store's part (SubmitRequest.stream).
import type { Address } from '../store/index.js';

/**
 * Recipients held at once on one connection. An honest client holds at most its contacts; a
 * connection that holds more (refused sends to thousands of names) is closed rather than let the
 * map grow.
 */
export const MAX_HELD_RECIPIENTS = 10_000;

const key = (a: Address): string => `${a.user.toLowerCase()}\0${a.device}`;

export class OrderGate {
  private last = 0;
  /** Recipient → the earliest (by arrival) refused send to it that was not sent again yet. */
  private readonly held = new Map<string, { id: string; seq: number }>();

  /**
   * Numbers a send in arrival order. `waitFor` is set when an earlier refused send to one of its
   * recipients must come first; otherwise the send goes on, and a resend of a refused id releases
   * the recipients it held.
   */
  admit(id: string, to: readonly Address[]): { seq: number; waitFor?: string } {
    const seq = ++this.last;
    for (const a of to) {
      const h = this.held.get(key(a));
      if (h && h.id !== id) return { seq, waitFor: h.id };
    }
    for (const a of to) if (this.held.get(key(a))?.id === id) this.held.delete(key(a));
    return { seq };
  }

  /**
   * The send numbered `seq` was refused with a retryable error: its recipients wait for it, unless
   * an earlier refused send already holds them. False when the connection holds too many.
   */
  refused(id: string, seq: number, to: readonly Address[]): boolean {
    for (const a of to) {
      const h = this.held.get(key(a));
      if (!h || h.seq > seq) this.held.set(key(a), { id, seq });
    }
    return this.held.size <= MAX_HELD_RECIPIENTS;
  }
}
