// Ratchet sessions at rest: one row per peer device, the encodeSession bytes sealed with the
// storage key. Callers load and save inside one transaction with the message involved.
//
// Each row also keeps the state it replaced (`previous`). When both sides start a session at the
// same time, each replaces its own with the one the other started; the messages already encrypted
// under the replaced state still open with `previous`, which then becomes current again. This is
// the repair the protocol allows without a round trip (libsignal keeps a list for the same reason).
import type { PublicIdentity } from '../../crypto/identity.js';
import { encodeSession, parseSession, sessionIdentity, type SessionState } from '../../crypto/session.js';
import type { Sealer } from './at-rest.js';
import { sameIdentity } from './contacts.js';
import type { DB } from './db.js';

interface Row {
  state: Buffer;
  previous: Buffer | null;
}

function row(db: DB, user: string, device: number): Row | undefined {
  return db.prepare('SELECT state, previous FROM sessions WHERE username = ? AND device = ?').get(user, device) as Row | undefined;
}

export function loadSession(db: DB, sealer: Sealer, user: string, device: number): SessionState | undefined {
  const r = row(db, user, device);
  return r ? parseSession(sealer.open('session', new Uint8Array(r.state))) : undefined;
}

export function loadPreviousSession(db: DB, sealer: Sealer, user: string, device: number): SessionState | undefined {
  const r = row(db, user, device);
  return r?.previous ? parseSession(sealer.open('session', new Uint8Array(r.previous))) : undefined;
}

export function sessionDevices(db: DB, user: string): number[] {
  return (db.prepare('SELECT device FROM sessions WHERE username = ? ORDER BY device').all(user) as { device: number }[]).map((r) => r.device);
}

/** Stores the next state of the current session. */
export function saveSession(db: DB, sealer: Sealer, user: string, device: number, state: SessionState, now: number): void {
  const sealed = Buffer.from(sealer.seal('session', encodeSession(state)));
  db.prepare(
    'INSERT INTO sessions (username, device, state, previous, updated_at) VALUES (?, ?, ?, NULL, ?) ON CONFLICT (username, device) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
  ).run(user, device, sealed, now);
}

/** A new session takes over; the current one is kept as `previous`. */
export function replaceSession(db: DB, sealer: Sealer, user: string, device: number, state: SessionState, now: number): void {
  const sealed = Buffer.from(sealer.seal('session', encodeSession(state)));
  db.prepare(
    'INSERT INTO sessions (username, device, state, previous, updated_at) VALUES (?, ?, ?, NULL, ?) ON CONFLICT (username, device) DO UPDATE SET previous = sessions.state, state = excluded.state, updated_at = excluded.updated_at',
  ).run(user, device, sealed, now);
}

/** `previous` opened a message: it becomes current again (with its new state), current becomes previous. */
export function promotePreviousSession(db: DB, sealer: Sealer, user: string, device: number, state: SessionState, now: number): void {
  const sealed = Buffer.from(sealer.seal('session', encodeSession(state)));
  db.prepare('UPDATE sessions SET previous = state, state = ?, updated_at = ? WHERE username = ? AND device = ?').run(sealed, now, user, device);
}

/** Drops the sessions with `user` not made with `keep` (all of them when keep is absent). */
export function dropSessions(db: DB, sealer: Sealer, user: string, keep?: PublicIdentity): number {
  let n = 0;
  for (const device of sessionDevices(db, user)) {
    const s = loadSession(db, sealer, user, device);
    if (keep && s && sameIdentity(sessionIdentity(s), keep)) {
      db.prepare('UPDATE sessions SET previous = NULL WHERE username = ? AND device = ?').run(user, device);
      continue;
    }
    db.prepare('DELETE FROM sessions WHERE username = ? AND device = ?').run(user, device);
    n++;
  }
  return n;
}
