// The checks every pairwise send passes before a message key is used: the store was not rolled
// back, the contact record is intact and trusted, and every session we would encrypt with is
// intact and was made with a key of the contact: the identity pinned for them, or the one their
// pinned device list holds for that device (a session and a pin that disagree can only come from a
// bug or an edited store; either way nothing is sent).
import { sessionIdentity } from '../../crypto/session.js';
import type { CliError } from '../errors.js';
import { contactHolds } from './contact-record.js';
import { readContact } from './contacts.js';
import { IntegrityError, StoreRolledBack } from './integrity/errors.js';
import { loadManifest, type Alarm, type Store } from './integrity/manifest.js';
import { loadSession, sessionDevices } from './sessions.js';
import { SessionMismatch, UntrustedIdentity } from './trust-errors.js';

export function storeAlarm(s: Store): Alarm | null {
  return loadManifest(s).alarm;
}

/** Refuses any send while the store is flagged as rolled back (groups use it too). */
export function assertNotRolledBack(s: Store): void {
  if (storeAlarm(s)) throw new StoreRolledBack();
}

/** Why nothing may be sent to `peer` now, or undefined. Never throws for a refusal; call inside the sending transaction. */
export function sendRefusal(s: Store, peer: string): CliError | undefined {
  if (storeAlarm(s)) return new StoreRolledBack();
  const contact = readContact(s, peer);
  if (contact?.integrity === 'failed') return new IntegrityError(peer, 'contact record');
  if (contact?.trust === 'changed') return new UntrustedIdentity(peer);
  for (const device of sessionDevices(s.db, s.sealer, peer)) {
    let state;
    try {
      state = loadSession(s.db, s.sealer, peer, device);
    } catch (e) {
      if (e instanceof IntegrityError) return e;
      throw e;
    }
    if (state && (!contact || !contactHolds(contact, device, sessionIdentity(state)))) return new SessionMismatch(peer, device);
  }
  return undefined;
}

export function assertSendable(s: Store, peer: string): void {
  const refusal = sendRefusal(s, peer);
  if (refusal) throw refusal;
}
