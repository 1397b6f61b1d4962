// One send, from a WebSocket frame or POST /v1/messages, checked the same way: the sender comes
// from the authenticated connection (a `from` field is refused by the strict schema), the body
// must be base64url within maxMessageBytes, recipients are case-folded and counted.
import type { RelayConfig } from '../config.js';
import { RelayError } from '../errors.js';
import { isUsername } from '../schemas.js';
import type { Address, SubmitRequest } from '../store/index.js';
import { decodeBase64url } from '../wire/base64url.js';

export function toSubmitRequest(sender: Address, f: { id: string; to: { user: string; device: number }[]; body: string }, cfg: RelayConfig): SubmitRequest {
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
  return { sender, clientId: f.id, to, body, bodyText: f.body };
}

function tooLarge(cfg: RelayConfig): RelayError {
  return new RelayError('payload_too_large', `message body over ${cfg.maxMessageBytes} bytes`);
}
