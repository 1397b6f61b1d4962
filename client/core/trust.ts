// Fingerprints, safety numbers and `verify`: what a user compares out of band, and what they
// decide afterwards.
//
// Both halves of a safety number come from authenticated sources: ours from the keystore (not the
// config.json copy), the peer's from the sealed contact record (or, for a record that failed its
// check, from a session or the key directory, with a warning). Accepting a key names it: the user
// passes the safety number or fingerprint they compared, and only a key with that number is
// accepted, so a relay that swaps the pending key between `fingerprint` and `verify` gains nothing.
import { fingerprint, fingerprintBytes, formatSafetyNumber, publicIdentity, safetyNumber, type PublicIdentity } from '../../crypto/identity.js';
import { toHex } from '../../crypto/encoding.js';
import { sessionIdentity } from '../../crypto/session.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { withoutRejected, withRejected } from './contact-record.js';
import { readContact, sameIdentity, writeContact, type Contact, type ContactRead } from './contacts.js';
import { ourAddress, relayTarget, type Client } from './context.js';
import { tx } from './db.js';
import { IntegrityError } from './integrity/errors.js';
import { checkBundles, UntrustedIdentity } from './outbox.js';
import { fetchBundles, fetchIdentities } from './relay-api.js';
import { isUnreachable } from './relay-http.js';
import { dropSessions, loadSession, sessionDevices, sessionIntact } from './sessions.js';
import { RejectedIdentity } from './trust-errors.js';

/** The identity to show for a contact: the new one while a change is pending. */
export function shownIdentity(c: Contact): PublicIdentity {
  return c.pendingIdentity ?? c.identity;
}

/** Identities our intact sessions with `peer` were made with (for a record that failed its check). */
function sessionIdentities(c: Client, peer: string): PublicIdentity[] {
  const out: PublicIdentity[] = [];
  for (const device of sessionDevices(c.db, c.sealer, peer)) {
    try {
      const s = loadSession(c.db, c.sealer, peer, device);
      if (s && !out.some((x) => sameIdentity(x, sessionIdentity(s)))) out.push(sessionIdentity(s));
    } catch (e) {
      if (!(e instanceof IntegrityError)) throw e;
    }
  }
  return out;
}

/** Devices whose session row with `peer` failed its integrity check (deleted, added or altered). */
export function failedSessions(c: Client, peer: string): number[] {
  return sessionDevices(c.db, c.sealer, peer).filter((d) => !sessionIntact(c.db, c.sealer, peer, d));
}

async function directoryIdentities(c: Client, peer: string): Promise<PublicIdentity[]> {
  try {
    return (await fetchIdentities(relayTarget(c), peer)).map((b) => b.identity);
  } catch (e) {
    if (isUnreachable(e) || (e instanceof CliError && (e.code === 'logged_out' || e.code === 'not_registered' || e.code === 'no_relay'))) return [];
    throw e;
  }
}

/** What `fingerprint @peer` shows: a contact, or for a failed record the key we would compare now. */
export type Shown = { contact: Contact; identity: PublicIdentity } | { contact: null; failed: ContactRead; identity: PublicIdentity | null };

/** A known contact, or (when logged in) one looked up in the key directory and recorded (TOFU). */
export async function contactOrLookup(c: Client, peer: string): Promise<Shown> {
  const known = readContact(c, peer);
  if (known?.integrity === 'failed') {
    const candidate = sessionIdentities(c, peer)[0] ?? (await directoryIdentities(c, peer))[0] ?? null;
    return { contact: null, failed: known, identity: candidate };
  }
  if (known) return { contact: known, identity: shownIdentity(known) };
  const bundles = await fetchBundles(relayTarget(c), peer);
  try {
    checkBundles(c, peer, bundles);
  } catch (e) {
    if (!(e instanceof UntrustedIdentity) && !(e instanceof RejectedIdentity)) throw e;
  }
  const after = readContact(c, peer);
  if (after?.integrity !== 'ok') throw new IntegrityError(peer, 'contact record');
  return { contact: after, identity: shownIdentity(after) };
}

/** The 60-digit number (unformatted) for our keystore identity and `theirs`. */
function rawSafetyNumber(c: Client, peer: string, theirs: PublicIdentity): string {
  return safetyNumber({ user: ourAddress(c).user, identity: publicIdentity(c.secrets.identity) }, { user: peer, identity: theirs });
}

export function safetyNumberWith(c: Client, peer: string, theirs: PublicIdentity): string {
  return formatSafetyNumber(rawSafetyNumber(c, peer, theirs));
}

export function contactFingerprint(contact: Contact): string {
  return fingerprint(shownIdentity(contact));
}

/** A key as the user typed it: the 60-digit safety number or the 64-hex fingerprint, spaces allowed. */
export type KeyRef = { kind: 'safety'; digits: string } | { kind: 'fingerprint'; hex: string };

export function parseKeyRef(words: string[]): KeyRef {
  const s = words.join('').replace(/[\s-]/g, '').toLowerCase();
  if (/^\d{60}$/.test(s)) return { kind: 'safety', digits: s };
  if (/^[0-9a-f]{64}$/.test(s)) return { kind: 'fingerprint', hex: s };
  throw usageError('expected the 60-digit safety number or the 64-digit fingerprint you compared', 'copy it from `fastchat fingerprint @user` (spaces are fine)');
}

function matches(c: Client, peer: string, identity: PublicIdentity, ref: KeyRef): boolean {
  if (ref.kind === 'fingerprint') return toHex(fingerprintBytes(identity)) === ref.hex;
  return rawSafetyNumber(c, peer, identity) === ref.digits;
}

function notShown(peer: string): CliError {
  return new CliError('key_mismatch', `no identity key of @${peer} has the number you gave; nothing was marked`, {
    exitCode: EXIT.untrusted,
    hint: `the key may have changed since you compared (a relay can swap it): run \`fastchat fingerprint @${peer}\` again, compare the new number with ${peer}, and pass that one`,
  });
}

export interface VerifyRequest {
  /** The number the user compared. Required to accept a changed key or repair a failed record. */
  key?: KeyRef;
  accept?: boolean;
  reject?: boolean;
}

function noContact(peer: string): CliError {
  return new CliError('unknown_contact', `no identity known for @${peer}`, { hint: `exchange a message first, or run \`fastchat fingerprint @${peer}\`` });
}

/**
 * `verify @x [number] [--accept number | --reject]`:
 *  - no flag: marks the pinned key verified (refused while a change is pending); a given number must match it;
 *  - --accept: the key whose number was given becomes the pinned, verified key (the pending one, or
 *    the old one, which rejects the pending one); sessions made with other keys are dropped;
 *  - --reject: keeps the pinned key, forgets the pending one and remembers it as rejected.
 * A record that failed its integrity check is rebuilt only by --accept, from a key whose number matches.
 */
export async function verifyContact(c: Client, peer: string, req: VerifyRequest): Promise<Contact> {
  const known = readContact(c, peer);
  if (!known) throw noContact(peer);
  if (known.integrity === 'failed') {
    if (!req.accept || !req.key) throw new IntegrityError(peer, 'contact record');
    const key = req.key;
    const candidates = [...sessionIdentities(c, peer), ...(await directoryIdentities(c, peer))];
    const chosen = candidates.find((id) => matches(c, peer, id, key));
    if (!chosen) throw notShown(peer);
    return tx(c.db, () => {
      writeContact(c, peer, { identity: chosen, trust: 'verified', pendingIdentity: null, trustBefore: 'verified', rejected: [], addedAt: c.now() }, c.now());
      dropSessions(c.db, c.sealer, peer, chosen);
      return readContact(c, peer) as Contact;
    });
  }
  if (req.reject) {
    if (known.trust !== 'changed' || !known.pendingIdentity) {
      throw new CliError('nothing_pending', `no changed key of @${peer} is waiting; nothing was rejected`);
    }
    const pending = known.pendingIdentity;
    return tx(c.db, () => {
      const now = readContact(c, peer);
      if (now?.integrity !== 'ok' || !now.pendingIdentity || !sameIdentity(now.pendingIdentity, pending)) throw notShown(peer);
      writeContact(c, peer, { ...now, trust: now.trustBefore, pendingIdentity: null, rejected: withRejected(now.rejected, pending) }, c.now());
      dropSessions(c.db, c.sealer, peer, now.identity);
      return readContact(c, peer) as Contact;
    });
  }
  if (req.accept) {
    if (!req.key) throw usageError('--accept needs the safety number (or fingerprint) you compared', `fastchat verify @${peer} --accept <the number from \`fastchat fingerprint @${peer}\`>`);
    const key = req.key;
    const candidates = [known.pendingIdentity, known.identity].filter((x): x is PublicIdentity => x !== null);
    const chosen = candidates.find((id) => matches(c, peer, id, key));
    if (!chosen) throw notShown(peer);
    return tx(c.db, () => {
      // Re-read under the write lock: the pending key may have been replaced since we looked.
      const now = readContact(c, peer);
      if (now?.integrity !== 'ok' || ![now.pendingIdentity, now.identity].some((x) => x && sameIdentity(x, chosen))) throw notShown(peer);
      const rejectedPending = now.pendingIdentity && !sameIdentity(now.pendingIdentity, chosen) ? withRejected(now.rejected, now.pendingIdentity) : now.rejected;
      writeContact(c, peer, { ...now, identity: chosen, trust: 'verified', pendingIdentity: null, rejected: withoutRejected(rejectedPending, chosen) }, c.now());
      dropSessions(c.db, c.sealer, peer, chosen);
      return readContact(c, peer) as Contact;
    });
  }
  if (known.trust === 'changed') {
    throw new CliError('identity_changed', `the identity key of @${peer} changed; nothing was marked`, {
      exitCode: EXIT.untrusted,
      hint: `compare the safety number (\`fastchat fingerprint @${peer}\`), then run \`fastchat verify @${peer} --accept <safety number>\` or \`--reject\``,
    });
  }
  if (req.key && !matches(c, peer, known.identity, req.key)) throw notShown(peer);
  return tx(c.db, () => {
    const now = readContact(c, peer);
    if (now?.integrity !== 'ok' || now.trust === 'changed' || !sameIdentity(now.identity, known.identity)) throw notShown(peer);
    writeContact(c, peer, { ...now, trust: 'verified' }, c.now());
    return readContact(c, peer) as Contact;
  });
}
