// The link address: what `fastchat device link` shows as a QR code beside the pairing code, so a
// device with a camera can read it, and what `device approve` also takes pasted in place of the
// code. It carries nothing secret beyond the code, which is shown as text anyway:
//
//   fastchat:link?relay=<percent-encoded relay URL>&user=<account>&code=<pairing code as shown>
import { usageError } from '../errors.js';

export const LINK_ADDRESS_PREFIX = 'fastchat:link?';

export interface LinkAddress {
  relay: string;
  user: string;
  code: string;
}

export function linkAddress(a: LinkAddress): string {
  return LINK_ADDRESS_PREFIX + new URLSearchParams({ relay: a.relay, user: a.user, code: a.code }).toString();
}

export function isLinkAddress(typed: string): boolean {
  return typed.trim().startsWith(LINK_ADDRESS_PREFIX);
}

/**
 * The pairing code of a link address typed or pasted on a device of the account: refused unless
 * it names this account on this relay (a code for another account or relay would only fail later,
 * at the relay, with a vaguer error).
 */
export function codeOfLinkAddress(typed: string, ours: { relay: string; user: string }): string {
  const params = new URLSearchParams(typed.trim().slice(LINK_ADDRESS_PREFIX.length));
  const [relay, user, code] = [params.get('relay'), params.get('user'), params.get('code')];
  if (relay === null || user === null || code === null || [...params.keys()].length !== 3) {
    throw usageError('that link address is incomplete', 'it is fastchat:link?relay=…&user=…&code=…, as `fastchat device link` shows it; or type the pairing code itself');
  }
  if (user !== ours.user) throw usageError(`that link address is for @${user.slice(0, 40)}, and this home is @${ours.user}`, 'approve it on a device of that account');
  if (relay !== ours.relay) throw usageError(`that link address is for the relay ${relay.slice(0, 100)}, and this home uses ${ours.relay}`, 'approve it on a device of the account on that relay');
  return code;
}
