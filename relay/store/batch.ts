// What every engine decides the same way inside a commit batch (store/types.ts submitBatch): the
// refusals' wording, a send's distinct recipient devices, the per-stream order rule, and the body
// of an expiry notice. The engines differ only in how they look facts up.
import { isRetryable, RelayError } from '../errors.js';
import type { Address, QueuedMessage, SubmitRequest, SubmitResult } from './types.js';

/** Most expired messages named in one expiry notice (a notice is one queued frame). */
export const NOTICE_MAX_MESSAGES = 500;

export type BatchRefusal = 'unknown_user' | 'unknown_device' | 'queue_full' | 'storage_full' | 'out_of_order' | 'stale_epoch';

export function fail(code: BatchRefusal, message: string): SubmitResult {
  return { ok: false, error: new RelayError(code, message) };
}

export const storageFull = (): SubmitResult => fail('storage_full', "the relay's disk is full: no new messages are stored until its operator frees space");
export const outOfOrder = (): SubmitResult => fail('out_of_order', 'an earlier send to the same recipient on this connection was refused; resend it first');
export const queueFull = (to: Address): SubmitResult => fail('queue_full', `queue full for ${to.user}/${to.device}`);
export const unknownUser = (user: string): SubmitResult => fail('unknown_user', `unknown user: ${user}`);
export const staleEpoch = (epoch: number, newest: number): SubmitResult => fail('stale_epoch', `group epoch ${epoch} is older than epoch ${newest} already seen for this group`);
export const unknownDevice = (to: Address): SubmitResult => fail('unknown_device', `unknown device: ${to.user}/${to.device}`);

export function uniqueAddresses(to: Address[]): Address[] {
  const seen = new Set<string>();
  const out: Address[] = [];
  for (const a of to) {
    const k = `${a.user}\0${a.device}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(a);
    }
  }
  return out;
}

/**
 * Per stream (one WebSocket connection), the recipients of a send refused earlier in this batch
 * with a retryable error: later sends of the same stream to any of them are refused with
 * out_of_order (SubmitRequest.stream, relay/ws/order-gate.ts).
 */
export class StreamHolds {
  private readonly refused = new Set<string>();

  private keys(r: SubmitRequest): string[] {
    return r.to.map((a) => `${r.stream}\0${a.user}\0${a.device}`);
  }

  /** Judges `r` with `judge` unless an earlier refusal of its stream holds one of its recipients. */
  judge(r: SubmitRequest, judge: () => SubmitResult): SubmitResult {
    if (r.stream === undefined) return judge();
    const keys = this.keys(r);
    if (keys.some((k) => this.refused.has(k))) return outOfOrder();
    const res = judge();
    if (!res.ok && isRetryable(res.error.code)) for (const k of keys) this.refused.add(k);
    return res;
  }
}

/** An expiry notice's body: the expired messages of one sender device (docs/RELAY.md "Expiry notices"). */
export function noticeBody(items: { id: string; to: Address; storedAt: number }[]): Buffer {
  return Buffer.from(JSON.stringify(items.map((x) => ({ id: x.id, to: x.to, sentAt: new Date(x.storedAt).toISOString() }))));
}

/** The columns of a queued message's row, as both engines read them. */
export interface QueuedRow {
  kind: QueuedMessage['kind'];
  client_id: string;
  sender: string;
  sender_device: number;
  body: Buffer;
  stored_at: number;
}

/** A queued delivery as both engines read it back: the message row and the delivery's id. */
export function queuedMessage(deliveryId: number, r: QueuedRow): QueuedMessage {
  return {
    deliveryId,
    kind: r.kind,
    clientId: r.client_id,
    from: { user: r.sender, device: r.sender_device },
    body: new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.byteLength),
    storedAt: r.stored_at,
  };
}
