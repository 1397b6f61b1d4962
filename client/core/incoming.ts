// Receiving: one relay `message` frame → decrypt, store, dedupe, in one transaction with the
// session state it advanced. The caller acks the frame to the relay only after this returns, so a
// crash in between means a redelivery, which the `seen` table turns into a no-op.
//
// Nothing is dropped silently: a frame that cannot be decrypted becomes a `failed` result (and a
// history row) naming the sender and a typed reason.
import { isCryptoError } from '../../crypto/errors.js';
import { fromBase64url } from '../../crypto/encoding.js';
import type { PublicIdentity } from '../../crypto/identity.js';
import { acceptPreKeyMessage, decryptMessage, messageType, parseEnvelope, sessionIdentity, type SessionState } from '../../crypto/session.js';
import { contactHolds, isRejected } from './contact-record.js';
import { observeIdentity, readContact, sameIdentity } from './contacts.js';
import { noteGaps } from './gaps.js';
import { ourAddress, type Client } from './context.js';
import { nextArrival, tx, withPageArrivals, withPageReads } from './db.js';
import { isGroupMessageBody, receiveGroupControl, receiveGroupMessage, type GroupIncoming, type GroupRef } from './group-receive.js';
import { queueReceipt, queueReceipts } from './outbox.js';
import { parsePayload, PayloadError, receiptIds, type FileRef, type SyncPayload } from './payload.js';
import { fileLine } from './files/names.js';
import { recordIncomingFile } from './files/store.js';
import { deleteOneTimePreKey, preKeyStore } from './prekey-store.js';
import type { MessageFrame } from './relay-ws.js';
import { IntegrityError } from './integrity/errors.js';
import { loadPreviousSession, loadSession, promotePreviousSession, replaceSession, saveSession } from './sessions.js';
import { listGroups, PageSenderKeys } from './group-store.js';
import { ownListHolds } from './fanout.js';
import { HistoryRefused, storeHistory } from './history-receive.js';
import { storeStandings } from './standings-sync.js';
import { admitInvitedGroupMessage, admitMessage, isInvitedGroup, markAccepted, noteInvitation, standing } from './requests.js';
import { utf8 } from '../../crypto/encoding.js';
import type { SignatureCheck } from '../../crypto/group/index.js';
import type { SignatureVerifier } from './platform/signatures.js';
import { SignaturesAhead, type AheadCheck } from './signatures-ahead.js';

export type Incoming =
  // sentAt: the sender's clock (its claim); relayAt: the relay's clock when it stored the message.
  | {
      kind: 'text';
      id: string;
      from: string;
      device: number;
      text: string;
      sentAt: string;
      receivedAt: string;
      relayAt: string;
      identityChanged: boolean;
      newContact: boolean;
      group?: GroupRef;
      /** A group message sent at an epoch that had ended when it arrived (read within the grace). */
      beforeChange?: boolean;
      file?: FileRef;
      /** From a stranger (client/core/requests.ts): kept, not shown as a message. */
      request?: true;
    }
  // Not kept: from a blocked user, or a request (or invitation) past its bound (counted there), or a
  // typing indicator that came as a stored message (typing.ts: it takes no session position).
  | { kind: 'dropped'; from: string; reason: 'blocked' | 'request_full' | 'typing' }
  /** ids: every message the receipt names (its `id` last). */
  | { kind: 'receipt'; from: string; id: string; ids: string[]; read?: true }
  /** A message this account sent to `to` from its other device `device` (a "sent by me" copy). */
  /** (`to` null and `group` set: a message this account sent to a group from another device.) */
  | { kind: 'sent_copy'; id: string; to: string | null; group?: GroupRef; device: number; text: string; sentAt: string }
  /** A batch of history from our own device `device` (D.12 step 4): `added` of its `entries` were new here. */
  | { kind: 'history'; device: number; entries: number; added: number }
  /** Whom the account accepted and blocked, from our own device `device` (D.12 step 5): newly taken here. */
  | { kind: 'standings'; device: number; accepted: number; blocked: number }
  | { kind: 'duplicate'; from: string; replayed?: boolean } // replayed: same ciphertext under a new relay id
  | { kind: 'failed'; from: string; device: number; id: string; reason: string; message: string; receivedAt: string }
  | GroupIncoming;

export const FAILURE_TEXT: Record<string, string> = {
  no_session: 'no session with the sender (they must start a new one; see docs/CLI.md "repair")',
  decrypt_failed: 'the message did not decrypt (tampered, or encrypted for a session we no longer have)',
  too_far_ahead: 'the message is too far ahead of the session (too many messages lost)',
  unknown_prekey: 'the first message names a prekey we do not hold (used or expired)',
  bad_signature: 'a signature in the first message does not verify',
  malformed: 'the message is malformed',
  unsupported_version: 'the message uses a protocol version we do not speak',
  bad_key: 'the message carries a refused key',
  bad_payload: 'the message decrypted but its content is not a fastchat message',
  identity_changed: 'a receipt, group change or key from a contact whose identity key changed (verify them first)',
  new_identity: 'a receipt from an identity first seen in that very message: no message of ours went to it',
  identity_rejected: 'a first message under an identity key you rejected for this contact (not shown)',
  integrity_failed: 'our stored session with the sender failed its integrity check (changed outside fastchat); not used',
  device_not_listed: "a message from a device of our own account that our account's device list does not hold (not shown)",
  history_unknown_group: 'a history batch from a device of our own account names a group this device does not hold (none of it stored)',
};

class Failure extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * A first message from a device whose identity the kept device list of the sender (a contact's
 * pinned list, or our own account's) does not hold: their newest lists may. Thrown only when the
 * caller can fetch lists (IncomingPager with `refreshLists`); nothing of the frame is stored, and
 * it is processed again once the lists were checked.
 */
export class NeedsLists extends Error {
  constructor(readonly user: string) {
    super(`device lists of @${user} needed`);
  }
}

export interface IncomingOptions {
  /** Throw NeedsLists (instead of treating the key as unknown) when a newer list may hold it. */
  mayFetchLists?: boolean;
  /**
   * Takes the receipt a stored message is owed, for the caller to queue within the same
   * transaction (IncomingPager: one receipt per sender and page). Without it, queued at once.
   */
  receipt?: (peer: string, messageId: string) => void;
  /** The page's session cache (IncomingPager): current sessions kept in memory, saved at the page's end. */
  sessions?: PageSessions;
  /** The page's sender-key cache (IncomingPager, group-store.ts): the same for group receiving chains. */
  groupKeys?: PageSenderKeys;
  /** The frame's group message signature, checked ahead (IncomingPager, signatures-ahead.ts). */
  signature?: SignatureCheck;
  /** The frame's body, decoded already (IncomingPager, for the check ahead): not decoded twice. */
  envelope?: Uint8Array;
}

/**
 * The current session of each peer device a page of frames decrypted with, kept in memory across
 * the page and saved once at its end, in the page's transaction: one load, seal, row write and
 * integrity-manifest update per device and page instead of per message (docs/PERFORMANCE.md
 * "Client backlog"). It holds only what frames that opened with the current session left; before
 * any other path (the previous session, a first message, a group change, a failure report) all of
 * it is saved and forgotten, so those read the store as it would be without the cache. A frame
 * whose storing throws has its savepoint rolled back: `restore` takes the cache back with it.
 */
export class PageSessions {
  private held = new Map<string, { user: string; device: number; state: SessionState; dirty: boolean }>();

  constructor(private readonly c: Client) {}

  current(user: string, device: number): SessionState | undefined {
    return this.held.get(`${user}/${device}`)?.state;
  }

  put(user: string, device: number, state: SessionState): void {
    this.held.set(`${user}/${device}`, { user, device, state, dirty: true });
  }

  /** Saves every changed session and forgets them all (inside the page's transaction). */
  writeBack(): void {
    for (const h of this.held.values()) if (h.dirty) saveSession(this.c.db, this.c.sealer, h.user, h.device, h.state, this.c.now());
    this.held.clear();
  }

  /** The cache as it is before a frame, for `restore` when that frame's savepoint rolls back. */
  mark(): Map<string, { user: string; device: number; state: SessionState; dirty: boolean }> {
    return new Map(this.held);
  }

  restore(m: Map<string, { user: string; device: number; state: SessionState; dirty: boolean }>): void {
    this.held = m;
  }
}

/**
 * Tries the current session, then the previous one (see sessions.ts). A PreKeyMessage is tried
 * here too: the initiator repeats its X3DH header until we reply, and those repeats belong to the
 * session the first one created. Returns undefined when no session opens it.
 */
function openWithSessions(
  c: Client,
  user: string,
  device: number,
  envelope: Uint8Array,
  now: number,
  sessions: PageSessions | undefined,
): { parsed: Parsed; identity: PublicIdentity } | undefined {
  // A row that failed its integrity check is never used (a first message replaces it).
  let current = sessions?.current(user, device);
  if (!current) {
    try {
      current = loadSession(c.db, c.sealer, user, device);
    } catch (e) {
      if (!(e instanceof IntegrityError)) throw e;
      sessions?.writeBack();
      return undefined;
    }
  }
  if (current) {
    try {
      const r = decryptMessage(current, envelope);
      const parsed = parseOnce(r.plaintext);
      // A typing indicator takes no position in the chain, however it came (typing.ts): the
      // state it made is dropped, so the sender's next message, in the same position, opens.
      if (isTyping(parsed)) return { parsed, identity: sessionIdentity(r.state) };
      if (sessions) sessions.put(user, device, r.state);
      else saveSession(c.db, c.sealer, user, device, r.state, now);
      noteGaps(c, user, device, current, r.state, parseEnvelope(envelope).header, now);
      return { parsed, identity: sessionIdentity(r.state) };
    } catch (e) {
      if (isCryptoError(e, 'duplicate_message')) throw e;
    }
  }
  // Off the common path: the store holds what the page decrypted before this frame.
  sessions?.writeBack();
  const previous = loadPreviousSession(c.db, c.sealer, user, device);
  if (previous) {
    try {
      const r = decryptMessage(previous, envelope);
      const parsed = parseOnce(r.plaintext);
      if (isTyping(parsed)) return { parsed, identity: sessionIdentity(r.state) };
      promotePreviousSession(c.db, c.sealer, user, device, r.state, now);
      noteGaps(c, user, device, previous, r.state, parseEnvelope(envelope).header, now);
      return { parsed, identity: sessionIdentity(r.state) };
    } catch (e) {
      if (isCryptoError(e, 'duplicate_message')) throw e;
    }
  }
  return undefined;
}

/**
 * A decrypted payload, parsed once before its session state is kept: whether it is a typing
 * indicator decides that (it keeps none), and processIncoming uses the same parse. A payload that
 * does not parse keeps its error until processIncoming fails the message with it.
 */
type Parsed = { payload: ReturnType<typeof parsePayload> } | { error: unknown };

function parseOnce(plaintext: Uint8Array): Parsed {
  try {
    return { payload: parsePayload(plaintext) };
  } catch (e) {
    return { error: e };
  }
}

function isTyping(p: Parsed): boolean {
  return 'payload' in p && p.payload.type === 'typing';
}

export function processIncoming(c: Client, f: MessageFrame, opts: IncomingOptions = {}): Incoming {
  const me = ourAddress(c);
  const from = f.from;
  // From another device of our own account: only "sent by me" copies, only from a listed device.
  const own = from.user === me.user;
  const now = c.now();
  const receivedAt = new Date(now).toISOString();
  return tx(c.db, (): Incoming => {
    // One statement: the row exists already (changes 0) exactly when the frame was seen before.
    const first = c.db.prepare('INSERT OR IGNORE INTO seen (sender, device, client_id, at) VALUES (?, ?, ?, ?)').run(from.user, from.device, f.clientId, now);
    if (first.changes === 0) return { kind: 'duplicate', from: from.user };
    try {
      const envelope = opts.envelope ?? fromBase64url(f.body);
      if (isGroupMessageBody(envelope)) return admitGroupMessage(c, receiveGroupMessage(c, { from, clientId: f.clientId, sentAt: f.sentAt, receivedAt, keys: opts.groupKeys, signature: opts.signature }, envelope));
      let parsed: Parsed;
      let identity: PublicIdentity;
      let identityChanged = false;
      let newContact = false;
      const opened = openWithSessions(c, from.user, from.device, envelope, now, opts.sessions);
      if (opened && isTyping(opened.parsed)) return { kind: 'dropped', from: from.user, reason: 'typing' };
      if (opened) {
        ({ parsed, identity } = opened);
        if (own) {
          // The device may have left our list since the session began.
          if (!ownListHolds(c, from.device, identity)) throw new Failure('device_not_listed');
        } else {
          // Flagged when the contact is blocked (isBlocked: a record that failed its check, or a
          // changed key), and when the session disagrees with their keys. One read of the record:
          // it is unsealed, checked and parsed each time (docs/PERFORMANCE.md "Client backlog").
          const contact = readContact(c, from.user);
          identityChanged = contact === undefined || contact.integrity === 'failed' || contact.trust === 'changed' || !contactHolds(contact, from.device, identity);
        }
      } else if (messageType(envelope) === 'prekey') {
        const x3dh = parseEnvelope(envelope).preKey!;
        const ephemeral = Buffer.from(x3dh.ephemeral);
        if (own && !ownListHolds(c, from.device, x3dh.identity)) {
          if (opts.mayFetchLists) throw new NeedsLists(from.user);
          throw new Failure('device_not_listed');
        }
        // A key the user rejected starts no session and shows nothing (checked before any prekey is used).
        const known = readContact(c, from.user);
        if (known?.integrity === 'ok' && !sameIdentity(known.identity, x3dh.identity) && isRejected(known, x3dh.identity)) throw new Failure('identity_rejected');
        // Another device of a contact whose account is pinned: their newest list may hold it (D.13).
        if (opts.mayFetchLists && known?.integrity === 'ok' && known.account && known.trust !== 'changed' && !contactHolds(known, from.device, x3dh.identity)) {
          throw new NeedsLists(from.user);
        }
        // Our sessions could not open it, so it is a replay from an expired chain or a tampered
        // repeat of a first message: never a reason to start the session over.
        if (c.db.prepare('SELECT 1 FROM accepted_prekey_messages WHERE ephemeral = ?').get(ephemeral)) throw new Failure('decrypt_failed');
        // crypto/ reports every failed first message as decrypt_failed; whether we still hold the
        // prekeys its public header names tells the user why (rotated out and pruned, or used).
        const store = preKeyStore(c.db, c.sealer);
        if (!store.signedPreKey(x3dh.signedPreKeyId) || (x3dh.oneTimePreKeyId !== null && !store.oneTimePreKey(x3dh.oneTimePreKeyId))) throw new Failure('unknown_prekey');
        const r = acceptPreKeyMessage(c.secrets.identity, me, store, from, envelope);
        parsed = parseOnce(r.plaintext);
        // Never sent in a first message (typing.ts); one that is spends no prekey and starts nothing.
        if (isTyping(parsed)) return { kind: 'dropped', from: from.user, reason: 'typing' };
        c.db.prepare('INSERT INTO accepted_prekey_messages (ephemeral, signed_prekey_id, at) VALUES (?, ?, ?)').run(ephemeral, x3dh.signedPreKeyId, now);
        if (!own) {
          const seenAs = observeIdentity(c, from.user, r.theirIdentity, now, null, from.device);
          identityChanged = seenAs === 'changed' || seenAs === 'rejected';
          newContact = seenAs === 'new';
        }
        replaceSession(c.db, c.sealer, from.user, from.device, r.state, now);
        noteGaps(c, from.user, from.device, undefined, r.state, parseEnvelope(envelope).header, now);
        if (r.usedOneTimePreKeyId !== null) deleteOneTimePreKey(c.db, r.usedOneTimePreKeyId);
        identity = r.theirIdentity;
      } else {
        let reason = 'no_session';
        try {
          if (loadSession(c.db, c.sealer, from.user, from.device)) reason = 'decrypt_failed';
        } catch (e) {
          if (!(e instanceof IntegrityError)) throw e;
          reason = 'integrity_failed';
        }
        throw new Failure(reason);
      }
      // A payload that did not parse fails here, its session position spent, as any bad payload.
      if ('error' in parsed) throw parsed.error;
      const p = parsed.payload;
      // A copy of what we sent, and history and standings for a device just linked, come only from
      // our own listed devices, and they send nothing else but the groups we are in (a change made there,
      // their sender key: G.9).
      if (p.type === 'sync' || p.type === 'history' || p.type === 'standings' ? !own : own && p.type !== 'group_change' && p.type !== 'sender_key') throw new Failure('bad_payload');
      // Dropped above before any state was kept; here only for the payload's type.
      if (p.type === 'typing') return { kind: 'dropped', from: from.user, reason: 'typing' };
      if (p.type === 'sync') return storeSentCopy(c, from.device, p);
      if (p.type === 'history') return storeHistory(c, from.device, p);
      if (p.type === 'standings') return storeStandings(c, from.device, p);
      if (p.type === 'group_change' || p.type === 'sender_key') {
        // Group state follows only identities we trust: a changed key waits for `verify --accept`.
        if (identityChanged) throw new Failure('identity_changed');
        // Group changes may look at our sessions and change sender keys: they see both as stored.
        opts.sessions?.writeBack();
        opts.groupKeys?.writeBack();
        // A group that appears with this change is one we were added to: an invitation when the
        // one who added us is not accepted (requests.ts).
        const before = p.type === 'group_change' ? new Set(listGroups(c).map((g) => g.idHex)) : undefined;
        const r = receiveGroupControl(c, { from, clientId: f.clientId, sentAt: f.sentAt, receivedAt, mayFetchLists: opts.mayFetchLists === true }, identity, p);
        if (before && !own) for (const g of listGroups(c)) if (!before.has(g.idHex)) noteInvitation(c, g.idHex, from.user);
        return r;
      }
      if (p.type === 'receipt') {
        // A receipt changes what we believe about our own messages, so it is taken only from the
        // identity we sent them to: never from a changed key, and never from an identity that first
        // shows itself in this very message (no message of ours went to it; a relay minting keys
        // under the peer's name would otherwise mark undelivered messages delivered).
        if (identityChanged) throw new Failure('identity_changed');
        if (newContact) throw new Failure('new_identity');
        // Every id it names (§12.2); an id we never sent to this peer changes nothing.
        const ids = receiptIds(p);
        // A read receipt marks read; a delivery receipt marks delivered, never back from read (a
        // delivery receipt may come after the read one: another device of theirs, a late page).
        const mark = p.read
          ? c.db.prepare("UPDATE messages SET status = 'read' WHERE peer = ? AND direction = 'out' AND id = ?")
          : c.db.prepare("UPDATE messages SET status = 'delivered' WHERE peer = ? AND direction = 'out' AND id = ? AND status <> 'read'");
        for (const id of ids) mark.run(from.user, id);
        return { kind: 'receipt', from: from.user, id: p.id, ids, ...(p.read ? { read: true as const } : {}) };
      }
      const file = p.type === 'file' ? p.file : undefined;
      const body = c.sealer.seal('message', [from.user, 'in', p.id], utf8(file ? fileLine(file, p.text) : p.text));
      // A blocked user's message is not kept; a stranger's is a request, kept within its bound.
      const admit = admitMessage(c, from.user, body);
      if (admit === 'drop') {
        c.db.prepare('DELETE FROM seen WHERE sender = ? AND device = ? AND client_id = ?').run(from.user, from.device, f.clientId);
        return { kind: 'dropped', from: from.user, reason: standing(c, from.user) === 'blocked' ? 'blocked' : 'request_full' };
      }
      const inserted = c.db
        .prepare("INSERT OR IGNORE INTO messages (id, peer, direction, body, sent_at, received_at, relay_at, status, identity_changed, unread, read_owed) VALUES (?, ?, 'in', ?, ?, ?, ?, 'received', ?, ?, ?)")
        // read_owed: a message that gets a delivery receipt (below) gets a read receipt once a
        // chat or the page shows it (read-receipts.ts).
        .run(p.id, from.user, Buffer.from(body), p.sentAt, receivedAt, f.sentAt, identityChanged ? 1 : 0, nextArrival(c.db), !identityChanged && admit === 'show' ? 1 : 0);
      if (inserted.changes === 0) return { kind: 'duplicate', from: from.user };
      // The blob is fetched after this transaction (network); the key waits sealed in the store.
      if (file) recordIncomingFile(c, { id: p.id, from: from.user, group: null, file });
      // Receipts go only to a trusted identity: an unverified new key learns nothing from us, and
      // a stranger learns nothing until the request is accepted (requests.ts sends them then).
      if (!identityChanged && admit === 'show') {
        if (opts.receipt) opts.receipt(from.user, p.id);
        else queueReceipt(c, from.user, p.id);
      }
      return { kind: 'text', id: p.id, from: from.user, device: from.device, text: p.text, sentAt: p.sentAt, receivedAt, relayAt: f.sentAt, identityChanged, newContact, ...(file ? { file } : {}), ...(admit === 'request' ? { request: true as const } : {}) };
    } catch (e) {
      const reason = e instanceof Failure ? e.reason : e instanceof HistoryRefused ? e.code : e instanceof PayloadError ? 'bad_payload' : isCryptoError(e) ? e.code : undefined;
      if (reason === undefined) throw e;
      if (reason === 'duplicate_message') return { kind: 'duplicate', from: from.user, replayed: true };
      c.db
        .prepare("INSERT OR IGNORE INTO messages (id, peer, direction, body, sent_at, received_at, relay_at, status, error, unread) VALUES (?, ?, 'in', NULL, ?, ?, ?, 'failed', ?, ?)")
        .run(f.clientId, from.user, f.sentAt, receivedAt, f.sentAt, reason, nextArrival(c.db));
      return { kind: 'failed', from: from.user, device: from.device, id: f.clientId, reason, message: FAILURE_TEXT[reason] ?? reason, receivedAt };
    }
  });
}

/**
 * A "sent by me" copy from another device of our account (D.13): stored in the conversation with
 * `to` as an outgoing message that was sent. No receipt goes back (the copy is ours). A file's
 * history line names the file; its blob is not fetched on this device.
 */
function storeSentCopy(c: Client, device: number, p: SyncPayload): Incoming {
  if (p.message.id !== p.id || p.to === ourAddress(c).user) throw new Failure('bad_payload');
  const m = p.message;
  const line = m.type === 'file' ? fileLine(m.file, m.text) : m.text;
  const inserted = c.db
    .prepare("INSERT OR IGNORE INTO messages (id, peer, direction, body, sent_at, status) VALUES (?, ?, 'out', ?, ?, 'sent')")
    .run(m.id, p.to, Buffer.from(c.sealer.seal('message', [p.to, 'out', m.id], utf8(line))), m.sentAt);
  if (inserted.changes === 0) return { kind: 'duplicate', from: ourAddress(c).user };
  // Writing to someone accepts them, on every device of the account.
  markAccepted(c, p.to);
  return { kind: 'sent_copy', id: m.id, to: p.to, device, text: line, sentAt: m.sentAt };
}

/**
 * A group message just stored: one from a blocked member is removed again (never shown), and one
 * in a group still an invitation is kept only within the invitation's bound. (Stored first, so
 * the sender's chain advances as in every other member's client.)
 */
function admitGroupMessage(c: Client, r: Incoming): Incoming {
  if (r.kind !== 'text' || !r.group) return r;
  const blocked = standing(c, r.from) === 'blocked';
  if (!blocked && (!isInvitedGroup(c, r.group.id) || admitInvitedGroupMessage(c, r.group.id))) return r;
  const gid = Buffer.from(r.group.id, 'hex');
  c.db.prepare("DELETE FROM group_messages WHERE group_id = ? AND sender = ? AND direction = 'in' AND id = ?").run(gid, r.from, r.id);
  if (r.file) c.db.prepare('DELETE FROM incoming_files WHERE sender = ? AND message_id = ?').run(r.from, r.id);
  return { kind: 'dropped', from: r.from, reason: blocked ? 'blocked' : 'request_full' };
}

/** From the first 4 base64url characters (3 bytes): whether the body carries a group message's tag. */
function mayBeGroupMessage(body: string): boolean {
  try {
    return body.length > 4 && isGroupMessageBody(fromBase64url(body.slice(0, 4)));
  } catch {
    return false;
  }
}

/** Most frames one transaction takes: bounds how long the store's write lock is held. */
export const INCOMING_PAGE_FRAMES = 256;

/**
 * Longest a page waits for its signatures checked ahead before it is stored with the rest verified
 * in line: a verifier that hangs (or a worker slow to start on a busy machine) delays, never stops.
 */
export const SIGNATURE_WAIT_MS = 1000;

/**
 * Frames checked ahead (decoded, their signature handed to the verifier): the page stored next and
 * the two after it, so the worker has two pages' store time to check a page.
 */
const AHEAD_FRAMES = 3 * INCOMING_PAGE_FRAMES;

type PendingFrame = { frame: MessageFrame; ack: (deliveryId: string) => void; prepared?: boolean; envelope?: Uint8Array | undefined; signature?: AheadCheck | undefined };

/**
 * Receives message frames a burst at a time: the frames that arrive together (a backlog page comes
 * as hundreds in a few reads) are stored in one transaction, each in a savepoint of its own (so
 * one frame's failure undoes only that frame), and acknowledged to the relay only after that
 * transaction has committed. One commit, one store-counter write and one burst of acks per page
 * instead of per message: receiving a backlog was a commit per message (docs/PERFORMANCE.md).
 *
 * A frame that throws (not a decrypt failure, which is a `failed` result, but a store error) stops
 * the page: the frames before it are committed and acked, it and those after are not, and `fail`
 * hears the error. `flush()` processes what is pending at once (before a frame that must come after
 * the messages, e.g. `expired`).
 *
 * With a `signatures` verifier, each group message's signature is checked ahead as its frame
 * arrives (signatures-ahead.ts: on the second core while this thread stores the page before), and
 * a page is stored once its checks are in (at most SIGNATURE_WAIT_MS); `flush()` does not wait:
 * what is not checked yet is verified in line. Either way order, acks and list checks are as above.
 */
export class IncomingPager {
  private pending: PendingFrame[] = [];
  private scheduled = false;
  private readonly ahead: SignaturesAhead | undefined;
  /** The first page's checks are out: it is stored when they come in, or when the timer fires. */
  private waiting: { frames: number; timer: ReturnType<typeof setTimeout>; promise: Promise<void>; done: () => void } | undefined;
  /** A check of a sender's device lists in flight: no frame is stored until it ends (order). */
  private checking: Promise<void> | undefined;
  /** Frames (relay delivery ids) whose sender's lists were checked for them: processed as they are now. */
  private readonly listsChecked = new Set<string>();

  /**
   * `refreshLists`: fetches and checks `user`'s device lists (a contact's, or our own account's),
   * for a first message from a device the kept list does not hold (NeedsLists). Without it such a
   * message is judged on the kept list alone.
   */
  constructor(
    private readonly c: Client,
    private readonly on: { result(r: Incoming, f: MessageFrame): void; fail(e: unknown): void; refreshLists?(user: string): Promise<void>; signatures?: SignatureVerifier | undefined },
  ) {
    this.ahead = on.signatures ? new SignaturesAhead(c, on.signatures, () => this.checksAnswered()) : undefined;
  }

  /**
   * Queues `f`, to be stored once the I/O of this turn of the event loop is read (setImmediate),
   * and then acked with `ack` (the socket it came over).
   */
  push(f: MessageFrame, ack: (deliveryId: string) => void): void {
    const p: PendingFrame = { frame: f, ack };
    this.pending.push(p);
    // Checked ahead only within AHEAD_FRAMES: the relay pushes a whole backlog without
    // waiting for acks, and every frame decoded and handed to the worker on arrival held 10,000
    // group frames three times over (the group pass's RSS 150 → 261 MiB); the rest is prepared as
    // it comes within reach (storeChecked).
    if (this.pending.length <= AHEAD_FRAMES) this.prepare(p);
    // While a page waits for its checks, the rest goes to the verifier a turn's frames at a time.
    if (this.pending.length >= INCOMING_PAGE_FRAMES && !this.waiting) this.storeChecked();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.storeChecked();
      });
    }
  }

  /**
   * With a verifier, decodes `p` if it is a group message (kept decoded for its page) and starts
   * its check. Only a group message: a pairwise frame kept decoded from its arrival to its page's
   * store (thousands, in a backlog) cost the pairwise pass ≈ 10 µs of main-thread CPU per message.
   */
  private prepare(p: PendingFrame): void {
    if (!this.ahead || p.prepared) return;
    p.prepared = true;
    if (!mayBeGroupMessage(p.frame.body)) return;
    try {
      p.envelope = fromBase64url(p.frame.body);
    } catch {
      return; // decoded again when stored, and refused there
    }
    p.signature = this.ahead.start(p.frame, p.envelope);
  }

  /** Resolves once no list check or signature check holds frames back (and what they held is stored). */
  async settled(): Promise<void> {
    for (;;) {
      this.storeChecked();
      const wait = this.checking ?? this.waiting?.promise;
      if (!wait) return;
      await wait;
    }
  }

  /** Without a verifier, flush(); with one, stores the pages whose checks are in and waits for the next one's. */
  private storeChecked(): void {
    if (!this.ahead) return this.flush();
    while (!this.checking && !this.waiting && this.pending.length > 0) {
      // The next pages' checks start now, to be done by the time their page is stored: those of
      // frames that came in beyond AHEAD_FRAMES, and those whose sender's chain a stored page
      // brought. Not this page's: waiting for them would leave this thread idle for as long as
      // verifying them in line takes it.
      for (let i = INCOMING_PAGE_FRAMES; i < Math.min(AHEAD_FRAMES, this.pending.length); i++) {
        const p = this.pending[i]!;
        if (!p.prepared) this.prepare(p);
        else if (p.signature && !p.signature.job) this.ahead.retry(p.signature);
      }
      this.ahead.send();
      const n = Math.min(INCOMING_PAGE_FRAMES, this.pending.length);
      if (this.pending.slice(0, n).some((p) => p.signature?.out === true)) {
        let done!: () => void;
        const promise = new Promise<void>((r) => (done = r));
        // Kept referenced: a pass waiting only for a worker (which never holds the process) goes on.
        const timer = setTimeout(() => this.checksLate(), SIGNATURE_WAIT_MS);
        this.waiting = { frames: n, timer, promise, done };
        return;
      }
      if (!this.storePage(this.pending.splice(0, n))) return;
    }
  }

  private checksAnswered(): void {
    const w = this.waiting;
    if (!w || this.pending.slice(0, w.frames).some((p) => p.signature?.out === true)) return;
    this.endWait();
    this.storeChecked();
  }

  /** The first page's checks did not come in time: it is stored without the missing ones (verified in line). */
  private checksLate(): void {
    const n = this.waiting?.frames ?? 0;
    this.endWait();
    if (!this.checking && this.pending.length > 0 && this.storePage(this.pending.splice(0, n))) this.storeChecked();
  }

  private endWait(): void {
    const w = this.waiting;
    if (!w) return;
    this.waiting = undefined;
    clearTimeout(w.timer);
    w.done();
  }

  flush(): void {
    // A page at a time, even when more is pending: while a list check holds the frames back, the
    // relay goes on pushing (it does not wait for acks), so thousands may be waiting when it ends.
    // Taken as one page they were one transaction holding the write lock for the whole backlog,
    // with every frame and result in memory, and acked only at its end (docs/PERFORMANCE.md
    // "Group backlog, round nine": the group pass stored 9,878 of its 10,000 texts that way).
    this.endWait(); // what is not checked yet is verified in line
    while (!this.checking && this.pending.length > 0) {
      const page = this.pending.splice(0, INCOMING_PAGE_FRAMES);
      if (!this.storePage(page)) return;
    }
  }

  /**
   * Stores `page` in one transaction and acks what it stored. False when it stopped: a store
   * failure (what is still pending is dropped with the page's rest, unacked, for the relay to
   * push again in order) or a list check (which holds the rest and goes on when it ends).
   */
  private storePage(page: PendingFrame[]): boolean {
    const results: Incoming[] = [];
    let error: unknown;
    let needs: NeedsLists | undefined;
    try {
      tx(this.c.db, () => withPageArrivals(this.c.db, (arrivals) => withPageReads(this.c.db, () => {
        // The receipts the stored frames are owed, per sender in arrival order: queued once, at
        // the page's end and in its transaction, so they commit (or not) with the messages.
        const receipts = new Map<string, string[]>();
        const sessions = new PageSessions(this.c);
        const groupKeys = new PageSenderKeys(this.c);
        for (const { frame, signature, envelope } of page) {
          const owed: [string, string][] = [];
          const mark = sessions.mark();
          const keysMark = groupKeys.mark();
          const arrivalsMark = arrivals.mark();
          try {
            results.push(
              processIncoming(this.c, frame, {
                mayFetchLists: this.on.refreshLists !== undefined && !this.listsChecked.has(frame.id),
                receipt: (peer, id) => owed.push([peer, id]),
                sessions,
                groupKeys,
                signature: signature?.check,
                envelope,
              }),
            );
          } catch (e) {
            // Its savepoint is rolled back: so is what it did to the cached sessions and chains, and the arrival numbers it took.
            sessions.restore(mark);
            groupKeys.restore(keysMark);
            arrivals.restore(arrivalsMark);
            if (e instanceof NeedsLists) needs = e;
            else error = e;
            break;
          }
          // Only a frame that was stored (its savepoint kept) is owed a receipt.
          for (const [peer, id] of owed) {
            const ids = receipts.get(peer);
            if (ids) ids.push(id);
            else receipts.set(peer, [id]);
          }
        }
        for (const [peer, ids] of receipts) queueReceipts(this.c, peer, ids);
        sessions.writeBack();
        groupKeys.writeBack();
      })));
    } catch (e) {
      // The commit itself failed: nothing of the page is stored, so nothing is acked.
      this.pending = [];
      this.on.fail(e);
      return false;
    }
    // Stored: only now may the relay forget them.
    this.ahead?.stored();
    for (let i = 0; i < results.length; i++) page[i]!.ack(page[i]!.frame.id);
    for (let i = 0; i < results.length; i++) this.on.result(results[i]!, page[i]!.frame);
    if (error !== undefined) {
      this.pending = [];
      this.on.fail(error);
      return false;
    }
    if (needs) {
      this.checkLists(needs.user, page.slice(results.length));
      return false;
    }
    return true;
  }

  /** Holds `rest` (its first frame needs `user`'s lists) and everything after, checks the lists, then goes on. */
  private checkLists(user: string, rest: PendingFrame[]): void {
    this.pending = [...rest, ...this.pending];
    this.listsChecked.add(rest[0]!.frame.id);
    this.checking = this.on
      .refreshLists!(user)
      // A list that cannot be had or checked leaves the kept one: the frame is judged on it.
      .catch(() => undefined)
      .then(() => {
        this.checking = undefined;
        this.storeChecked();
      });
  }
}
