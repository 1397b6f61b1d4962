// Fan-out (docs/PROTOCOL.md D.13): which devices a pairwise message goes to, and the "sent by me"
// copies for our own account's other devices.
//
// A contact whose account key is pinned is reached on every device of the device list pinned for
// them (accepted under that key, device-lists.ts): a session with each, started by X3DH from the
// device's bundle where there is none, and no session with a device the list no longer holds. A
// contact with no list (trust on first use of one identity: clients from before device lists, or
// docs/SECOND_CLIENT.md) is reached as before: every device we have a session with, or every
// bundle the relay serves when we have none.
//
// Our own account's list is checked under the account key this home holds and kept in `meta`
// (own_device_list); the relay cannot add a device to it, only withhold a newer version. The kept
// text is listed in the integrity manifest (PROTOCOL.md S.4), so a disk writer cannot put back an
// older list of ours (one still holding a device we removed since): a kept list the manifest does
// not vouch for is not believed, and the next check fetches our lists again from version 1.
import { acceptDeviceLists, isLegacyDeviceList, parseDeviceList, verifyDeviceList, type DeviceEntry, type DeviceList } from '../../crypto/device-list.js';
import { equalBytes, fromBase64url, toBase64url, utf8 } from '../../crypto/encoding.js';
import { parsedList, sameDeviceKeys } from './contact-record.js';
import { shareGroupsWithOwnDevices } from './group-change.js';
import { shareStandingsWith } from './standings-sync.js';
import { isFastchatError } from '../../crypto/errors.js';
import type { PublicIdentity } from '../../crypto/identity.js';
import { sessionIdentity } from '../../crypto/session.js';
import { readContact } from './contacts.js';
import { ourAddress, type Client } from './context.js';
import { getMeta, setMeta, snapshot, tx, type DB } from './db.js';
import { IntegrityError } from './integrity/errors.js';
import { loadManifest, rowDigest, sameDigest, updateManifest } from './integrity/manifest.js';
import { accountKeyOf } from './secrets.js';
import { fetchDeviceLists } from './relay-api.js';
import type { RelayTarget } from './relay-http.js';
import { dropSession, loadSession, sessionDevices } from './sessions.js';

/**
 * How old a check of a contact's (or our own) device list may be before a command that encrypts
 * for them checks again. `send` checks on every call; this bounds how long a long-running command
 * (chat) or a receipt keeps encrypting to a list the account has since changed.
 */
export const LIST_RECHECK_MS = 5 * 60_000;

const checkedAt = new WeakMap<DB, Map<string, number>>();

/** Whether `user`'s lists were not checked in this process within LIST_RECHECK_MS (or a refusal asked for a check). */
export function listCheckDue(c: Client, user: string): boolean {
  const at = checkedAt.get(c.db)?.get(user);
  return at === undefined || Date.now() - at >= LIST_RECHECK_MS;
}

export function noteListChecked(c: Client, user: string): void {
  let m = checkedAt.get(c.db);
  if (!m) checkedAt.set(c.db, (m = new Map()));
  m.set(user, Date.now());
}

/** The next encryption for `user` checks their lists first (the relay refused a device of theirs). */
export function forceListCheck(c: { db: DB }, user: string): void {
  checkedAt.get(c.db)?.delete(user);
  checkedAt.get(c.db)?.delete(BUNDLES + user);
}

const BUNDLES = '\0bundles:';

/**
 * Whether to fetch `user`'s bundles for listed devices we have no session with. Each fetch takes a
 * one-time prekey of every device of theirs, so a listed device that has published no keys yet
 * (a device still linking) costs one fetch per LIST_RECHECK_MS in a process, not one per message.
 */
export function bundleFetchDue(c: Client, user: string): boolean {
  return listCheckDue(c, BUNDLES + user);
}

export function noteBundlesFetched(c: Client, user: string): void {
  noteListChecked(c, BUNDLES + user);
}

/** The entries of the pinned list of `peer` (our own other devices, for us), or null when no account is pinned for them (TOFU). */
export function listedDevices(c: Client, peer: string): DeviceEntry[] | null {
  if (peer === ourAddress(c).user) {
    const own = ownList(c);
    return own ? otherDevices(c, own) : [];
  }
  const rec = readContact(c, peer);
  // A pinned list of the first format vouches for nothing (D.7): the contact is on its identity alone until a new list is pinned.
  if (rec?.integrity !== 'ok' || !rec.account || isLegacyDeviceList(rec.account.list)) return null;
  return parsedList(rec.account.list).devices.slice();
}

/**
 * Drops every session with a device of `peer` that their pinned list (our own list, for our own
 * account) does not hold with the session's identity: a device removed or re-keyed. Nothing is
 * dropped for a contact with no list. Call inside a transaction. Returns the devices dropped.
 */
export function dropUnlistedSessions(c: Client, peer: string): number[] {
  const listed = listedDevices(c, peer);
  if (listed === null) return [];
  const dropped: number[] = [];
  for (const device of sessionDevices(c.db, c.sealer, peer)) {
    let keep = false;
    try {
      const state = loadSession(c.db, c.sealer, peer, device);
      keep = state !== undefined && listed.some((d) => d.device === device && sameDeviceKeys(d, sessionIdentity(state)));
    } catch (e) {
      if (!(e instanceof IntegrityError)) throw e;
      continue; // left for sendRefusal to report
    }
    if (keep) continue;
    dropSession(c.db, c.sealer, peer, device);
    dropped.push(device);
  }
  return dropped;
}

// ---- our own account -------------------------------------------------------------------------

const OWN_LIST_KEY = 'own_device_list';

/**
 * The last list ownList verified, per store: the stored text and the account key it was checked
 * under. Every queued text, incoming copy and encryption for ourselves asks for the list, and a
 * check is one signature per entry plus the list's.
 */
const verifiedOwn = new WeakMap<DB, { stored: string; accountKey: Uint8Array; list: DeviceList | null }>();

/** Our account's newest accepted list, verified under this home's account key; null if none is kept. */
export function ownList(c: Client): DeviceList | null {
  const stored = keptOwnList(c);
  if (!stored) return null;
  const accountKey = accountKeyOf(c.secrets).publicKey;
  const memo = verifiedOwn.get(c.db);
  if (memo && memo.stored === stored && equalBytes(memo.accountKey, accountKey)) return memo.list;
  let list: DeviceList | null;
  try {
    list = verifyDeviceList({ user: ourAddress(c).user, accountKey }, fromBase64url(stored));
  } catch (e) {
    // A list not under our key (edited, or from before a key replacement): none is believed.
    if (!isFastchatError(e)) throw e;
    list = null;
  }
  verifiedOwn.set(c.db, { stored, accountKey, list });
  return list;
}

/** The kept text of our own list, if the integrity manifest lists it with this digest. */
function keptOwnList(c: Client): string | undefined {
  const [stored, listed] = snapshot(c.db, () => [getMeta(c.db, OWN_LIST_KEY), loadManifest(c).values.get(OWN_LIST_KEY)] as const);
  return stored !== undefined && sameDigest(listed, rowDigest(utf8(stored))) ? stored : undefined;
}

/** Keeps `text` as our own list, with its manifest entry, in the caller's transaction. */
export function keepOwnList(c: Client, text: string): void {
  setMeta(c.db, OWN_LIST_KEY, text);
  updateManifest(c, (m) => m.values.set(OWN_LIST_KEY, rowDigest(utf8(text))));
}

/** The devices of our own list other than this one. */
function otherDevices(c: Client, list: DeviceList): DeviceEntry[] {
  const me = ourAddress(c).device;
  return list.devices.filter((d) => d.device !== me);
}

/** Whether our own kept list holds `device` with `identity` (a sync copy must come from such a device). */
export function ownListHolds(c: Client, device: number, identity: PublicIdentity): boolean {
  const own = ownList(c);
  return own !== null && device !== ourAddress(c).device && own.devices.some((d) => d.device === device && sameDeviceKeys(d, identity));
}

/** Whether our own kept list names another device than this one: sent messages then get sync copies. */
export function hasOtherDevices(c: Client): boolean {
  const own = ownList(c);
  return own !== null && otherDevices(c, own).length > 0;
}

/**
 * Fetches our account's lists and keeps the newest one that follows the kept list under our
 * account key (D.5 with the kept list as `last`, or from version 1 when none is kept). A relay
 * serving lists that do not hold together, or lists under another key, changes nothing (this
 * home's own checks at login report those). Sessions with devices the new list leaves out are dropped.
 */
export async function refreshOwnList(c: Client, t: RelayTarget): Promise<DeviceList | null> {
  const self = ourAddress(c);
  const me = self.user;
  const kept = ownList(c);
  const lists = await fetchDeviceLists(t, me, kept ? kept.version - 1 : 0);
  noteListChecked(c, me);
  if (lists.length === 0) return kept;
  let list: DeviceList;
  try {
    list = acceptDeviceLists({ user: me, accountKey: accountKeyOf(c.secrets).publicKey }, kept, lists).list;
  } catch (e) {
    if (isFastchatError(e)) return kept;
    throw e;
  }
  if (kept && list.version === kept.version) return kept;
  tx(c.db, () => {
    keepOwnList(c, toBase64url(lists[lists.length - 1]!));
    dropUnlistedSessions(c, me);
    // A device linked since: it learns our groups from us (G.9); their keys follow at each member's next send.
    const added = list.devices.filter((d) => kept !== null && !kept.devices.some((k) => k.device === d.device && sameDeviceKeys(k, d)));
    if (added.length > 0) shareGroupsWithOwnDevices(c);
    // And whom we accepted and blocked, so its message requests agree with ours (D.12 step 5).
    for (const d of added) if (d.device !== self.device) shareStandingsWith(c, d.device);
  });
  return list;
}
