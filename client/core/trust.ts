// Fingerprints, safety numbers and `verify`: what a user compares out of band, and what they
// decide afterwards.
import { fingerprint, formatSafetyNumber, safetyNumber, type PublicIdentity } from '../../crypto/identity.js';
import { CliError } from '../errors.js';
import { getContact, markVerified, type Contact } from './contacts.js';
import { ourAddress, relayTarget, type PublicHome } from './context.js';
import { tx } from './db.js';
import { ownPublicIdentity } from './identity-view.js';
import { checkBundles, UntrustedIdentity } from './outbox.js';
import { fetchBundles } from './relay-api.js';
import { dropSessions } from './sessions.js';
import type { Sealer } from './at-rest.js';

/** The identity to show for a contact: the new one while a change is pending. */
export function shownIdentity(c: Contact): PublicIdentity {
  return c.pendingIdentity ?? c.identity;
}

/** A known contact, or (when logged in) one looked up in the key directory and recorded (TOFU). */
export async function contactOrLookup(h: PublicHome, peer: string): Promise<Contact> {
  const known = getContact(h.db, peer);
  if (known) return known;
  const bundles = await fetchBundles(relayTarget(h), peer);
  try {
    checkBundles({ db: h.db, now: () => Date.now() }, peer, bundles);
  } catch (e) {
    if (!(e instanceof UntrustedIdentity)) throw e;
  }
  return getContact(h.db, peer)!;
}

export function safetyNumberWith(h: PublicHome, contact: Contact): string {
  const me = ourAddress(h).user;
  return formatSafetyNumber(safetyNumber({ user: me, identity: ownPublicIdentity(h.config) }, { user: contact.username, identity: shownIdentity(contact) }));
}

export function contactFingerprint(contact: Contact): string {
  return fingerprint(shownIdentity(contact));
}

/** `verify @x [--accept]`. Accepting a changed key drops the sessions made with the old one. */
export function verifyContact(h: PublicHome, sealer: Sealer, peer: string, accept: boolean): Contact {
  const c = getContact(h.db, peer);
  if (!c) throw new CliError('unknown_contact', `no identity known for @${peer}`, { hint: `exchange a message first, or run \`fastchat fingerprint @${peer}\`` });
  if (c.trust === 'changed' && !accept) {
    throw new CliError('identity_changed', `the identity key of @${peer} changed; nothing was marked`, {
      exitCode: 4,
      hint: `compare the safety number (\`fastchat fingerprint @${peer}\`), then run \`fastchat verify @${peer} --accept\``,
    });
  }
  return tx(h.db, () => {
    const after = markVerified(h.db, peer, Date.now(), accept)!;
    dropSessions(h.db, sealer, peer, after.identity);
    return after;
  });
}
