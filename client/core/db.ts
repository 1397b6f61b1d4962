// store.db: the local SQLite store's schema and transactions. The platform opens the store
// (client/node/sqlite.ts: a file shared by fastchat processes in WAL mode; platform/sqljs.ts: the
// browser's) and hands it to initStore. Every state change is one IMMEDIATE transaction (see `tx`),
// so a session state is always committed together with the message it produced or consumed, or not
// at all.
import { GROUP_SCHEMA, upgradeGroupTables } from './group-schema.js';
import type { SqlStore } from './platform/sql.js';

export type DB = SqlStore;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
  username TEXT PRIMARY KEY,
  identity BLOB NOT NULL,              -- encodePublicIdentity, trusted (first seen or accepted)
  trust TEXT NOT NULL CHECK (trust IN ('unverified', 'verified', 'changed')),
  pending_identity BLOB,               -- the new identity seen while trust = 'changed'
  added_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
  -- sealed BLOB (ADDED_COLUMNS): the sealed contact record; the columns above are a readable copy
);
-- The integrity manifest (client/core/integrity/manifest.ts): one sealed row naming every contact
-- and session row with a digest, and the store's generation counter.
CREATE TABLE IF NOT EXISTS store_manifest (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  sealed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  username TEXT NOT NULL,
  device INTEGER NOT NULL,
  state BLOB NOT NULL,                 -- sealed encodeSession bytes
  previous BLOB,                       -- the state this one replaced (see sessions.ts)
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (username, device)
);
CREATE TABLE IF NOT EXISTS signed_prekeys (
  id INTEGER PRIMARY KEY,
  created_at INTEGER NOT NULL,
  secret BLOB NOT NULL                 -- sealed encodeSignedPreKey bytes
);
CREATE TABLE IF NOT EXISTS one_time_prekeys (
  id INTEGER PRIMARY KEY,
  secret BLOB NOT NULL                 -- sealed encodeOneTimePreKey bytes
);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,                    -- message id chosen by the sender (inside the ciphertext)
  peer TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  body BLOB,                           -- sealed text; NULL for a message that failed to decrypt
  sent_at TEXT NOT NULL,
  received_at TEXT,
  status TEXT NOT NULL,                -- out: queued | sent | delivered | read | failed | expired ; in: received | failed
  error TEXT,
  identity_changed INTEGER NOT NULL DEFAULT 0,
  UNIQUE (peer, direction, id)
);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('text', 'receipt', 'group')), -- group: a group_change / sender_key payload
  peer TEXT NOT NULL,
  device INTEGER,                      -- NULL until encrypted for each device of the peer; set before that for a row meant for one device (queueForOwnDevice)
  client_id TEXT UNIQUE,               -- the relay's idempotency id, set once encrypted
  payload BLOB,                        -- sealed payload while not yet encrypted
  envelope BLOB,                       -- ratchet envelope once encrypted (already ciphertext)
  created_at INTEGER NOT NULL
);
-- Each acknowledged send asks whether its message has rows left (outbox.ts markSentIfDone): without
-- this, a scan of the whole outbox per send, quadratic in a burst (docs/PERFORMANCE.md).
CREATE INDEX IF NOT EXISTS outbox_peer_message ON outbox (peer, message_id);
-- X3DH ephemeral keys of first messages we accepted. Without a one-time prekey nothing else
-- stops a relay from replaying an old first message once its ratchet chain has expired: it would
-- decrypt again and install a stale session. Kept while the signed prekey they used is kept.
CREATE TABLE IF NOT EXISTS accepted_prekey_messages (
  ephemeral BLOB PRIMARY KEY,
  signed_prekey_id INTEGER NOT NULL,
  at INTEGER NOT NULL
);
-- Relay client ids of our messages the relay acknowledged (they are random, client/core/outbox.ts),
-- kept while the relay may still report them expired undelivered (client/core/expired.ts).
CREATE TABLE IF NOT EXISTS sent_client_ids (
  client_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('text', 'group')),
  peer TEXT NOT NULL,                  -- the contact, or the group id (hex) for a group message
  message_id TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sent_client_ids_at ON sent_client_ids(at);
CREATE TABLE IF NOT EXISTS seen (
  sender TEXT NOT NULL,
  device INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (sender, device, client_id)
);
-- Message requests and blocks (client/core/requests.ts). No row: a user never seen.
CREATE TABLE IF NOT EXISTS peer_states (
  username TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('accepted', 'request', 'blocked')),
  since INTEGER NOT NULL,
  dropped INTEGER NOT NULL DEFAULT 0,  -- a request's messages past its bound: counted, not kept
  relay_pending TEXT CHECK (relay_pending IN ('block', 'unblock')) -- not yet told to the relay
);
-- Groups we were added to by someone not accepted: hidden until accepted.
CREATE TABLE IF NOT EXISTS group_invites (
  group_id BLOB PRIMARY KEY,
  inviter TEXT NOT NULL,
  at INTEGER NOT NULL,
  dropped INTEGER NOT NULL DEFAULT 0
);
${GROUP_SCHEMA}`;

/**
 * Columns added after a table first shipped: [table, column, declaration]. CREATE TABLE IF NOT
 * EXISTS leaves an older home's tables as they were, so each is added here when missing (an
 * ALTER TABLE ADD COLUMN, which SQLite does without rewriting the table). Append, never edit.
 */
const ADDED_COLUMNS: readonly (readonly [table: string, column: string, declaration: string])[] = [
  // The sealed contact record (identity, trust, pending identity, rejected keys) bound to the username.
  ['contacts', 'sealed', 'BLOB'],
  // 0 once the message was shown (printed by inbox, displayed by chat); otherwise this home's
  // arrival number (nextArrival), so inbox shows what is unread across conversations oldest first.
  // A row of an older home counts as shown.
  ['messages', 'unread', 'INTEGER NOT NULL DEFAULT 0'],
  ['group_messages', 'unread', 'INTEGER NOT NULL DEFAULT 0'],
  // The relay's clock when it stored an incoming message (its frame's sentAt): what the sender's
  // claimed time is checked against (client/render.ts).
  ['messages', 'relay_at', 'TEXT'],
  ['group_messages', 'relay_at', 'TEXT'],
  // groups, format 2 (client/core/group-schema.ts says what each holds)
  ['group_sender_keys', 'late', 'INTEGER NOT NULL DEFAULT 0'],
  ['group_pending', 'bytes', 'INTEGER NOT NULL DEFAULT 0'],
  ['group_pending', 'transcript', 'BLOB'],
  ['group_messages', 'before_change', 'INTEGER NOT NULL DEFAULT 0'],
  ['group_outbox', 'payload', 'BLOB'],
  // groups, format 3: the epoch from which sender keys must date, per epoch we applied
  ['group_epochs', 'key_floor', 'INTEGER NOT NULL DEFAULT 0'],
  // The contact's pinned account key (readable copy of the sealed record's, contact-record.ts).
  ['contacts', 'account_key', 'BLOB'],
  // 1 while an incoming message is owed a read receipt: set when it is stored with a delivery
  // receipt, cleared when a chat or the page shows it (read-receipts.ts). A row of an older home owes none.
  ['messages', 'read_owed', 'INTEGER NOT NULL DEFAULT 0'],
];

/** Indexes on added columns: created after the columns exist. */
const ADDED_INDEXES = `
CREATE INDEX IF NOT EXISTS messages_unread ON messages (unread) WHERE unread > 0;
-- The page asks on every draw which of the open conversation's messages owe a read receipt.
CREATE INDEX IF NOT EXISTS messages_read_owed ON messages (peer) WHERE read_owed = 1;
CREATE INDEX IF NOT EXISTS group_messages_unread ON group_messages (unread) WHERE unread > 0;
`;

function addMissingColumns(db: DB): void {
  for (const [table, column, declaration] of ADDED_COLUMNS) {
    const have = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
    if (!have) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${declaration}`);
  }
}

/** Creates or upgrades the schema of a store the platform opened; returns it. */
export function initStore(db: DB): DB {
  db.exec(SCHEMA);
  addMissingColumns(db);
  upgradeGroupTables(db);
  db.exec(ADDED_INDEXES);
  acceptKnownPeers(db);
  return db;
}

/**
 * A home from before message requests: everyone it already holds a contact or a conversation with
 * counts as accepted, so upgrading turns no existing conversation into a request. Once per home.
 */
function acceptKnownPeers(db: DB): void {
  if (getMeta(db, 'peer_states') !== undefined) return;
  db.transaction(() => {
    db.prepare(
      "INSERT OR IGNORE INTO peer_states (username, state, since) SELECT username, 'accepted', ? FROM (SELECT username FROM contacts UNION SELECT peer FROM messages)",
    ).run(Date.now());
    setMeta(db, 'peer_states', '1');
  }).immediate();
}

/**
 * A table a module creates on first use (CREATE TABLE IF NOT EXISTS …): returns the function to
 * call before each use, which runs `sql` once per database.
 */
export function lazySchema(sql: string): (c: { db: DB }) => void {
  const ready = new WeakSet<object>();
  return (c) => {
    if (ready.has(c.db)) return;
    c.db.exec(sql);
    // Made inside a transaction, the table exists only once it commits: a rollback (a frame put
    // back until a device list is checked, incoming.ts NeedsLists) takes it away again.
    afterCommit(c.db, `schema:${sql}`, () => ready.add(c.db));
  };
}

const afterCommitHooks = new WeakMap<DB, Map<string, () => void>>();

/**
 * Runs `fn` once the outermost transaction commits (at once when none is open); dropped if it rolls
 * back. One hook per key: a later registration replaces an earlier one. For side effects outside
 * the database that must never run ahead of it (the store counter file, integrity/counter.ts).
 */
export function afterCommit(db: DB, key: string, fn: () => void): void {
  if (!db.inTransaction) {
    fn();
    return;
  }
  let hooks = afterCommitHooks.get(db);
  if (!hooks) afterCommitHooks.set(db, (hooks = new Map()));
  hooks.set(key, fn);
}

/**
 * Runs fn's reads on one snapshot of the store (a deferred transaction; inside a transaction, that
 * one). A row and the manifest entry that vouches for it must be read together: read by two
 * statements, another process sharing the home (a second chat window, a send while inbox runs) can
 * commit both between them, and the old row then fails its check against the new manifest — a
 * false integrity alarm that blocks sending to that contact.
 */
export function snapshot<T>(db: DB, fn: () => T): T {
  return db.inTransaction ? fn() : db.transaction(fn).deferred();
}

/** Runs fn in one BEGIN IMMEDIATE transaction: the write lock is taken before anything is read. */
export function tx<T>(db: DB, fn: () => T): T {
  // Nested: a savepoint inside the caller's transaction; its hooks run when that one commits. A
  // savepoint that rolls back takes its hooks with it: the ones registered before it are put back
  // (a rolled-back manifest save must not leave the counter file a generation ahead of the store).
  if (db.inTransaction) {
    const before = new Map(afterCommitHooks.get(db) ?? []);
    try {
      return db.transaction(fn)();
    } catch (e) {
      afterCommitHooks.set(db, before);
      // What the page read may be what the rolled-back statements wrote (see withPageReads).
      pageReads.get(db)?.clear();
      throw e;
    }
  }
  let result: T;
  try {
    result = db.transaction(fn).immediate();
  } catch (e) {
    afterCommitHooks.delete(db);
    throw e;
  }
  const hooks = afterCommitHooks.get(db);
  afterCommitHooks.delete(db);
  if (hooks) for (const h of hooks.values()) h();
  return result;
}

export function getMeta(db: DB, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: DB, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

/**
 * The next arrival number of this home (1, 2, …), for a message being stored as unread. Call inside
 * the transaction that stores it, so numbers follow commit order. Within withPageArrivals, taken
 * from the page's counter.
 */
export function nextArrival(db: DB): number {
  const page = pageArrivals.get(db);
  if (page) return page.take();
  const row = db
    .prepare("INSERT INTO meta (key, value) VALUES ('arrival', '1') ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING value")
    .get() as { value: string | number };
  return Number(row.value);
}

/**
 * Arrival numbers of one transaction that stores many messages (IncomingPager's page): the counter
 * is read when the first number is taken and written once, when the page ends, instead of an
 * upsert on `meta` per message (docs/PERFORMANCE.md "Group backlog, round six"). The numbers stay
 * unique and increasing across processes sharing the home because the page holds the store's
 * write lock (BEGIN IMMEDIATE) from that read to its commit, and every nextArrival of this process
 * during the page takes them from here. A frame whose savepoint rolls back gives its numbers back
 * (`mark`/`restore`), as the upsert it replaces was rolled back with it.
 */
export class PageArrivals {
  /** The last number handed out (undefined until the counter is read), and the one stored. */
  private last: number | undefined;
  private stored: number | undefined;

  constructor(private readonly db: DB) {}

  take(): number {
    if (this.last === undefined) this.stored = this.last = Number(getMeta(this.db, 'arrival') ?? 0);
    return ++this.last;
  }

  save(): void {
    if (this.last !== undefined && this.last !== this.stored) setMeta(this.db, 'arrival', String(this.last));
    this.stored = this.last;
  }

  mark(): number | undefined {
    return this.last;
  }

  restore(m: number | undefined): void {
    this.last = m;
  }
}

const pageArrivals = new WeakMap<DB, PageArrivals>();

/** Runs `fn` (inside a transaction) with nextArrival taking from one counter, saved when `fn` returns. */
export function withPageArrivals<T>(db: DB, fn: (arrivals: PageArrivals) => T): T {
  if (!db.inTransaction) throw new Error('withPageArrivals runs inside the transaction that stores the page');
  if (pageArrivals.has(db)) throw new Error('withPageArrivals does not nest');
  const arrivals = new PageArrivals(db);
  pageArrivals.set(db, arrivals);
  try {
    const r = fn(arrivals);
    arrivals.save();
    return r;
  } finally {
    pageArrivals.delete(db);
  }
}

/**
 * Reads that every message of a page repeats (a sender's standing and contact record, the
 * integrity manifest, a group's row, label and epoch): within withPageReads each is made once and
 * kept until the page ends, instead of a statement (and a compare of the row's bytes) per message
 * (docs/PERFORMANCE.md "Client backlog, round seven"). Keeping them is sound because the page
 * holds the store's write lock (BEGIN IMMEDIATE) from before its first read to its commit, so no
 * other process changes a row meanwhile; in this process, every function that writes such a row
 * forgets what the page kept of its kind (forgetPageReads), and a savepoint that rolls back (a
 * frame whose storing failed, tx) forgets everything, as the rows are then back to what they were
 * before it. A kept value is shared by its readers: callers must not change it. A page is one
 * client's (one storage key), so what it keeps is not keyed by the sealer.
 */
const pageReads = new WeakMap<DB, Map<string, Map<string, unknown>>>();

/** `read()` once per page for (kind, key); outside withPageReads, every call reads. */
export function pageRead<T>(db: DB, kind: string, key: string, read: () => T): T {
  const page = pageReads.get(db);
  if (!page) return read();
  let kept = page.get(kind);
  if (!kept) page.set(kind, (kept = new Map()));
  if (kept.has(key)) return kept.get(key) as T;
  const value = read();
  kept.set(key, value);
  return value;
}

/** Whether a page keeps reads now (withPageReads). */
export function inPage(db: DB): boolean {
  return pageReads.has(db);
}

/** A write to rows of `kind` (one `key`, or all): the page reads them again. */
export function forgetPageReads(db: DB, kind: string, key?: string): void {
  const kept = pageReads.get(db)?.get(kind);
  if (!kept) return;
  if (key === undefined) kept.clear();
  else kept.delete(key);
}

/** Runs `fn` (inside the transaction that stores a page) with its repeated reads kept (pageRead). */
export function withPageReads<T>(db: DB, fn: () => T): T {
  if (!db.inTransaction) throw new Error('withPageReads runs inside the transaction that stores the page');
  if (pageReads.has(db)) throw new Error('withPageReads does not nest');
  pageReads.set(db, new Map());
  try {
    return fn();
  } finally {
    pageReads.delete(db);
  }
}
