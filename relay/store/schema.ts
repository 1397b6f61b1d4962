// The relay's SQLite schema. Usernames are the keys (already case-folded), so operator tools can
// read the file with plain SQL. ON DELETE CASCADE does the clean-up when an account is deleted.
export const SCHEMA_VERSION = 1;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  username      TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,          -- argon2id PHC string
  created_at    INTEGER NOT NULL,       -- ms since epoch
  banned_at     INTEGER                 -- NULL = not banned
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS devices (
  username        TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  device_id       INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  identity_dh     BLOB,                 -- public identity: NULL until the first PUT /v1/keys
  identity_sign   BLOB,
  identity_sig    BLOB,
  spk_id          INTEGER,
  spk_created_at  INTEGER,
  spk_public      BLOB,
  spk_sig         BLOB,
  PRIMARY KEY (username, device_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS one_time_prekeys (
  username   TEXT NOT NULL,
  device_id  INTEGER NOT NULL,
  key_id     INTEGER NOT NULL,
  public_key BLOB NOT NULL,
  PRIMARY KEY (username, device_id, key_id),
  FOREIGN KEY (username, device_id) REFERENCES devices(username, device_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sessions (
  token_hash BLOB PRIMARY KEY,          -- SHA-256 of the bearer token; the token itself is never stored
  username   TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  device_id  INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(username);

-- One row per message body (stored once however many recipients it has).
CREATE TABLE IF NOT EXISTS messages (
  id            INTEGER PRIMARY KEY,
  sender        TEXT NOT NULL,
  sender_device INTEGER NOT NULL,
  client_id     TEXT NOT NULL,
  body          BLOB NOT NULL,          -- opaque ciphertext
  stored_at     INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_expiry ON messages(expires_at);

-- One row per (message, recipient device) still to be delivered. AUTOINCREMENT: a delivery id is
-- never reused, so a stale ack can never delete a newer message.
CREATE TABLE IF NOT EXISTS deliveries (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  username   TEXT NOT NULL,
  device_id  INTEGER NOT NULL,
  size       INTEGER NOT NULL,
  FOREIGN KEY (username, device_id) REFERENCES devices(username, device_id) ON DELETE CASCADE
);
-- Covers both the in-order queue scan and the quota's count/sum.
CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries(username, device_id, id, size);
CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries(message_id);

-- Client ids seen per sender device, kept for the message TTL, so a resubmit after the message was
-- delivered and deleted is still recognised as a duplicate.
CREATE TABLE IF NOT EXISTS sent_ids (
  sender        TEXT NOT NULL,
  sender_device INTEGER NOT NULL,
  client_id     TEXT NOT NULL,
  stored_at     INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  PRIMARY KEY (sender, sender_device, client_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sent_ids_expiry ON sent_ids(expires_at);

-- The newest epoch seen in a group message per group id (the stale_epoch fence, docs/RELAY.md). The
-- id and epoch are in every group message's cleartext header; kept until a message TTL after the
-- last message of the group.
CREATE TABLE IF NOT EXISTS group_fences (
  group_id   BLOB PRIMARY KEY,          -- 32 bytes
  epoch      INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_fences_expiry ON group_fences(expires_at);

-- Attachment blobs: metadata only. The ciphertext is a file named by the id in the blob directory
-- (relay/blobs/), so large blobs never pass through SQLite pages, the WAL or backups of the DB.
CREATE TABLE IF NOT EXISTS blobs (
  id         TEXT PRIMARY KEY,          -- 16 random bytes, base64url
  owner      TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  size       INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blobs_owner ON blobs(owner, size);
CREATE INDEX IF NOT EXISTS blobs_expiry ON blobs(expires_at);
-- Recipients named at upload that have not acknowledged the blob yet; the last ack deletes it.
CREATE TABLE IF NOT EXISTS blob_recipients (
  blob_id  TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
  username TEXT NOT NULL,
  PRIMARY KEY (blob_id, username)
) WITHOUT ROWID;

-- Presence is visible only to the users someone has sent a message to (sqlite-correspondents.ts):
-- one row per (recipient account, sender account), kept for the message TTL after the last send.
CREATE TABLE IF NOT EXISTS correspondents (
  recipient  TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  sender     TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (recipient, sender)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS correspondents_sender ON correspondents(sender, expires_at);
CREATE INDEX IF NOT EXISTS correspondents_expiry ON correspondents(expires_at);
-- Facts about this database itself (relay/store/meta.ts): relay_id (made once, reported to
-- clients so they notice a different or fresh database), commits (counted up by every write
-- transaction; compared at start with the high-water mark kept outside the file, so a discarded
-- -wal is noticed), clock_high (the relay's clock at its last sweep, so a clock jump is noticed).
CREATE TABLE IF NOT EXISTS relay_meta (
  key   TEXT PRIMARY KEY,
  value
) WITHOUT ROWID;

-- Every signed device list of an account (relay/device-lists.ts checks one before it is stored after
-- the newest): the bytes as uploaded, opaque to the relay but for those checks; served with
-- GET /v1/devices/:user?since=. The primary key is the backstop against two lists of one version.
CREATE TABLE IF NOT EXISTS device_lists (
  username  TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  version   INTEGER NOT NULL,
  list      BLOB NOT NULL,
  stored_at INTEGER NOT NULL,
  PRIMARY KEY (username, version)
) WITHOUT ROWID;

-- Device ids an account's device list removed (a list held them, a later one does not), until a
-- later list holds them again: no login as them (relay/http/accounts.ts), so a stolen device that
-- was removed cannot come back under its old id and be served its account's messages.
CREATE TABLE IF NOT EXISTS removed_devices (
  username   TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  device_id  INTEGER NOT NULL,
  removed_at INTEGER NOT NULL,
  PRIMARY KEY (username, device_id)
) WITHOUT ROWID;

-- Device linking (sqlite-linking.ts, docs/RELAY.md "Linking"): a new device's one-message channel,
-- named by the first characters of its pairing code, holding its request and then the one message
-- an existing device seals to it; deleted when read or expired. Only SHA-256 of the channel
-- secret is kept, as of tokens.
CREATE TABLE IF NOT EXISTS link_channels (
  name        TEXT PRIMARY KEY,
  username    TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  request     BLOB NOT NULL,
  secret_hash BLOB NOT NULL,
  message     BLOB,                     -- NULL until answered
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS link_channels_expiry ON link_channels(expires_at);
-- One-time device tickets: a device of the account asked for one; redeeming it logs a new device
-- in as device_id without the password. SHA-256 of the ticket only (and, once redeemed, of the
-- session it was redeemed for: session_hash, ADDED_COLUMNS).
CREATE TABLE IF NOT EXISTS device_tickets (
  ticket_hash BLOB PRIMARY KEY,
  username    TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  device_id   INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS device_tickets_user ON device_tickets(username, expires_at);

-- Whom each account refuses messages from (sqlite-blocks.ts): the relay queues nothing from
-- \`blocked\` for \`blocker\`.
CREATE TABLE IF NOT EXISTS blocks (
  blocker    TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  blocked    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (blocker, blocked)
) WITHOUT ROWID;
`;

/**
 * Columns added after a table first shipped: [table, column, declaration], added by
 * addMissingColumns when an older database lacks them (CREATE TABLE IF NOT EXISTS leaves its
 * tables as they were). Append, never edit.
 */
export const ADDED_COLUMNS: readonly (readonly [table: string, column: string, declaration: string])[] = [
  // 'message': a sender's opaque ciphertext; 'expired': the relay's notice to a sender that some of
  // its messages expired undelivered (body: JSON, see docs/RELAY.md "Expiry notices").
  ['messages', 'kind', "TEXT NOT NULL DEFAULT 'message'"],
  // When the password was verified to make the session (login, password change); NULL for a device
  // ticket's login and for sessions from before it was recorded. PUT /v1/devices with `replace`
  // needs a recent one (relay/http/devices.ts).
  ['sessions', 'password_at', 'INTEGER'],
  // SHA-256 of the session a device ticket was redeemed for; NULL while unredeemed. A redeemed
  // ticket stays until it expires so the same session asking again gets the same login (its reply
  // may have been lost) and every other session is refused (relay/store/sqlite-linking.ts).
  ['device_tickets', 'session_hash', 'BLOB'],
];
