// One send, from a WebSocket frame or POST /v1/messages, checked the same way: the sender comes
// from the authenticated connection (a `from` field is refused by the strict schema), the body
// must be base64url within maxMessageBytes, recipients are case-folded and counted. A group
// message's cleartext group id and epoch are read for the stale-epoch fence (the store applies it).
import { peekGroupFence } from '../../crypto/group/wire.js';
import type { RelayConfig } from '../config.js';
import { RelayError } from '../errors.js';
import { takeAll, type Limiter } from '../ratelimit.js';
import { isUsername } from '../schemas.js';
import type { Address, SubmitRequest } from '../store/index.js';
import { decodeBase64url } from '../wire/base64url.js';

export function toSubmitRequest(sender: Address, f: { id: string; to: { user: string; device: number }[]; body: string; synced?: true }, cfg: RelayConfig): SubmitRequest {
  if (f.to.length > cfg.maxRecipients) throw new RelayError('bad_request', `too many recipients: ${f.to.length} > ${cfg.maxRecipients}`);
  // base64url of maxMessageBytes is at most 4/3 as long: refuse before decoding anything bigger.
  if (f.body.length > Math.ceil((cfg.maxMessageBytes * 4) / 3)) throw tooLarge(cfg);
  const body = decodeBase64url(f.body);
  if (body === undefined) throw new RelayError('bad_request', 'body: invalid base64url');
  if (body.length > cfg.maxMessageBytes) throw tooLarge(cfg);
  if (body.length === 0) throw new RelayError('bad_request', 'body: empty');
  const to = f.to.map((a) => {
    const user = a.user.toLowerCase();
    if (!isUsername(user)) throw new RelayError('unknown_user', `unknown user: ${JSON.stringify(a.user.slice(0, 64))}`);
    return { user, device: a.device };
  });
  const group = peekGroupFence(body);
  return { sender, clientId: f.id, to, body, bodyText: f.body, ...(group ? { fence: { ...group, synced: f.synced === true } } : {}) };
}

/**
 * Largest body of an ephemeral send. A typing indicator is a few hundred bytes (PROTOCOL §12.2);
 * the bound keeps the one path that writes nothing down from carrying bulk data past the store,
 * its quotas and its sweep.
 */
export const EPHEMERAL_MAX_BYTES = 4096;

function tooLarge(cfg: RelayConfig): RelayError {
  return new RelayError('payload_too_large', `message body over ${cfg.maxMessageBytes} bytes`);
}

/**
 * Charges one send to its device's and its account's buckets before anything of it is decoded or queued; throws
 * rate_limited (and charges nothing) when the bucket is short. WebSocket `send` and POST
 * /v1/messages share the bucket, so switching transport gains nothing.
 *
 * The cost is the number of recipient devices, not 1 per send: the relay's work grows with the
 * fan-out (one delivery row and index entry written per recipient, one push and one ack
 * transaction per recipient, up to maxRecipients), while the body is stored once. Counting sends
 * would let one device write maxRecipients times the rows of the limit. A fan-out above the burst
 * costs the whole burst (see RateLimiter.take), so a group of maxRecipients can still be reached.
 */
export function chargeSend(limits: { send: Limiter; sendAccount: Limiter }, sender: Address, recipients: number, now: number): void {
  // The device's bucket and its account's (all devices together), both or neither.
  takeAll([{ limiter: limits.send, key: `${sender.user}\0${sender.device}` }, { limiter: limits.sendAccount, key: sender.user }], now, Math.max(1, recipients));
}
