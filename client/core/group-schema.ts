// The group tables of store.db (appended to db.ts's schema). Group ids, epochs and transcripts are
// stored in the clear (the relay sees them in every group message header anyway); names,
// membership, records and keys are sealed with the storage key like sessions. Columns added to a
// table after it shipped are also listed in db.ts's ADDED_COLUMNS, so older homes get them.
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
CREATE TABLE IF NOT EXISTS group_sender_keys (
  group_id BLOB NOT NULL,
  sender TEXT NOT NULL,                -- our username for our own sending chain
  epoch INTEGER NOT NULL,
  ours INTEGER NOT NULL,               -- 1: encodeOurSenderKey, 0: encodeTheirSenderKey
  key BLOB NOT NULL,                   -- sealed
  late INTEGER NOT NULL DEFAULT 0,     -- messages opened after the epoch ended (GROUP_LATE_GRACE_MESSAGES)
  PRIMARY KEY (group_id, sender, epoch, ours)
);
-- One row per epoch we applied: its membership transcript (to check what arrives for it) and when
-- it started and ended on this device (the old-epoch grace counts from ended_at).
CREATE TABLE IF NOT EXISTS group_epochs (
  group_id BLOB NOT NULL,
  epoch INTEGER NOT NULL,
  transcript BLOB NOT NULL,            -- 32 bytes
  started_at INTEGER NOT NULL,
  ended_at INTEGER,                    -- NULL while it is the current epoch
  PRIMARY KEY (group_id, epoch)
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

