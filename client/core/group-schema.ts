// The group tables of store.db (appended to db.ts's schema). Group ids, epochs and transcripts are
// stored in the clear (the relay sees them in every group message header anyway); names,
// membership, records and keys are sealed with the storage key like sessions. Columns added to a
// table after it shipped are also listed in db.ts's ADDED_COLUMNS, so older homes get them.
import type { DB } from './db.js';

// Each device of a member keeps its own sending chain (two devices of one account never share
// one: they would reuse its message keys), so a receiving chain is one per sender *device*.
const SENDER_KEYS_TABLE = (name: string): string => `CREATE TABLE IF NOT EXISTS ${name} (
  group_id BLOB NOT NULL,
  sender TEXT NOT NULL,                -- our username for our own sending chain
  device INTEGER NOT NULL DEFAULT 0,   -- the sender's device its distribution came from (0: ours, or stored before devices counted)
  epoch INTEGER NOT NULL,              -- the key epoch: the epoch the key was made in
  ours INTEGER NOT NULL,               -- 1: encodeOurSenderKey, 0: encodeTheirSenderKey
  key BLOB NOT NULL,                   -- sealed (row key without the device: see group-store.ts)
  late INTEGER NOT NULL DEFAULT 0,     -- messages of ended epochs this chain opened (GROUP_LATE_GRACE_MESSAGES)
  PRIMARY KEY (group_id, sender, device, epoch, ours)
);`;

/**
 * A home from before per-device chains: its sender-key table gets the device column, which is part
 * of the primary key, so the table is rebuilt (SQLite cannot change a key in place). Its chains
 * keep device 0: each came from the one device we had a session with, and its own signature key
 * still decides what it opens. Run after db.ts's added columns (the copy names `late`).
 */
export function upgradeGroupTables(db: DB): void {
  const columns = db.prepare('PRAGMA table_info(group_sender_keys)').all() as { name: string }[];
  if (columns.some((c) => c.name === 'device')) return;
  db.transaction(() => {
    db.exec(SENDER_KEYS_TABLE('group_sender_keys_v2'));
    db.exec('INSERT INTO group_sender_keys_v2 (group_id, sender, device, epoch, ours, key, late) SELECT group_id, sender, 0, epoch, ours, key, late FROM group_sender_keys');
    db.exec('DROP TABLE group_sender_keys');
    db.exec('ALTER TABLE group_sender_keys_v2 RENAME TO group_sender_keys');
  })();
}

export const GROUP_SCHEMA = `
CREATE TABLE IF NOT EXISTS groups (
  group_id BLOB PRIMARY KEY,           -- 32 bytes
  state BLOB NOT NULL,                 -- sealed encodeGroupState (the state we hold)
  status TEXT NOT NULL CHECK (status IN ('active', 'removed', 'left')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS group_records (
  group_id BLOB NOT NULL,
  epoch INTEGER NOT NULL,
  record BLOB NOT NULL,                -- sealed change record: the chain a new member replays
  PRIMARY KEY (group_id, epoch)
);
${SENDER_KEYS_TABLE('group_sender_keys')}
-- Whom we gave our own sending key of a key epoch (a distribution was queued for them): the rest
-- of the members' devices get it before our next message; a holder who is no longer a member, or a
-- device no longer one of its member's, makes us rotate. Deleted with the key.
CREATE TABLE IF NOT EXISTS group_key_shares (
  group_id BLOB NOT NULL,
  epoch INTEGER NOT NULL,              -- our key's epoch
  member TEXT NOT NULL,                -- 'user/device' (a username has no '/'); 'user' alone: written before devices counted
  PRIMARY KEY (group_id, epoch, member)
);
-- One row per epoch we applied: its membership transcript (to check what arrives for it) and when
-- it started and ended on this device (the old-epoch grace counts from ended_at).
CREATE TABLE IF NOT EXISTS group_epochs (
  group_id BLOB NOT NULL,
  epoch INTEGER NOT NULL,
  transcript BLOB NOT NULL,            -- 32 bytes
  started_at INTEGER NOT NULL,
  ended_at INTEGER,                    -- NULL while it is the current epoch
  key_floor INTEGER NOT NULL DEFAULT 0, -- the state's keyFloor: keys of older epochs are not read at this one
  PRIMARY KEY (group_id, epoch)
);
-- A member whose receiving chains we deleted because a change took them out, and the epoch that
-- change made: a key of theirs made before it is never sent to us again, so a message under it
-- that arrives later (sent before the change, delivered after they were added back) is refused,
-- not held for a key that cannot come.
CREATE TABLE IF NOT EXISTS group_key_purges (
  group_id BLOB NOT NULL,
  sender TEXT NOT NULL,
  epoch INTEGER NOT NULL,              -- the newest epoch at which we deleted their chains
  PRIMARY KEY (group_id, sender)
);
CREATE TABLE IF NOT EXISTS group_pending (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id BLOB NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('message', 'sender_key', 'change')),
  sender TEXT NOT NULL,
  device INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  body BLOB NOT NULL,                  -- sealed: what arrived before what it needs
  identity BLOB,                       -- encodePublicIdentity of the pairwise session it came on
  client_id TEXT NOT NULL,
  sent_at TEXT NOT NULL,
  received_at TEXT NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0,    -- size of body, for the hold limits (GROUP_HELD_*)
  transcript BLOB                      -- set when held because it is bound to another history (a fork)
);
CREATE INDEX IF NOT EXISTS group_pending_group ON group_pending(group_id);
CREATE INDEX IF NOT EXISTS group_pending_sender ON group_pending(sender);
CREATE TABLE IF NOT EXISTS group_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id BLOB NOT NULL,
  id TEXT NOT NULL,
  sender TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  body BLOB,                           -- sealed text
  sent_at TEXT NOT NULL,
  received_at TEXT,
  status TEXT NOT NULL,                -- out: queued | sent | failed ; in: received
  error TEXT,
  before_change INTEGER NOT NULL DEFAULT 0, -- in: sent at an epoch that had ended when it arrived
  UNIQUE (group_id, sender, id)
);
CREATE TABLE IF NOT EXISTS group_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id BLOB NOT NULL,
  message_id TEXT NOT NULL,
  client_id TEXT NOT NULL UNIQUE,
  recipients TEXT NOT NULL,            -- JSON [user]: one relay submission, fanned out to their devices
  body BLOB NOT NULL,                  -- the group message (already ciphertext)
  created_at INTEGER NOT NULL,
  payload BLOB                         -- sealed plaintext payload: re-encrypted if the epoch moves first
);
`;

