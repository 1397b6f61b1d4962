// The storage interface every relay handler talks to: SQLite (sqlite.ts, one node) and PostgreSQL
// (postgres/, many nodes) implement it. Each method keeps the atomicity promise written beside it
// on either engine; the store unit tests run against both (store.test.ts).
//
// Every method answers with a promise, because PostgreSQL is a round trip away. SQLite answers at
// once (better-sqlite3 is synchronous): its methods do the work when called and return a settled
// promise, so awaiting one costs a microtask, and the hot path (one commitBatch per event-loop
// turn, one pending() per page of 100) awaits a handful per turn, not one per message.
import type { RelayError } from '../errors.js';

export interface Address {
  user: string;
  device: number;
}

export interface UserRecord {
  username: string;
  passwordHash: string;
  createdAt: number;
  bannedAt: number | null;
}

export interface SessionRecord {
  user: string;
  device: number;
  expiresAt: number;
  banned: boolean;
  /**
   * When the password was verified to make this session (a login or a password change), or null
   * (a device ticket's login, or a session from before the relay recorded it): PUT /v1/devices
   * with `replace` needs a recent one (relay/http/devices.ts).
   */
  passwordAt: number | null;
}

export interface PublicIdentityBytes {
  dhPublic: Uint8Array;
  signPublic: Uint8Array;
  signature: Uint8Array;
}

export interface SignedPreKeyBytes {
  id: number;
  createdAt: number;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

export interface OneTimePreKeyBytes {
  id: number;
  publicKey: Uint8Array;
}

export interface DeviceBundle {
  deviceId: number;
  identity: PublicIdentityBytes;
  signedPreKey: SignedPreKeyBytes;
  oneTimePreKey: OneTimePreKeyBytes | null;
  /** One-time prekeys left for this device after this fetch. */
  remaining: number;
}

export interface SubmitRequest {
  sender: Address;
  clientId: string;
  to: Address[];
  body: Uint8Array;
  /** The body as the validated base64url text it arrived in: pushed live as is (never stored). */
  bodyText?: string;
  /**
   * Sends of one stream (one WebSocket connection) keep per-recipient order inside a commit
   * batch: once one is refused with a retryable error (isRetryable), every later one of the same
   * stream to any of its recipients is refused with out_of_order (see relay/ws/order-gate.ts).
   */
  stream?: number;
  /**
   * A group message's cleartext group id and epoch (docs/PROTOCOL.md G.6): refused as stale_epoch
   * when the relay has stored a newer epoch of that group, unless `synced` (the sender ran a receive
   * pass and is still behind: the fence is ahead of what it can learn).
   */
  fence?: { groupId: Uint8Array; epoch: number; synced: boolean };
}

export type SubmitResult =
  | {
      ok: true;
      duplicate: boolean;
      storedAt: number;
      /** Recipient devices (none for a duplicate) and, index for index, their new delivery ids. */
      recipients: Address[];
      deliveryIds: number[];
      /** Recipient accounts that this message made able to see the sender's presence (its first in the TTL). */
      revealedTo?: string[];
    }
  | { ok: false; error: RelayError };

export interface AckRequest {
  to: Address;
  deliveryId: number;
}

export interface QueuedMessage {
  deliveryId: number;
  /** 'message': a sender's ciphertext; 'expired': the relay's expiry notice (body: JSON, docs/RELAY.md). */
  kind: 'message' | 'expired';
  clientId: string;
  from: Address;
  body: Uint8Array;
  storedAt: number;
}

export interface QueueLimits {
  maxMessages: number;
  maxBytes: number;
  ttlMs: number;
  /** The disk is below its headroom: new messages are refused with storage_full (acks still commit). */
  storageFull?: boolean;
}

/** What a sweep at some time would delete (relay/sweep.ts decides whether it may). */
export interface ExpiryPreview {
  /** Deliveries queued, and those whose message would expire. */
  queued: number;
  expiring: number;
  /** Login sessions, and those that would expire. */
  sessions: number;
  expiringSessions: number;
  /** The relay's clock at its last completed sweep, or null before the first. */
  clockHigh: number | null;
}

/** An expiry notice queued for a sender device. */
export interface ExpiredNotice {
  to: Address;
  deliveryId: number;
  messages: number;
}

export interface SweepResult {
  messages: number;
  sessions: number;
  notices: ExpiredNotice[];
}

/** Metadata of one stored blob; its bytes are a file in the blob directory, never in a row. */
export interface BlobRecord {
  id: string;
  owner: string;
  size: number;
  createdAt: number;
  expiresAt: number;
  /** Recipients that have not acknowledged it yet. */
  recipients: string[];
}

/**
 * Who has sent whom a message, for presence: a user's presence is visible to the accounts it has
 * sent a message to within the message TTL, and to nobody else.
 */
export interface CorrespondentIndex {
  /** The accounts whose presence `viewer` may see. */
  visibleTo(viewer: string, now: number): Promise<string[]>;
  /** The accounts that may see `user`'s presence. */
  audienceOf(user: string, now: number): Promise<string[]>;
}

/** Blob metadata (relay/blobs/ keeps the files). Each method is one transaction. */
export interface BlobIndex {
  create(rec: BlobRecord): Promise<void>;
  get(id: string): Promise<BlobRecord | undefined>;
  /** Bytes of blobs the account owns. */
  usage(owner: string): Promise<number>;
  /**
   * A recipient is done with the blob. 'deleted' when it was the last one (the row is gone and
   * the caller removes the file), 'kept' when others still wait, 'not_recipient' otherwise.
   */
  ack(id: string, user: string): Promise<'deleted' | 'kept' | 'not_recipient'>;
  delete(id: string): Promise<boolean>;
  /** Deletes expired rows and returns their ids (the caller removes the files). */
  expire(now: number): Promise<string[]>;
  /** Whether a row exists for each id (orphan-file clean-up). */
  existing(ids: string[]): Promise<Set<string>>;
}

export interface Store {
  /** This database's id, made once (relay/store/meta.ts); clients remember it. */
  readonly relayId: string;
  /** false when the (already case-folded) name exists. */
  createUser(username: string, passwordHash: string, now: number): Promise<boolean>;
  getUser(username: string): Promise<UserRecord | undefined>;
  /** Records that a device of the account exists (first login); idempotent. */
  touchDevice(user: string, device: number, now: number): Promise<void>;
  /**
   * Like touchDevice, but refuses (false) a device the account does not have yet when it already
   * has `maxDevices`. Counting and adding are one transaction, so concurrent logins (on any node)
   * cannot pass the cap together.
   */
  addDevice(user: string, device: number, now: number, maxDevices: number): Promise<boolean>;
  deviceExists(user: string, device: number): Promise<boolean>;

  /**
   * Stores a login. With `passwordHash` (the hash the password was verified against), only while
   * the account's hash is still that one: a login verified against the old password while a
   * password change committed is refused (false), not left valid after the change. Only a
   * session made with `passwordHash` records `now` as its passwordAt.
   */
  createSession(tokenHash: Uint8Array, user: string, device: number, now: number, expiresAt: number, passwordHash?: string): Promise<boolean>;
  /** The live session for a token hash, or undefined when unknown or expired. */
  getSession(tokenHash: Uint8Array, now: number): Promise<SessionRecord | undefined>;
  deleteSession(tokenHash: Uint8Array): Promise<void>;
  /** Revokes every token of the account; returns how many there were. */
  deleteSessions(user: string): Promise<number>;
  /**
   * Replaces the password hash, revokes every token of the account and stores `session` (the
   * caller's new login), in one transaction, only while the hash is still `oldHash` (the one the
   * old password was verified against; two concurrent changes cannot both win). Returns the
   * number of tokens revoked, or undefined when the hash had changed (nothing done). `session`
   * records `now` as its passwordAt (the old password was verified for it).
   */
  changePassword(user: string, oldHash: string, newHash: string, session: { tokenHash: Uint8Array; device: number; now: number; expiresAt: number }): Promise<number | undefined>;

  /** Replaces the device's whole bundle (identity, signed prekey, all one-time prekeys), atomically. */
  putBundle(user: string, device: number, identity: PublicIdentityBytes, spk: SignedPreKeyBytes, otks: OneTimePreKeyBytes[], now: number): Promise<number>;
  /** Adds one-time prekeys (same id replaces); refuses when the total would pass `max`. Returns the count. */
  addOneTimePreKeys(user: string, device: number, otks: OneTimePreKeyBytes[], max: number): Promise<number>;
  /** false when the device has no bundle yet. */
  setSignedPreKey(user: string, device: number, spk: SignedPreKeyBytes): Promise<boolean>;
  countOneTimePreKeys(user: string, device: number): Promise<number>;
  hasBundle(user: string, device: number): Promise<boolean>;
  /** The device's published public identity (to check a signed-prekey rotation against). */
  getIdentity(user: string, device: number): Promise<PublicIdentityBytes | undefined>;
  /**
   * Every device's bundle of `username`, each with at most one one-time prekey that is deleted in
   * the same transaction (so no key is ever handed out twice). undefined = no such user.
   */
  takeBundles(username: string): Promise<DeviceBundle[] | undefined>;
  /**
   * Every device's public identity of `username`, consuming nothing: what a client checks before
   * each send to notice a changed key without spending a one-time prekey. undefined = no such user.
   */
  listIdentities(username: string): Promise<{ deviceId: number; identity: PublicIdentityBytes }[] | undefined>;

  /**
   * Stores `list` (signed device list bytes) as the account's next, after checkDeviceListUpload
   * (relay/device-lists.ts) passed it against the newest stored list, read in the same
   * transaction: of two uploads of one version (on any node) one is stored and the other refused
   * with device_list_conflict. A duplicate of the newest list is stored once. Throws RelayError.
   * A device the newest list held and `list` does not is removed in the same transaction: its
   * tokens, queued deliveries (and bodies no one else waits for), bundle and one-time prekeys are
   * deleted, and it is remembered as removed (deviceRemoved) until a later list holds it again.
   * `removed`: those device ids (the caller tells their sockets, sessions_revoked).
   * `replace`: a version-1 list under any account key that takes the place of every stored list
   * (checkDeviceListUpload); devices the previous newest list held and it does not are removed.
   */
  putDeviceList(caller: Address, list: Uint8Array, maxDevices: number, now: number, replace?: boolean): Promise<{ version: number; duplicate: boolean; removed: number[] }>;
  /** Whether the account's device list removed this device id (and no later list holds it again): no login as it. */
  deviceRemoved(user: string, device: number): Promise<boolean>;
  /** The account's stored lists after version `since`, oldest first, at most `limit`. undefined = no such user. */
  deviceLists(username: string, since: number, limit: number): Promise<{ version: number; list: Uint8Array }[] | undefined>;

  /**
   * Stores a batch of submissions in ONE transaction and commits before returning: each result is
   * durable when this returns. Dedup, recipient checks and quotas are decided inside it.
   */
  submitBatch(reqs: SubmitRequest[], now: number, limits: QueueLimits): Promise<SubmitResult[]>;
  /** Deletes deliveries acknowledged by their recipient (and bodies no one else waits for). */
  ackBatch(acks: AckRequest[]): Promise<number>;
  /**
   * ackBatch then submitBatch in ONE transaction (one commit, one fsync, for everything that
   * arrived in an event-loop turn). Returns the number of deliveries deleted and the submit results.
   */
  commitBatch(acks: AckRequest[], reqs: SubmitRequest[], now: number, limits: QueueLimits): Promise<{ acked: number; results: SubmitResult[] }>;
  /** How many deliveries are queued for a device (told in its `hello`). */
  queuedFor(to: Address): Promise<number>;
  /**
   * Queued messages of a device with delivery id > afterId, in order. A device's delivery ids
   * increase in commit order (whichever node commits): a reader that has seen id N never finds a
   * smaller id committed later, which is what lets a connection keep a cursor (relay/ws/).
   */
  pending(to: Address, afterId: number, limit: number): Promise<QueuedMessage[]>;

  /** What sweep(now) would delete, and the clock of the last sweep (a jump shows as a gap). */
  expiryPreview(now: number): Promise<ExpiryPreview>;
  /**
   * Deletes expired messages, dedup records and sessions, and records `now` as the last sweep's
   * clock, in one transaction. Each sender device with an undelivered expired message first gets
   * an expiry notice in its queue (kept for `noticeTtlMs`).
   */
  sweep(now: number, noticeTtlMs: number): Promise<SweepResult>;
  /** Total queued deliveries (a metric). */
  queueDepth(): Promise<number>;

  // Operator actions (fastchat relay users ...).
  listUsers(): Promise<(UserRecord & { devices: number; queued: number })[]>;
  setBanned(username: string, bannedAt: number | null): Promise<boolean>;
  /** Deletes the account with its devices, keys, sessions and queued messages. */
  deleteUser(username: string): Promise<boolean>;
  /**
   * The devices the relay holds for the account that its newest device list does not name, with
   * when each was added: a device a ticket login added whose list upload never came (a link whose
   * login reply was lost, before ticket redeems could be asked again), or a home that logged in
   * with the password but could not sign itself into the list. None when the account has no list
   * (or only one from before entry signatures): then no list speaks for any device. undefined = no
   * such user.
   */
  unlistedDevices(username: string): Promise<{ device: number; createdAt: number }[] | undefined>;
  /**
   * Removes one of unlistedDevices as a list leaving it out would (its tokens, queue, bundle and
   * prekeys; remembered as removed, so it cannot log in again), in one transaction that reads the
   * newest list again: 'listed' (nothing done) when that list names it, or the account has no
   * list; 'unknown' when the relay holds no such device.
   */
  removeUnlistedDevice(username: string, device: number, now: number): Promise<'removed' | 'listed' | 'unknown'>;

  /** Answers when the database does (for /healthz); rejects when it cannot be reached. */
  ping(): Promise<void>;

  /** Attachment blob metadata. */
  readonly blobs: BlobIndex;
  readonly blocks: BlockIndex;
  /** Device-linking channels and device tickets. */
  readonly linking: LinkingIndex;
  /** Who has sent whom a message (presence). */
  readonly correspondents: CorrespondentIndex;

  close(): Promise<void>;
}

export type { RelayError };

/** Whom each account refuses messages from (docs/RELAY.md "Blocks"). */
export interface BlockIndex {
  /** Adds a block; false when the blocker already has `max` (nothing added). Idempotent. */
  block(blocker: string, blocked: string, now: number, max: number): Promise<boolean>;
  unblock(blocker: string, blocked: string): Promise<void>;
  list(blocker: string): Promise<string[]>;
  /** Whether `recipient` blocks messages from `sender`. */
  blocks(recipient: string, sender: string): Promise<boolean>;
}

/**
 * Device linking (docs/RELAY.md "Linking"): anonymous one-message channels a new device opens and
 * an existing device of the account answers, and one-time device tickets. Each method is one
 * transaction; expired rows count as absent everywhere, before the sweep deletes them.
 */
export interface LinkingIndex {
  /**
   * Opens channel `name` for `user`'s new device with its request; an expired channel of that name
   * is replaced. false when an unexpired one holds the name (nothing stored).
   */
  open(name: string, user: string, request: Uint8Array, secretHash: Uint8Array, now: number, expiresAt: number): Promise<boolean>;
  /**
   * The request of `user`'s unexpired channel `name` and whether it is answered, or undefined
   * (another account's is undefined too).
   */
  request(name: string, user: string, now: number): Promise<{ request: Uint8Array; answered: boolean } | undefined>;
  /**
   * Stores the channel's one message: 'gone' when `user` has no such unexpired channel, 'answered'
   * when it holds another message already. The same message again is 'stored' (an approver's retry
   * of an answer whose reply it lost).
   */
  answer(name: string, user: string, message: Uint8Array, now: number): Promise<'stored' | 'answered' | 'gone'>;
  /**
   * For the holder of the channel secret: the message, as often as asked until the channel expires
   * (a new device that lost the reply of its take, asleep or cut off, asks again); 'waiting' before
   * it is answered; 'gone' when there is no such unexpired channel or the secret is not its secret.
   */
  take(name: string, secretHash: Uint8Array, now: number): Promise<{ message: Uint8Array } | 'waiting' | 'gone'>;
  /**
   * Binds a new ticket to `user` and the lowest device id that is neither a device of the account
   * nor held by an unexpired ticket not yet redeemed. undefined when those together are `maxDevices` already.
   */
  issueTicket(ticketHash: Uint8Array, user: string, now: number, expiresAt: number, maxDevices: number): Promise<number | undefined>;
  /**
   * Marks the unexpired ticket redeemed by `session` and, in the same transaction, adds its device
   * (still within `maxDevices`, and only if no login took that id meanwhile) and stores `session`
   * for it. The same ticket with the same session again (a redeem whose reply was lost) answers as
   * the first did while the ticket would be unexpired and that session lives; any other session
   * gets undefined: one login per ticket. undefined (nothing done but spending the ticket) when
   * any of that fails; the redeemed ticket is deleted by expire() when it expires.
   */
  redeemTicket(ticketHash: Uint8Array, session: { tokenHash: Uint8Array; now: number; expiresAt: number }, maxDevices: number): Promise<(Address & { expiresAt: number }) | undefined>;
  /** Deletes expired channels and tickets; returns how many rows. */
  expire(now: number): Promise<number>;
}
