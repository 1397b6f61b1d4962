// Receiving: one relay `message` frame → decrypt, store, dedupe, in one transaction with the
// session state it advanced. The caller acks the frame to the relay only after this returns, so a
// crash in between means a redelivery, which the `seen` table turns into a no-op.
//
// Nothing is dropped silently: a frame that cannot be decrypted becomes a `failed` result (and a
// history row) naming the sender and a typed reason.
import { isCryptoError } from '../../crypto/errors.js';
import { fromBase64url } from '../../crypto/encoding.js';
import type { PublicIdentity } from '../../crypto/identity.js';
import { acceptPreKeyMessage, decryptMessage, messageType, parseEnvelope, sessionIdentity } from '../../crypto/session.js';
import { isRejected } from './contact-record.js';
import { isBlocked, observeIdentity, readContact, sameIdentity } from './contacts.js';
import { noteGaps } from './gaps.js';
import { ourAddress, type Client } from './context.js';
import { nextArrival, tx } from './db.js';
import { isGroupMessageBody, receiveGroupControl, receiveGroupMessage, type GroupIncoming, type GroupRef } from './group-receive.js';
import { queueReceipt } from './outbox.js';
import { parsePayload, PayloadError, type FileRef } from './payload.js';
import { fileLine } from './files/names.js';
import { recordIncomingFile } from './files/store.js';
import { deleteOneTimePreKey, preKeyStore } from './prekey-store.js';
import type { MessageFrame } from './relay-ws.js';
import { IntegrityError } from './integrity/errors.js';
import { loadPreviousSession, loadSession, promotePreviousSession, replaceSession, saveSession } from './sessions.js';

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
    }
  | { kind: 'receipt'; from: string; id: string }
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
};

class Failure extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * Tries the current session, then the previous one (see sessions.ts). A PreKeyMessage is tried
 * here too: the initiator repeats its X3DH header until we reply, and those repeats belong to the
 * session the first one created. Returns undefined when no session opens it.
 */
function openWithSessions(c: Client, user: string, device: number, envelope: Uint8Array, now: number): { plaintext: Uint8Array; identity: PublicIdentity } | undefined {
  // A row that failed its integrity check is never used (a first message replaces it).
  let current;
  try {
    current = loadSession(c.db, c.sealer, user, device);
  } catch (e) {
    if (e instanceof IntegrityError) return undefined;
    throw e;
  }
  if (current) {
    try {
      const r = decryptMessage(current, envelope);
      saveSession(c.db, c.sealer, user, device, r.state, now);
      noteGaps(c, user, device, current, r.state, parseEnvelope(envelope).header, now);
      return { plaintext: r.plaintext, identity: sessionIdentity(r.state) };
    } catch (e) {
      if (isCryptoError(e, 'duplicate_message')) throw e;
    }
  }
  const previous = loadPreviousSession(c.db, c.sealer, user, device);
  if (previous) {
    try {
      const r = decryptMessage(previous, envelope);
      promotePreviousSession(c.db, c.sealer, user, device, r.state, now);
      noteGaps(c, user, device, previous, r.state, parseEnvelope(envelope).header, now);
      return { plaintext: r.plaintext, identity: sessionIdentity(r.state) };
    } catch (e) {
      if (isCryptoError(e, 'duplicate_message')) throw e;
    }
  }
  return undefined;
}

export function processIncoming(c: Client, f: MessageFrame): Incoming {
  const me = ourAddress(c);
  const from = f.from;
  const now = c.now();
  const receivedAt = new Date(now).toISOString();
  return tx(c.db, (): Incoming => {
    const seen = c.db.prepare('SELECT 1 FROM seen WHERE sender = ? AND device = ? AND client_id = ?').get(from.user, from.device, f.clientId);
    if (seen) return { kind: 'duplicate', from: from.user };
    c.db.prepare('INSERT INTO seen (sender, device, client_id, at) VALUES (?, ?, ?, ?)').run(from.user, from.device, f.clientId, now);
    try {
      const envelope = fromBase64url(f.body);
      if (isGroupMessageBody(envelope)) return receiveGroupMessage(c, { from, clientId: f.clientId, sentAt: f.sentAt, receivedAt }, envelope);
      let plaintext: Uint8Array;
      let identity: PublicIdentity;
      let identityChanged = false;
      let newContact = false;
      const opened = openWithSessions(c, from.user, from.device, envelope, now);
      if (opened) {
        ({ plaintext, identity } = opened);
        // Flagged when the contact is blocked, and when the session disagrees with the pinned key.
        const contact = readContact(c, from.user);
        identityChanged = isBlocked(c, from.user) || contact === undefined || (contact.integrity === 'ok' && !sameIdentity(contact.identity, identity));
      } else if (messageType(envelope) === 'prekey') {
        const x3dh = parseEnvelope(envelope).preKey!;
        const ephemeral = Buffer.from(x3dh.ephemeral);
        // A key the user rejected starts no session and shows nothing (checked before any prekey is used).
        const known = readContact(c, from.user);
        if (known?.integrity === 'ok' && !sameIdentity(known.identity, x3dh.identity) && isRejected(known, x3dh.identity)) throw new Failure('identity_rejected');
        // Our sessions could not open it, so it is a replay from an expired chain or a tampered
        // repeat of a first message: never a reason to start the session over.
        if (c.db.prepare('SELECT 1 FROM accepted_prekey_messages WHERE ephemeral = ?').get(ephemeral)) throw new Failure('decrypt_failed');
        // crypto/ reports every failed first message as decrypt_failed; whether we still hold the
        // prekeys its public header names tells the user why (rotated out and pruned, or used).
        const store = preKeyStore(c.db, c.sealer);
        if (!store.signedPreKey(x3dh.signedPreKeyId) || (x3dh.oneTimePreKeyId !== null && !store.oneTimePreKey(x3dh.oneTimePreKeyId))) throw new Failure('unknown_prekey');
        const r = acceptPreKeyMessage(c.secrets.identity, me, store, from, envelope);
        c.db.prepare('INSERT INTO accepted_prekey_messages (ephemeral, signed_prekey_id, at) VALUES (?, ?, ?)').run(ephemeral, x3dh.signedPreKeyId, now);
        const seenAs = observeIdentity(c, from.user, r.theirIdentity, now);
        identityChanged = seenAs === 'changed' || seenAs === 'rejected';
        newContact = seenAs === 'new';
        replaceSession(c.db, c.sealer, from.user, from.device, r.state, now);
        noteGaps(c, from.user, from.device, undefined, r.state, parseEnvelope(envelope).header, now);
        if (r.usedOneTimePreKeyId !== null) deleteOneTimePreKey(c.db, r.usedOneTimePreKeyId);
        plaintext = r.plaintext;
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
      const p = parsePayload(plaintext);
      if (p.type === 'group_change' || p.type === 'sender_key') {
        // Group state follows only identities we trust: a changed key waits for `verify --accept`.
        if (identityChanged) throw new Failure('identity_changed');
        return receiveGroupControl(c, { from, clientId: f.clientId, sentAt: f.sentAt, receivedAt }, identity, p);
      }
      if (p.type === 'receipt') {
        // A receipt changes what we believe about our own messages, so it is taken only from the
        // identity we sent them to: never from a changed key, and never from an identity that first
        // shows itself in this very message (no message of ours went to it; a relay minting keys
        // under the peer's name would otherwise mark undelivered messages delivered).
        if (identityChanged) throw new Failure('identity_changed');
        if (newContact) throw new Failure('new_identity');
        c.db.prepare("UPDATE messages SET status = 'delivered' WHERE peer = ? AND direction = 'out' AND id = ?").run(from.user, p.id);
        return { kind: 'receipt', from: from.user, id: p.id };
      }
      const file = p.type === 'file' ? p.file : undefined;
      const inserted = c.db
        .prepare("INSERT OR IGNORE INTO messages (id, peer, direction, body, sent_at, received_at, relay_at, status, identity_changed, unread) VALUES (?, ?, 'in', ?, ?, ?, ?, 'received', ?, ?)")
        .run(p.id, from.user, Buffer.from(c.sealer.seal('message', [from.user, 'in', p.id], new TextEncoder().encode(file ? fileLine(file, p.text) : p.text))), p.sentAt, receivedAt, f.sentAt, identityChanged ? 1 : 0, nextArrival(c.db));
      if (inserted.changes === 0) return { kind: 'duplicate', from: from.user };
      // The blob is fetched after this transaction (network); the key waits sealed in the store.
      if (file) recordIncomingFile(c, { id: p.id, from: from.user, group: null, file });
      // Receipts go only to a trusted identity: an unverified new key learns nothing from us.
      if (!identityChanged) queueReceipt(c, from.user, p.id);
      return { kind: 'text', id: p.id, from: from.user, device: from.device, text: p.text, sentAt: p.sentAt, receivedAt, relayAt: f.sentAt, identityChanged, newContact, ...(file ? { file } : {}) };
    } catch (e) {
      const reason = e instanceof Failure ? e.reason : e instanceof PayloadError ? 'bad_payload' : isCryptoError(e) ? e.code : undefined;
      if (reason === undefined) throw e;
      if (reason === 'duplicate_message') return { kind: 'duplicate', from: from.user, replayed: true };
      c.db
        .prepare("INSERT OR IGNORE INTO messages (id, peer, direction, body, sent_at, received_at, relay_at, status, error, unread) VALUES (?, ?, 'in', NULL, ?, ?, ?, 'failed', ?, ?)")
        .run(f.clientId, from.user, f.sentAt, receivedAt, f.sentAt, reason, nextArrival(c.db));
      return { kind: 'failed', from: from.user, device: from.device, id: f.clientId, reason, message: FAILURE_TEXT[reason] ?? reason, receivedAt };
    }
  });
}
