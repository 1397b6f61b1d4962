// Ratchet sessions at rest: one row per peer device, the encodeSession bytes sealed with the
// storage key and bound to (user, device). Callers load and save inside one transaction with the
// message involved.
//
// Each row also keeps the state it replaced (`previous`). When both sides start a session at the
// same time, each replaces its own with the one the other started; the messages already encrypted
// under the replaced state still open with `previous`, which then becomes current again. This is
// the repair the protocol allows without a round trip (libsignal keeps a list for the same reason).
//
// Every row is listed in the integrity manifest with a digest of (state, previous): a row deleted,
// added, or put back from an older copy of store.db fails `loadSession` with an IntegrityError and
// is never used (no message is encrypted with it, and nothing decrypted with it is trusted).
import type { PublicIdentity } from '../../crypto/identity.js';
import { encodeSession, parseSession, sessionIdentity, type SessionState } from '../../crypto/session.js';
import type { Sealer } from './at-rest.js';
import { snapshot, type DB } from './db.js';
import { IntegrityError } from './integrity/errors.js';
import { loadManifest, rowDigest, sameDigest, sessionKey, splitSessionKey, updateManifest, viewManifest } from './integrity/manifest.js';

interface Row {
  state: Buffer;
  previous: Buffer | null;
}

function row(db: DB, user: string, device: number): Row | undefined {
  return db.prepare('SELECT state, previous FROM sessions WHERE username = ? AND device = ?').get(user, device) as Row | undefined;
}

function digestOf(r: Row): Uint8Array {
  return rowDigest(new Uint8Array(r.state), r.previous ? new Uint8Array(r.previous) : null);
}

/** The row if it is the one the manifest names; undefined if there is none; throws if it was tampered with. */
function checkedRow(db: DB, sealer: Sealer, user: string, device: number): Row | undefined {
  const [r, listed] = snapshot(db, () => [row(db, user, device), viewManifest({ db, sealer }).sessions.get(sessionKey(user, device))] as const);
  if (!r && !listed) return undefined;
  if (!r || !sameDigest(listed, digestOf(r))) throw new IntegrityError(user, `session (device ${device})`);
  return r;
}

function open(sealer: Sealer, user: string, device: number, bytes: Buffer): SessionState {
  try {
    return parseSession(sealer.open('session', [user, device], new Uint8Array(bytes)));
  } catch {
    throw new IntegrityError(user, `session (device ${device})`);
  }
}

export function loadSession(db: DB, sealer: Sealer, user: string, device: number): SessionState | undefined {
  const r = checkedRow(db, sealer, user, device);
  return r ? open(sealer, user, device, r.state) : undefined;
}

export function loadPreviousSession(db: DB, sealer: Sealer, user: string, device: number): SessionState | undefined {
  const r = checkedRow(db, sealer, user, device);
  return r?.previous ? open(sealer, user, device, r.previous) : undefined;
}

/** Whether the session row of (user, device) is absent or intact (never throws). */
export function sessionIntact(db: DB, sealer: Sealer, user: string, device: number): boolean {
  try {
    loadPreviousSession(db, sealer, user, device);
    loadSession(db, sealer, user, device);
    return true;
  } catch (e) {
    if (e instanceof IntegrityError) return false;
    throw e;
  }
}

/** Devices with a session row, and devices the manifest says have one (a deleted row still counts). */
export function sessionDevices(db: DB, sealer: Sealer, user: string): number[] {
  const [rows, manifest] = snapshot(db, () => [db.prepare('SELECT device FROM sessions WHERE username = ?').all(user) as { device: number }[], loadManifest({ db, sealer })] as const);
  const devices = new Set(rows.map((r) => r.device));
  for (const k of manifest.sessions.keys()) {
    const s = splitSessionKey(k);
    if (s.user === user) devices.add(s.device);
  }
  return [...devices].sort((a, b) => a - b);
}

/** Re-reads the row and records its digest (or its absence) in the manifest. */
function record(db: DB, sealer: Sealer, user: string, device: number): void {
  const r = row(db, user, device);
  updateManifest({ db, sealer }, (m) => {
    if (r) m.sessions.set(sessionKey(user, device), digestOf(r));
    else m.sessions.delete(sessionKey(user, device));
  });
}

function seal(sealer: Sealer, user: string, device: number, state: SessionState): Buffer {
  return Buffer.from(sealer.seal('session', [user, device], encodeSession(state)));
}

/** Stores the next state of the current session. */
export function saveSession(db: DB, sealer: Sealer, user: string, device: number, state: SessionState, now: number): void {
  db.prepare(
    'INSERT INTO sessions (username, device, state, previous, updated_at) VALUES (?, ?, ?, NULL, ?) ON CONFLICT (username, device) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
  ).run(user, device, seal(sealer, user, device, state), now);
  record(db, sealer, user, device);
}

/** A new session takes over; the current one is kept as `previous` (unless it failed its check). */
export function replaceSession(db: DB, sealer: Sealer, user: string, device: number, state: SessionState, now: number): void {
  const keep = sessionIntact(db, sealer, user, device);
  db.prepare(
    `INSERT INTO sessions (username, device, state, previous, updated_at) VALUES (?, ?, ?, NULL, ?) ON CONFLICT (username, device) DO UPDATE SET previous = ${keep ? 'sessions.state' : 'NULL'}, state = excluded.state, updated_at = excluded.updated_at`,
  ).run(user, device, seal(sealer, user, device, state), now);
  record(db, sealer, user, device);
}

/** `previous` opened a message: it becomes current again (with its new state), current becomes previous. */
export function promotePreviousSession(db: DB, sealer: Sealer, user: string, device: number, state: SessionState, now: number): void {
  db.prepare('UPDATE sessions SET previous = state, state = ?, updated_at = ? WHERE username = ? AND device = ?').run(seal(sealer, user, device, state), now, user, device);
  record(db, sealer, user, device);
}

/** Drops the session rows (current and previous) with one device of `user`. */
export function dropSession(db: DB, sealer: Sealer, user: string, device: number): void {
  deleteRow(db, sealer, user, device);
}

function deleteRow(db: DB, sealer: Sealer, user: string, device: number): void {
  db.prepare('DELETE FROM sessions WHERE username = ? AND device = ?').run(user, device);
  record(db, sealer, user, device);
}

/**
 * Keeps, for each device of `user`, only a session made with an identity `keep` holds for that
 * device (the current one, or the previous one brought back); drops the rest, rows that failed
 * their check included. Without `keep`, drops them all. Returns how many rows went.
 */
export function dropSessions(db: DB, sealer: Sealer, user: string, keep?: (device: number, identity: PublicIdentity) => boolean): number {
  let n = 0;
  for (const device of sessionDevices(db, sealer, user)) {
    let current: SessionState | undefined;
    let previous: SessionState | undefined;
    try {
      current = loadSession(db, sealer, user, device);
      previous = loadPreviousSession(db, sealer, user, device);
    } catch (e) {
      if (!(e instanceof IntegrityError)) throw e;
      deleteRow(db, sealer, user, device);
      n++;
      continue;
    }
    if (keep && current && keep(device, sessionIdentity(current))) {
      db.prepare('UPDATE sessions SET previous = NULL WHERE username = ? AND device = ?').run(user, device);
      record(db, sealer, user, device);
      continue;
    }
    if (keep && previous && keep(device, sessionIdentity(previous))) {
      db.prepare('UPDATE sessions SET state = previous, previous = NULL WHERE username = ? AND device = ?').run(user, device);
      record(db, sealer, user, device);
      continue;
    }
    deleteRow(db, sealer, user, device);
    n++;
  }
  return n;
}

/** Every session row of the store, dropped (reset-sessions after a rollback). */
export function dropAllSessions(db: DB, sealer: Sealer): number {
  const n = db.prepare('DELETE FROM sessions').run().changes;
  updateManifest({ db, sealer }, (m) => m.sessions.clear());
  return n;
}
