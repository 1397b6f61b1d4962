// Our own prekeys, private halves sealed at rest. The X3DH responder reads them through the
// `PreKeyStore` interface; a one-time prekey is deleted only after the first message it opened
// has decrypted and been stored (same transaction), so a forged first message cannot burn one.
import {
  encodeOneTimePreKey,
  encodeSignedPreKey,
  parseOneTimePreKey,
  parseSignedPreKey,
  type OneTimePreKey,
  type SignedPreKey,
} from '../../crypto/prekeys.js';
import type { PreKeyStore } from '../../crypto/x3dh.js';
import { SIGNED_PREKEY_KEEP_MS, SIGNED_PREKEY_ROTATE_MS } from '../../crypto/consts.js';
import type { Sealer } from './at-rest.js';
import { getMeta, setMeta, type DB } from './db.js';

/** One-time prekeys uploaded per batch; the relay hands each out once. */
export const ONE_TIME_PREKEY_BATCH = 100;
/** Top up when the relay holds fewer than this many (it also says so with `prekeys_low`). */
export const ONE_TIME_PREKEY_LOW = 25;
/**
 * The signed prekey is replaced after a week, bounding how long one key protects new sessions; old
 * ones are kept 30 days so first messages still in flight to us can be opened. Both live in
 * crypto/consts.ts beside the age limit initiators enforce from them.
 */
export { SIGNED_PREKEY_KEEP_MS, SIGNED_PREKEY_ROTATE_MS };

export function saveSignedPreKey(db: DB, sealer: Sealer, spk: SignedPreKey): void {
  db.prepare('INSERT OR REPLACE INTO signed_prekeys (id, created_at, secret) VALUES (?, ?, ?)').run(
    spk.id,
    spk.createdAt,
    Buffer.from(sealer.seal('signed_prekey', [spk.id], encodeSignedPreKey(spk))),
  );
  setMeta(db, 'current_signed_prekey', String(spk.id));
}

export function saveOneTimePreKeys(db: DB, sealer: Sealer, keys: OneTimePreKey[]): void {
  const stmt = db.prepare('INSERT OR REPLACE INTO one_time_prekeys (id, secret) VALUES (?, ?)');
  for (const k of keys) stmt.run(k.id, Buffer.from(sealer.seal('one_time_prekey', [k.id], encodeOneTimePreKey(k))));
}

export function getSignedPreKey(db: DB, sealer: Sealer, id: number): SignedPreKey | undefined {
  const r = db.prepare('SELECT secret FROM signed_prekeys WHERE id = ?').get(id) as { secret: Buffer } | undefined;
  return r ? parseSignedPreKey(sealer.open('signed_prekey', [id], new Uint8Array(r.secret))) : undefined;
}

export function currentSignedPreKey(db: DB, sealer: Sealer): SignedPreKey | undefined {
  const id = getMeta(db, 'current_signed_prekey');
  return id === undefined ? undefined : getSignedPreKey(db, sealer, Number(id));
}

export function allOneTimePreKeys(db: DB, sealer: Sealer): OneTimePreKey[] {
  const rows = db.prepare('SELECT id, secret FROM one_time_prekeys ORDER BY id').all() as { id: number; secret: Buffer }[];
  return rows.map((r) => parseOneTimePreKey(sealer.open('one_time_prekey', [r.id], new Uint8Array(r.secret))));
}

export function deleteOneTimePreKey(db: DB, id: number): void {
  db.prepare('DELETE FROM one_time_prekeys WHERE id = ?').run(id);
}

/** Reserves `count` fresh ids (ids are never reused, so a late first message cannot hit a new key). */
export function reserveIds(db: DB, name: 'next_one_time_id' | 'next_signed_id', count: number): number {
  const first = Number(getMeta(db, name) ?? '1');
  setMeta(db, name, String(first + count));
  return first;
}

/** Deletes signed prekeys older than the grace period, never the current one. */
export function pruneSignedPreKeys(db: DB, now: number): number {
  const current = Number(getMeta(db, 'current_signed_prekey') ?? '0');
  const n = db.prepare('DELETE FROM signed_prekeys WHERE id != ? AND created_at < ?').run(current, now - SIGNED_PREKEY_KEEP_MS).changes;
  // A first message naming a deleted signed prekey fails with unknown_prekey anyway.
  db.prepare('DELETE FROM accepted_prekey_messages WHERE signed_prekey_id NOT IN (SELECT id FROM signed_prekeys)').run();
  return n;
}

export function preKeyStore(db: DB, sealer: Sealer): PreKeyStore {
  return {
    signedPreKey: (id) => getSignedPreKey(db, sealer, id),
    oneTimePreKey: (id) => {
      const r = db.prepare('SELECT secret FROM one_time_prekeys WHERE id = ?').get(id) as { secret: Buffer } | undefined;
      return r ? parseOneTimePreKey(sealer.open('one_time_prekey', [id], new Uint8Array(r.secret))) : undefined;
    },
  };
}
