// The PostgreSQL schema as numbered migrations, applied in order by `fastchat relay migrate`
// (migrate.ts), each in its own transaction, and recorded in schema_migrations. Append a new
// migration for every change; never edit one that has shipped. A relay starts only on a database
// at exactly the newest version it knows (migrate.ts checkSchema).
//
// The tables mirror SQLite's (store/schema.ts) with two differences that several nodes need:
//  - deliveries are numbered per recipient device (`seq`, from queue_heads under a row lock held
//    to commit), so a device's delivery ids increase in commit order whichever node commits
//    (store/types.ts pending()); a global sequence would not (ids are handed out before commit);
//  - rate_buckets holds the token buckets every node shares (ratelimit.ts).
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'accounts, keys, sessions, queues, blobs, correspondents, shared rate limits',
    sql: `
CREATE TABLE relay_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL                   -- relay_id; clock_high (ms, the last sweep's clock)
);

CREATE TABLE users (
  username      TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  created_at    BIGINT NOT NULL,
  banned_at     BIGINT
);

CREATE TABLE devices (
  username       TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  device_id      INTEGER NOT NULL,
  created_at     BIGINT NOT NULL,
  identity_dh    BYTEA,
  identity_sign  BYTEA,
  identity_sig   BYTEA,
  spk_id         BIGINT,
  spk_created_at BIGINT,
  spk_public     BYTEA,
  spk_sig        BYTEA,
  PRIMARY KEY (username, device_id)
);

-- The last delivery number of each device's queue; its row is locked by every transaction that
-- queues for the device, so numbers follow commit order. Kept apart from devices so the hot
-- update rewrites a narrow row.
CREATE TABLE queue_heads (
  username  TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  last_seq  BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (username, device_id),
  FOREIGN KEY (username, device_id) REFERENCES devices(username, device_id) ON DELETE CASCADE
);

CREATE TABLE one_time_prekeys (
  username   TEXT NOT NULL,
  device_id  INTEGER NOT NULL,
  key_id     BIGINT NOT NULL,
  public_key BYTEA NOT NULL,
  PRIMARY KEY (username, device_id, key_id),
  FOREIGN KEY (username, device_id) REFERENCES devices(username, device_id) ON DELETE CASCADE
);

CREATE TABLE sessions (
  token_hash BYTEA PRIMARY KEY,
  username   TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  device_id  INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE INDEX sessions_user ON sessions(username);

CREATE TABLE messages (
  id            BIGSERIAL PRIMARY KEY,
  sender        TEXT NOT NULL,
  sender_device INTEGER NOT NULL,
  client_id     TEXT NOT NULL,
  body          BYTEA NOT NULL,
  stored_at     BIGINT NOT NULL,
  expires_at    BIGINT NOT NULL,
  kind          TEXT NOT NULL DEFAULT 'message'
);
-- Ciphertext does not compress: store it out of line without trying.
ALTER TABLE messages ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX messages_expiry ON messages(expires_at);

CREATE TABLE deliveries (
  username   TEXT NOT NULL,
  device_id  INTEGER NOT NULL,
  seq        BIGINT NOT NULL,
  message_id BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  size       INTEGER NOT NULL,
  -- Covers the in-order queue scan and the quota's count/sum.
  PRIMARY KEY (username, device_id, seq) INCLUDE (size),
  FOREIGN KEY (username, device_id) REFERENCES devices(username, device_id) ON DELETE CASCADE
);
CREATE INDEX deliveries_message ON deliveries(message_id);

CREATE TABLE sent_ids (
  sender        TEXT NOT NULL,
  sender_device INTEGER NOT NULL,
  client_id     TEXT NOT NULL,
  stored_at     BIGINT NOT NULL,
  expires_at    BIGINT NOT NULL,
  PRIMARY KEY (sender, sender_device, client_id)
);
CREATE INDEX sent_ids_expiry ON sent_ids(expires_at);

CREATE TABLE blobs (
  id         TEXT PRIMARY KEY,
  owner      TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  size       BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX blobs_owner ON blobs(owner, size);
CREATE INDEX blobs_expiry ON blobs(expires_at);
CREATE TABLE blob_recipients (
  blob_id  TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
  username TEXT NOT NULL,
  PRIMARY KEY (blob_id, username)
);

CREATE TABLE correspondents (
  recipient  TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  sender     TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (recipient, sender)
);
CREATE INDEX correspondents_sender ON correspondents(sender, expires_at);
CREATE INDEX correspondents_expiry ON correspondents(expires_at);

-- Token buckets shared by every node (login, registration, password change, bundle fetches).
CREATE TABLE rate_buckets (
  name   TEXT NOT NULL,                 -- which limit
  key    TEXT NOT NULL,                 -- address, account, or requester and target
  tokens DOUBLE PRECISION NOT NULL,
  at     BIGINT NOT NULL,
  full_at BIGINT NOT NULL,              -- when it will have refilled (the sweep forgets it then)
  PRIMARY KEY (name, key)
);
CREATE INDEX rate_buckets_full ON rate_buckets(full_at);
`,
  },
  {
    version: 2,
    description: 'group_fences: the newest epoch seen per group (the stale_epoch fence)',
    sql: `
-- As SQLite's group_fences (store/schema.ts). A commit batch locks the rows of its groups (after
-- the queue heads, in group id order) so two nodes decide the fence one after the other.
CREATE TABLE group_fences (
  group_id   BYTEA PRIMARY KEY,          -- 32 bytes
  epoch      BIGINT NOT NULL,             -- -1: locked by a batch whose sends were all refused
  updated_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX group_fences_expiry ON group_fences(expires_at);
`,
  },
  {
    version: 3,
    description: 'blocks: whom each account refuses messages from',
    sql: `
-- As SQLite's blocks (store/schema.ts): the relay queues nothing from \`blocked\` for \`blocker\`.
CREATE TABLE blocks (
  blocker    TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  blocked    TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (blocker, blocked)
);
`,
  },
  {
    version: 4,
    description: 'device_lists: every signed device list of an account',
    sql: `
-- As SQLite's device_lists (store/schema.ts). An upload locks the account's users row (FOR NO KEY
-- UPDATE) before reading the newest list, so two nodes storing a list of one account take turns.
CREATE TABLE device_lists (
  username  TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  version   BIGINT NOT NULL,
  list      BYTEA NOT NULL,
  stored_at BIGINT NOT NULL,
  PRIMARY KEY (username, version)
);
`,
  },
  {
    version: 5,
    description: 'removed_devices: device ids an account\'s device list removed',
    sql: `
-- As SQLite's removed_devices (store/schema.ts): no login as a device id the account's list
-- removed, until a later list holds it again.
CREATE TABLE removed_devices (
  username   TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  device_id  INTEGER NOT NULL,
  removed_at BIGINT NOT NULL,
  PRIMARY KEY (username, device_id)
);
`,
  },
  {
    version: 6,
    description: 'link_channels, device_tickets: linking a new device',
    sql: `
-- As SQLite's link_channels and device_tickets (store/schema.ts, postgres/linking.ts).
CREATE TABLE link_channels (
  name        TEXT PRIMARY KEY,
  username    TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  request     BYTEA NOT NULL,
  secret_hash BYTEA NOT NULL,
  message     BYTEA,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL
);
CREATE INDEX link_channels_expiry ON link_channels(expires_at);
CREATE TABLE device_tickets (
  ticket_hash BYTEA PRIMARY KEY,
  username    TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  device_id   BIGINT NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL
);
CREATE INDEX device_tickets_user ON device_tickets(username, expires_at);
`,
  },
  {
    version: 7,
    description: 'sessions.password_at: when the password was verified to make the session',
    sql: `
-- As SQLite's (store/schema.ts ADDED_COLUMNS): NULL for a device ticket's login and for older rows.
ALTER TABLE sessions ADD COLUMN password_at BIGINT;
`,
  },
  {
    version: 8,
    description: 'device_tickets.session_hash: the session a device ticket was redeemed for',
    sql: `
-- As SQLite's (store/schema.ts ADDED_COLUMNS): NULL while unredeemed; a redeemed ticket stays until
-- it expires, so the same session asking again gets the same login and any other is refused.
ALTER TABLE device_tickets ADD COLUMN session_hash BYTEA;
`,
  },
];

export const SCHEMA_VERSION_PG = MIGRATIONS[MIGRATIONS.length - 1]!.version;
