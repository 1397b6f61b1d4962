// Contacts and trust: the first identity key seen for a username is trusted (TOFU). A different
// key later flips the contact to `changed`: its messages are still shown (with a warning) but
// nothing is sent to it until the user runs `fastchat verify @x --accept`.
import { equalBytes } from '../../crypto/encoding.js';
import { encodePublicIdentity, parsePublicIdentity, type PublicIdentity } from '../../crypto/identity.js';
import type { DB } from './db.js';

export type Trust = 'unverified' | 'verified' | 'changed';

export interface Contact {
  username: string;
  identity: PublicIdentity;
  trust: Trust;
  pendingIdentity: PublicIdentity | null;
  addedAt: number;
  updatedAt: number;
}

interface Row {
  username: string;
  identity: Buffer;
  trust: Trust;
  pending_identity: Buffer | null;
  added_at: number;
  updated_at: number;
}

function fromRow(r: Row): Contact {
  return {
    username: r.username,
    identity: parsePublicIdentity(new Uint8Array(r.identity)),
    trust: r.trust,
    pendingIdentity: r.pending_identity ? parsePublicIdentity(new Uint8Array(r.pending_identity)) : null,
    addedAt: r.added_at,
    updatedAt: r.updated_at,
  };
}

export function getContact(db: DB, username: string): Contact | undefined {
  const r = db.prepare('SELECT * FROM contacts WHERE username = ?').get(username) as Row | undefined;
  return r ? fromRow(r) : undefined;
}

export function listContacts(db: DB): Contact[] {
  return (db.prepare('SELECT * FROM contacts ORDER BY username').all() as Row[]).map(fromRow);
}

export function sameIdentity(a: PublicIdentity, b: PublicIdentity): boolean {
  return equalBytes(encodePublicIdentity(a), encodePublicIdentity(b));
}

/**
 * Records an identity seen for `username` (from the key directory or a first message) and says
 * what it means: `new` (first sight, now trusted), `same`, or `changed` (contact now blocked).
 * Call inside the transaction that uses the identity.
 */
export function observeIdentity(db: DB, username: string, identity: PublicIdentity, now: number): 'new' | 'same' | 'changed' {
  const c = getContact(db, username);
  const bytes = encodePublicIdentity(identity);
  if (!c) {
    db.prepare('INSERT INTO contacts (username, identity, trust, pending_identity, added_at, updated_at) VALUES (?, ?, ?, NULL, ?, ?)').run(
      username,
      Buffer.from(bytes),
      'unverified',
      now,
      now,
    );
    return 'new';
  }
  if (sameIdentity(c.identity, identity)) return c.trust === 'changed' ? 'changed' : 'same';
  db.prepare("UPDATE contacts SET trust = 'changed', pending_identity = ?, updated_at = ? WHERE username = ?").run(Buffer.from(bytes), now, username);
  return 'changed';
}

/** `verify @x`: the user compared safety numbers. With accept, a changed key becomes the key. */
export function markVerified(db: DB, username: string, now: number, accept: boolean): Contact | undefined {
  const c = getContact(db, username);
  if (!c) return undefined;
  if (c.trust === 'changed' && accept && c.pendingIdentity) {
    db.prepare("UPDATE contacts SET identity = ?, pending_identity = NULL, trust = 'verified', updated_at = ? WHERE username = ?").run(
      Buffer.from(encodePublicIdentity(c.pendingIdentity)),
      now,
      username,
    );
  } else if (c.trust === 'changed' && accept) {
    db.prepare("UPDATE contacts SET trust = 'verified', updated_at = ? WHERE username = ?").run(now, username);
  } else if (c.trust !== 'changed') {
    db.prepare("UPDATE contacts SET trust = 'verified', updated_at = ? WHERE username = ?").run(now, username);
  }
  return getContact(db, username);
}
