// Fingerprints, safety numbers and `verify`: what a user compares out of band, and what they
// decide afterwards.
//
// Both halves of a safety number come from authenticated sources: ours from the keystore (not the
// config.json copy), the peer's from the sealed contact record (or, for a record that failed its
// check, from a session or the key directory, with a warning). Accepting a key names it: the user
// passes the safety number or fingerprint they compared, and only a key with that number is
// accepted, so a relay that swaps the pending key between `fingerprint` and `verify` gains nothing.
import { fingerprint, fingerprintBytes, formatSafetyNumber, publicIdentity, safetyNumber, type PublicIdentity } from '../../crypto/identity.js';
import { accountSafetyNumber } from '../../crypto/account.js';
import { isLegacyDeviceList } from '../../crypto/device-list.js';
import { equalBytes, toHex } from '../../crypto/encoding.js';
import { sessionIdentity } from '../../crypto/session.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { contactHolds, listHolds, withoutRejected, withoutRejectedAccount, withRejected, withRejectedAccount, type PinnedAccount } from './contact-record.js';
import { observeIdentity, readContact, sameIdentity, writeContact, type Contact, type ContactRead } from './contacts.js';
import { ourAddress, relayTarget, type Client } from './context.js';
import { tx } from './db.js';
import { IntegrityError } from './integrity/errors.js';
import { checkDeviceLists, pinAccount } from './device-lists.js';
import { accountKeyOf } from './secrets.js';
import { checkBundles, UntrustedIdentity } from './outbox.js';
import { fetchBundles, fetchIdentities } from './relay-api.js';
import { isUnreachable } from './relay-http.js';
import { dropSessions, loadSession, sessionDevices, sessionIntact } from './sessions.js';
import { RejectedIdentity } from './trust-errors.js';

/** The identity to show for a contact: the new one while a change is pending. */
export function shownIdentity(c: Contact): PublicIdentity {
  return c.pendingIdentity ?? c.identity;
}

/**
 * What a safety number is computed from: an identity, and the account (key and last accepted list)
 * it came with, if any. The number is the account's (D.2) only when that list holds the identity,
 * i.e. the account key vouches for it; otherwise it is the identity's (§5), so accepting a key by
 * its number never takes an identity on the word of an account key that did not list it.
 */
export interface Keys {
  identity: PublicIdentity;
  account: PinnedAccount | null;
  /**
   * These are the contact's own pinned keys, not a pending change: with a list of the current
   * format pinned, the list is their keys (D.7), so the number is the account's even once the
   * device whose identity was pinned first has left the list.
   */
  pinned?: boolean;
}

/** The contact's pinned keys (see Keys.pinned). */
function pinnedKeys(c: Contact): Keys {
  return { identity: c.identity, account: c.account ?? null, pinned: true };
}

/** Whether the number for `theirs` is the account's: their account key vouches for these keys. */
function accountVouches(theirs: Keys): boolean {
  if (!theirs.account) return false;
  return listHolds(theirs.account.list, theirs.identity) || (theirs.pinned === true && !isLegacyDeviceList(theirs.account.list));
}

/** The keys to show for a contact: the pending ones while a change is pending. */
export function shownKeys(c: Contact): Keys {
  if (c.trust === 'changed') return { identity: c.pendingIdentity ?? c.identity, account: c.pendingAccount ?? c.account ?? null };
  return pinnedKeys(c);
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
export type Shown = { contact: Contact; identity: PublicIdentity; keys: Keys } | { contact: null; failed: ContactRead; identity: PublicIdentity | null; keys: Keys | null };

/** A known contact, or (when logged in) one looked up in the key directory and recorded (TOFU). */
export async function contactOrLookup(c: Client, peer: string): Promise<Shown> {
  const known = readContact(c, peer);
  if (known?.integrity === 'failed') {
    const candidate = sessionIdentities(c, peer)[0] ?? (await directoryIdentities(c, peer))[0] ?? null;
    return { contact: null, failed: known, identity: candidate, keys: candidate ? { identity: candidate, account: null } : null };
  }
  if (known) {
    // A contact whose device list was never fetched here (only its messages were seen): fetch it
    // first, so this side shows the account number the other side shows. A change learned from a
    // message names only the new identity: its account is fetched the same way and kept pending
    // with it, or this side would show the identity number while theirs shows the account number,
    // and the two could not be compared (nor would accepting it take the account it came with).
    if (known.trust !== 'changed' && !known.account) await refreshKeys(c, peer);
    else if (known.trust === 'changed' && known.pendingIdentity && !known.pendingAccount) await refreshPendingKeys(c, peer, known.pendingIdentity);
    const now = readContact(c, peer);
    if (now?.integrity !== 'ok') throw new IntegrityError(peer, 'contact record');
    return { contact: now, identity: shownIdentity(now), keys: shownKeys(now) };
  }
  const t = relayTarget(c);
  const bundles = await fetchBundles(t, peer);
  try {
    checkBundles(c, peer, bundles, await checkDeviceLists(c, t, peer));
  } catch (e) {
    if (!(e instanceof UntrustedIdentity) && !(e instanceof RejectedIdentity)) throw e;
  }
  const after = readContact(c, peer);
  if (after?.integrity !== 'ok') throw new IntegrityError(peer, 'contact record');
  return { contact: after, identity: shownIdentity(after), keys: shownKeys(after) };
}

/**
 * Before a known contact's number is shown: the account key of a contact whose device list was
 * never fetched here (only its messages were seen), pinned if its list holds the identity we pin,
 * so this side shows the account number the other side shows. Nothing else changes here: a key
 * change is for a send to find and the user to decide. Offline, or refused, nothing changes.
 */
async function refreshKeys(c: Client, peer: string): Promise<void> {
  try {
    const lists = await checkDeviceLists(c, relayTarget(c), peer);
    if (lists.kind === 'accepted') tx(c.db, () => pinAccount(c, peer, lists.account));
  } catch (e) {
    if (e instanceof CliError || isUnreachable(e)) return;
    throw e;
  }
}

/**
 * Before a pending change is shown: the account key whose list holds the pending identity, kept
 * as the change's pending account (observeIdentity), never accepted. A list that does not hold it
 * (a relay serving someone else's chain) changes nothing, and the identity number is shown.
 * Offline, or refused, nothing changes.
 */
async function refreshPendingKeys(c: Client, peer: string, pending: PublicIdentity): Promise<void> {
  try {
    const lists = await checkDeviceLists(c, relayTarget(c), peer);
    if (lists.kind === 'accepted' && listHolds(lists.account.list, pending)) tx(c.db, () => observeIdentity(c, peer, pending, c.now(), lists.account));
  } catch (e) {
    if (e instanceof CliError || isUnreachable(e)) return;
    throw e;
  }
}

/**
 * The 60-digit number (unformatted) with `theirs`: the account number (D.2) from our keystore's
 * account key and theirs when their account key vouches for the identity (see Keys), else the
 * identity number (§5) from our keystore identity and theirs.
 */
function rawSafetyNumber(c: Client, peer: string, theirs: Keys): string {
  const me = ourAddress(c).user;
  if (theirs.account && accountVouches(theirs)) {
    return accountSafetyNumber({ user: me, accountKey: accountKeyOf(c.secrets).publicKey }, { user: peer, accountKey: theirs.account.key });
  }
  return safetyNumber({ user: me, identity: publicIdentity(c.secrets.identity) }, { user: peer, identity: theirs.identity });
}

export function safetyNumberWith(c: Client, peer: string, theirs: Keys): string {
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

/**
 * A fingerprint names an identity only: it matches keys whose number is the identity's, never an
 * account key (whose change leaves the identity fingerprint as it was).
 */
function matches(c: Client, peer: string, keys: Keys, ref: KeyRef): boolean {
  if (ref.kind === 'fingerprint') return toHex(fingerprintBytes(keys.identity)) === ref.hex && !accountVouches(keys);
  return rawSafetyNumber(c, peer, keys) === ref.digits;
}

function sameKeys(a: Keys, b: Keys): boolean {
  return sameIdentity(a.identity, b.identity) && (a.account === null ? b.account === null : b.account !== null && equalBytes(a.account.key, b.account.key) && equalBytes(a.account.list, b.account.list));
}

function notShown(peer: string): CliError {
  return new CliError('key_mismatch', `no identity key of @${peer} has the number you gave; nothing was marked`, {
    exitCode: EXIT.untrusted,
    hint: `the key may have changed since you compared (a relay can swap it): run \`fastchat fingerprint @${peer}\` again, compare the new number with ${peer}, and pass that one`,
  });
}

/**
 * `rejected` with the pending account key added, when the user turns down the pending keys and that
 * key is neither the pinned one nor the one being accepted: the next fetch then refuses it
 * (contacts.ts observeIdentity) instead of showing the same change pending again.
 */
function rejectPendingAccount(now: Contact, rejected: Uint8Array[], accepted: PinnedAccount | null): Uint8Array[] {
  const key = now.pendingAccount?.key;
  if (!key || (now.account && equalBytes(now.account.key, key)) || (accepted && equalBytes(accepted.key, key))) return rejected;
  return withRejectedAccount(rejected, key);
}

export interface VerifyRequest {
  /** The number the user compared. Required to accept a changed key or repair a failed record. */
  key?: KeyRef;
  accept?: boolean;
  reject?: boolean;
}

/**
 * After a verify decision: drops the sessions made with keys the contact's record no longer holds,
 * and keeps those with every device the pinned keys hold (the pinned identity, and each device of
 * the pinned list), so settling a key change does not cost their other devices new X3DH setups.
 */
function keepSessionsOf(c: Client, peer: string): Contact {
  const now = readContact(c, peer) as Contact;
  dropSessions(c.db, c.sealer, peer, (device, identity) => contactHolds(now, device, identity));
  return now;
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
    const chosen = candidates.find((id) => matches(c, peer, { identity: id, account: null }, key));
    if (!chosen) throw notShown(peer);
    return tx(c.db, () => {
      writeContact(c, peer, { identity: chosen, trust: 'verified', pendingIdentity: null, trustBefore: 'verified', rejected: [], addedAt: c.now() }, c.now());
      return keepSessionsOf(c, peer);
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
      // A change of account key alone leaves the pending identity the pinned one: never reject that.
      const rejected = rejectPendingAccount(now, sameIdentity(pending, now.identity) ? now.rejected : withRejected(now.rejected, pending), null);
      writeContact(c, peer, { ...now, trust: now.trustBefore, pendingIdentity: null, pendingAccount: null, rejected }, c.now());
      return keepSessionsOf(c, peer);
    });
  }
  if (req.accept) {
    if (!req.key) throw usageError('--accept needs the safety number (or fingerprint) you compared', `fastchat verify @${peer} --accept <the number from \`fastchat fingerprint @${peer}\`>`);
    const key = req.key;
    const candidates = (k: Contact): Keys[] => [...(k.trust === 'changed' ? [shownKeys(k)] : []), pinnedKeys(k)];
    const chosen = candidates(known).find((keys) => matches(c, peer, keys, key));
    if (!chosen) throw notShown(peer);
    return tx(c.db, () => {
      // Re-read under the write lock: the pending key may have been replaced since we looked.
      const now = readContact(c, peer);
      if (now?.integrity !== 'ok' || !candidates(now).some((x) => sameKeys(x, chosen))) throw notShown(peer);
      const rejectedPending = rejectPendingAccount(now, now.pendingIdentity && !sameIdentity(now.pendingIdentity, chosen.identity) ? withRejected(now.rejected, now.pendingIdentity) : now.rejected, chosen.account);
      const rejected = withoutRejected(chosen.account ? withoutRejectedAccount(rejectedPending, chosen.account.key) : rejectedPending, chosen.identity);
      writeContact(c, peer, { ...now, identity: chosen.identity, account: chosen.account, trust: 'verified', pendingIdentity: null, pendingAccount: null, rejected }, c.now());
      return keepSessionsOf(c, peer);
    });
  }
  if (known.trust === 'changed') {
    throw new CliError('identity_changed', `the identity key of @${peer} changed; nothing was marked`, {
      exitCode: EXIT.untrusted,
      hint: `compare the safety number (\`fastchat fingerprint @${peer}\`), then run \`fastchat verify @${peer} --accept <safety number>\` or \`--reject\``,
    });
  }
  if (req.key && !matches(c, peer, shownKeys(known), req.key)) throw notShown(peer);
  return tx(c.db, () => {
    const now = readContact(c, peer);
    if (now?.integrity !== 'ok' || now.trust === 'changed' || !sameKeys(shownKeys(now), shownKeys(known))) throw notShown(peer);
    writeContact(c, peer, { ...now, trust: 'verified' }, c.now());
    return readContact(c, peer) as Contact;
  });
}
