// Contacts and trust: the first identity key seen for a username is trusted (TOFU). A different
// key later flips the contact to `changed`: its messages are still shown (with a warning) but
// nothing is sent to it until the user accepts the key they compared (`verify @x --accept <number>`)
// or rejects it (`verify @x --reject`).
//
// Each contact is a sealed record bound to its username (contact-record.ts) and listed in the
// integrity manifest, so a disk writer without the passphrase cannot re-pin a contact, move a
// record to another name, delete one (TOFU would start over) or put back an older one. A record
// that fails any of these checks is `failed`: treated as a key change, never trusted.
import { encodePublicIdentity, type PublicIdentity } from '../../crypto/identity.js';
import { equalBytes } from '../../crypto/encoding.js';
import {
  encodeContactRecord,
  isAccountRejected,
  isRejected,
  listHolds,
  listHoldsKey,
  pinnedIdentityListed,
  pinnedListHolds,
  parseContactRecord,
  sameIdentity,
  type ContactRecord,
  type PinnedAccount,
  type Trust,
} from './contact-record.js';
import { IntegrityError } from './integrity/errors.js';
import { forgetPageReads, pageRead, snapshot } from './db.js';
import { loadManifest, rowDigest, sameDigest, updateManifest, viewManifest, type Store } from './integrity/manifest.js';

export { sameIdentity, type PinnedAccount, type Trust };

export interface Contact extends ContactRecord {
  username: string;
  integrity: 'ok';
  updatedAt: number;
}

export interface FailedContact {
  username: string;
  integrity: 'failed';
  /** deleted: listed in the manifest, row gone; unlisted: a row the manifest does not know; altered: anything else. */
  why: 'deleted' | 'unlisted' | 'altered';
}

export type ContactRead = Contact | FailedContact;

interface Row {
  username: string;
  identity: Buffer;
  trust: Trust;
  pending_identity: Buffer | null;
  updated_at: number;
  sealed: Buffer | null;
  account_key: Buffer | null;
}

function check(s: Store, r: Row, listed: Uint8Array | undefined): ContactRead {
  const failed = (why: FailedContact['why']): FailedContact => ({ username: r.username, integrity: 'failed', why });
  if (listed === undefined) return failed('unlisted');
  if (!r.sealed || !sameDigest(listed, rowDigest(new Uint8Array(r.sealed)))) return failed('altered');
  let rec: ContactRecord;
  try {
    rec = parseContactRecord(s.sealer.open('contact', [r.username], new Uint8Array(r.sealed)));
  } catch {
    return failed('altered');
  }
  // The readable copy must say the same; if it does not, the file was edited.
  const pending = rec.pendingIdentity ? encodePublicIdentity(rec.pendingIdentity) : null;
  const copyPending = r.pending_identity ? new Uint8Array(r.pending_identity) : null;
  const copyAgrees =
    equalBytes(encodePublicIdentity(rec.identity), new Uint8Array(r.identity)) &&
    rec.trust === r.trust &&
    (pending === null ? copyPending === null : copyPending !== null && equalBytes(pending, copyPending)) &&
    (rec.account ? r.account_key !== null && equalBytes(rec.account.key, new Uint8Array(r.account_key)) : r.account_key === null);
  if (!copyAgrees) return failed('altered');
  return { ...rec, username: r.username, integrity: 'ok', updatedAt: r.updated_at };
}

/**
 * The last check of each contact, with the exact row and manifest entry it was made on. Every
 * message received reads its sender's record, and unsealing and checking it each time was 29 %
 * of storing a message (docs/PERFORMANCE.md "Client cores"). The row and the entry are still read
 * on every call, in the same snapshot, and the result is reused only when both are byte for byte
 * what was checked (and the sealer the same): a record written since, by this process or another
 * sharing the home, or edited on disk, is checked again. Results are frozen, being shared.
 */
interface Checked {
  sealer: Store['sealer'];
  row: Row;
  listed: Uint8Array;
  read: ContactRead;
}
const checked = new WeakMap<Store['db'], Map<string, Checked>>();
/** Contacts a store keeps checks of: past this the cache starts over (a bound, not a tuning). */
const CHECKED_CONTACTS_MAX = 4096;

const sameBlob = (a: Uint8Array | null, b: Uint8Array | null): boolean => (a === null ? b === null : b !== null && equalBytes(a, b));

function sameRow(a: Row, b: Row): boolean {
  return (
    a.username === b.username && a.trust === b.trust && a.updated_at === b.updated_at && equalBytes(a.identity, b.identity) &&
    sameBlob(a.pending_identity, b.pending_identity) && sameBlob(a.sealed, b.sealed) && sameBlob(a.account_key, b.account_key)
  );
}

function checkCached(s: Store, r: Row, listed: Uint8Array | undefined): ContactRead {
  if (listed === undefined) return check(s, r, listed);
  let byName = checked.get(s.db);
  const hit = byName?.get(r.username);
  if (hit && hit.sealer === s.sealer && sameRow(hit.row, r) && equalBytes(hit.listed, listed)) return hit.read;
  const read = Object.freeze(check(s, r, listed));
  if (!byName || byName.size >= CHECKED_CONTACTS_MAX) checked.set(s.db, (byName = new Map()));
  byName.set(r.username, { sealer: s.sealer, row: r, listed, read });
  return read;
}

/**
 * The contact as stored and checked; undefined when we never saw this user. Once per page and
 * contact (db.ts pageRead): putContactRow and every manifest save forget it.
 */
export function readContact(s: Store, username: string): ContactRead | undefined {
  return pageRead(s.db, 'contact', username, () => readStored(s, username));
}

function readStored(s: Store, username: string): ContactRead | undefined {
  const [r, listed] = snapshot(s.db, () => [
    s.db.prepare('SELECT username, identity, trust, pending_identity, updated_at, sealed, account_key FROM contacts WHERE username = ?').get(username) as Row | undefined,
    viewManifest(s).contacts.get(username),
  ] as const);
  if (!r) return listed ? Object.freeze({ username, integrity: 'failed', why: 'deleted' } as const) : undefined;
  return checkCached(s, r, listed);
}

/** Every contact the store holds or the manifest names, by username. */
export function listContacts(s: Store): ContactRead[] {
  const [rows, m] = snapshot(s.db, () => [s.db.prepare('SELECT username, identity, trust, pending_identity, updated_at, sealed, account_key FROM contacts').all() as Row[], loadManifest(s)] as const);
  const out = new Map<string, ContactRead>();
  for (const r of rows) out.set(r.username, check(s, r, m.contacts.get(r.username)));
  for (const username of m.contacts.keys()) if (!out.has(username)) out.set(username, { username, integrity: 'failed', why: 'deleted' });
  return [...out.values()].sort((a, b) => (a.username < b.username ? -1 : 1));
}

/** A trustworthy contact or undefined; a record that failed its check throws (exit 4). */
export function getContact(s: Store, username: string): Contact | undefined {
  const c = readContact(s, username);
  if (c?.integrity === 'failed') throw new IntegrityError(username, 'contact record');
  return c;
}

/** Nothing may be sent to this contact, and what arrives from them is flagged. */
export function isBlocked(s: Store, username: string): boolean {
  const c = readContact(s, username);
  return c !== undefined && (c.integrity === 'failed' || c.trust === 'changed');
}

/** Writes the record and its readable copy, and its manifest entry. Call inside a transaction. */
export function writeContact(s: Store, username: string, rec: ContactRecord, now: number): void {
  const sealed = putContactRow(s, username, rec, now);
  updateManifest(s, (m) => m.contacts.set(username, rowDigest(sealed)));
}

/** The row alone (the caller records its digest): for the format migration, which builds the manifest once. */
export function putContactRow(s: Store, username: string, rec: ContactRecord, now: number): Uint8Array {
  const sealed = s.sealer.seal('contact', [username], encodeContactRecord(rec));
  s.db
    .prepare(
      `INSERT INTO contacts (username, identity, trust, pending_identity, added_at, updated_at, sealed, account_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (username) DO UPDATE SET identity = excluded.identity, trust = excluded.trust, pending_identity = excluded.pending_identity,
         updated_at = excluded.updated_at, sealed = excluded.sealed, account_key = excluded.account_key`,
    )
    .run(
      username,
      Buffer.from(encodePublicIdentity(rec.identity)),
      rec.trust,
      rec.pendingIdentity ? Buffer.from(encodePublicIdentity(rec.pendingIdentity)) : null,
      rec.addedAt,
      now,
      Buffer.from(sealed),
      rec.account ? Buffer.from(rec.account.key) : null,
    );
  forgetPageReads(s.db, 'contact', username);
  return sealed;
}

/**
 * Records an identity seen for `username` (from the key directory or a first message) and says
 * what it means: `new` (first sight, now trusted), `same`, `changed` (contact now blocked; also for
 * a record that failed its check, which is never overwritten here) or `rejected` (a key the user
 * rejected: nothing changes, and nothing is sent to or accepted from it). Call inside the
 * transaction that uses the identity.
 *
 * `account`: the contact's account key and newest device list as client/core/device-lists.ts
 * accepted them from the relay (the identity is then one of the list's entries), or null when
 * nothing is known of them here (the relay has no list for the contact, or the identity came in a
 * message). The first list seen pins its account key (TOFU); a list under another account key is a
 * change like a changed identity. A contact marked verified on its identity safety number stays
 * verified when its account key is first pinned: the number shown becomes the account's (trust.ts),
 * and the verified identity signed the list entry that binds it to that key (PROTOCOL.md D.7).
 *
 * `device`: the device the identity is used by. An identity that the contact's account key lists
 * for that device (the list given under the pinned key, or else the pinned list) is one of the
 * contact's keys, not a change: another device of theirs, or a device whose list entry changed
 * (fan-out, docs/PROTOCOL.md D.13). A first list (nothing pinned yet) vouches for it only when it
 * also holds the identity pinned so far.
 */
export function observeIdentity(
  s: Store,
  username: string,
  identity: PublicIdentity,
  now: number,
  account: PinnedAccount | null = null,
  device?: number,
): 'new' | 'same' | 'changed' | 'rejected' {
  const c = readContact(s, username);
  if (c?.integrity === 'failed') return 'changed';
  if (!c) {
    writeContact(s, username, { identity, trust: 'unverified', pendingIdentity: null, trustBefore: 'unverified', rejected: [], addedAt: now, account }, now);
    return 'new';
  }
  const accountChanged = account !== null && c.account != null && !equalBytes(account.key, c.account.key);
  // An account key the user rejected (verify --reject, or --accept of the keys it replaced) stays
  // refused, as a rejected identity does, instead of coming back as a pending change each fetch.
  if (account !== null && isAccountRejected(c, account.key) && !(c.account && equalBytes(c.account.key, account.key))) return 'rejected';
  if (device !== undefined && !accountChanged && c.trust !== 'changed' && !sameIdentity(c.identity, identity)) {
    const vouching: ContactRecord = { ...c, account: account ?? c.account ?? null };
    const firstPin = !c.account && account !== null;
    if (pinnedListHolds(vouching, device, identity) && (!firstPin || listHoldsKey(account.list, c.identity))) {
      if (account && (!c.account || !equalBytes(account.list, c.account.list))) {
        // Trust is kept on a first pin only when the identity pinned here vouches for the key (D.7).
        const trust = firstPin && c.trust === 'verified' && !listHolds(account.list, c.identity) ? 'unverified' : c.trust;
        writeContact(s, username, { ...c, trust, account }, now);
      }
      return 'same';
    }
  }
  if (sameIdentity(c.identity, identity) && !accountChanged && pinnedIdentityListed(c, (account ?? c.account)?.list ?? null)) {
    if (c.trust === 'changed') return 'changed';
    if (account && (!c.account || !equalBytes(account.list, c.account.list))) {
      // Trust is kept: the identity pinned here signed, in the list, that it belongs to this account
      // key (D.7), so a verified identity vouches for it. Checked again rather than assumed.
      const trust = c.trust === 'verified' && !listHolds(account.list, identity) ? 'unverified' : c.trust;
      writeContact(s, username, { ...c, trust, account }, now);
    }
    return 'same';
  }
  if (!accountChanged && isRejected(c, identity)) return 'rejected';
  if (c.trust === 'changed' && c.pendingIdentity && sameIdentity(c.pendingIdentity, identity) && (account === null || (c.pendingAccount != null && equalBytes(c.pendingAccount.key, account.key)))) {
    return 'changed';
  }
  const trustBefore = c.trust === 'changed' ? c.trustBefore : c.trust;
  const pendingAccount = account ?? (c.trust === 'changed' ? (c.pendingAccount ?? null) : null);
  writeContact(s, username, { ...c, trust: 'changed', pendingIdentity: identity, trustBefore, pendingAccount }, now);
  return 'changed';
}
