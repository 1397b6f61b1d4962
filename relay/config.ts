// Every limit the relay enforces, as an option with a safe default (the ws `maxPayload` model):
// an operator can raise or lower each one, and docs/RELAY.md lists them with these defaults.

import { availableParallelism } from 'node:os';
import { MAX_GROUP_MEMBERS } from '../crypto/consts.js';

/** How hard SQLite works to keep a committed transaction (see store/sqlite.ts for the trade-off). */
export type SyncLevel = 'NORMAL' | 'FULL';

export interface RelayConfig {
  host: string;
  port: number;
  /** SQLite file; ':memory:' for tests that need no file. Unused with `postgres`. */
  db: string;
  /**
   * PostgreSQL (postgres://USER@HOST/DB) instead of SQLite: the store several relay nodes share
   * (docs/SCALING.md). null = SQLite at `db`, one node.
   */
  postgres: string | null;
  /** Connections each node keeps open to PostgreSQL. */
  postgresPoolMax: number;
  /**
   * NATS server(s) (nats://HOST:4222, comma-separated) carrying live-delivery, presence and
   * revocation events between nodes; null = in-process (one node).
   */
  bus: string | null;
  /** This node's name in logs and cluster events (a random id is added to it). */
  nodeName: string | null;
  /** How often a node tells the others it is alive; one not heard for 3 of these is gone (its users offline). */
  clusterHeartbeatMs: number;
  /**
   * A user whose last connection closed is announced offline only this long afterwards, and only
   * if no connection of it came back meanwhile (on any node): a reconnect sends no presence at all.
   * 0 = announced at once.
   */
  presenceGraceMs: number;
  tls: { cert: string; key: string } | null;
  /** FULL: a commit survives power loss; NORMAL: survives a process crash (kill -9) only. */
  synchronous: SyncLevel;

  /** Largest HTTP request body, refused from Content-Length or while streaming, before buffering. */
  maxBodyBytes: number;
  /** Largest WebSocket frame (ws `maxPayload`); bigger frames close the socket with 1009. */
  maxFrameBytes: number;
  /** Largest message body (decoded ciphertext bytes). Padded plaintext tops out at 64 KiB. */
  maxMessageBytes: number;
  /** Most recipients of one send (a group fan-out). */
  maxRecipients: number;

  /** Per recipient device: most queued messages, and most queued body bytes. */
  queueMaxMessages: number;
  queueMaxBytes: number;
  /** Undelivered messages are deleted after this long. */
  messageTtlMs: number;
  /**
   * A turn that brought only acks is committed this much later (or with the next sends' commit,
   * whichever comes first), so acks ride along instead of paying a commit of their own. An ack
   * not yet committed is only a redelivery after a crash (clients deduplicate); sends are never
   * deferred. 0 = commit every turn's acks at the end of the turn.
   */
  ackCommitDelayMs: number;
  /** How often expired messages and sessions are swept, and bans re-checked on live sockets. */
  sweepIntervalMs: number;

  /** Bearer tokens expire this long after login. */
  tokenTtlMs: number;

  /** Token buckets for register and login: burst size and refill per minute. */
  rateLimitPerAddress: { burst: number; perMinute: number };
  rateLimitPerAccount: { burst: number; perMinute: number };
  /**
   * Per sending device (user + device): message deliveries, over WebSocket `send` and POST
   * /v1/messages alike (one bucket), refilled at `perSecond` up to `burst`. Bounds the CPU and
   * disk one account can take; the per-recipient queue quotas bound only what piles up.
   */
  rateLimitSend: { burst: number; perSecond: number };
  /**
   * Per account, all its devices together, counted like rateLimitSend. Without it an account
   * would multiply the device limit by its number of devices.
   */
  rateLimitSendAccount: { burst: number; perSecond: number };
  /**
   * Bundle fetches (GET /v1/keys/:username, which hands out one-time prekeys) per requesting
   * account over all targets, and per (requesting account, target account). The pair limit is what
   * keeps a stranger from draining one victim's one-time prekeys; the total bounds how many
   * victims one account reaches. Over either: rate_limited, nothing handed out.
   */
  rateLimitBundles: { burst: number; perHour: number };
  rateLimitBundlesPerTarget: { burst: number; perHour: number };
  /**
   * PUT /v1/devices per account (all its devices together). A list changes when a device is
   * linked or removed, so an honest account uploads a handful in its life; without a limit one
   * account could keep the relay checking signatures under its account lock without end.
   */
  rateLimitDeviceLists: { burst: number; perHour: number };
  /** Most buckets each rate limiter keeps in memory (ratelimit.ts: a bucket not full is never forgotten). */
  rateLimitMaxKeys: number;

  /** Most devices of one account; a login with a new device id beyond it is refused (too_many_devices). */
  maxDevicesPerAccount: number;
  /**
   * How long a linking channel (and a device ticket) lives (docs/RELAY.md "Linking"): long enough
   * to walk to the other device and type a code, short enough that a forgotten one is gone soon.
   */
  linkTtlMs: number;
  /**
   * How often live sockets are re-checked against the database. Logout, log-out-everywhere and a
   * password change close sockets at once; this catches what another process changed (a ban or
   * deletion by `fastchat relay users`) and token expiry.
   */
  authRecheckMs: number;

  /** argon2id cost. Defaults follow RFC 9106's second recommendation (64 MiB, t=3). */
  argon2MemoryKiB: number;
  argon2Time: number;
  argon2Parallelism: number;
  /** Most argon2 computations at once; the rest wait, so a login flood cannot starve messages. */
  argon2Concurrency: number;
  /** Most callers waiting for an argon2 slot before new ones are refused with 429. */
  argon2QueueMax: number;

  /** Most one-time prekeys stored per device, and per upload. */
  maxOneTimePreKeys: number;
  /** Below this many one-time prekeys the device is told `prekeys_low`. */
  preKeysLowThreshold: number;

  /** Above this many bytes buffered on a socket the relay stops pushing until it drains. */
  wsHighWaterBytes: number;
  /** Messages read from the store per push batch. */
  pushBatch: number;
  /** Bad frames (wrong type/fields) tolerated on one connection before closing with 1008. */
  wsMaxBadFrames: number;
  /** Server pings to detect dead peers; a socket that misses one pong is terminated. */
  wsPingIntervalMs: number;
  /**
   * A socket opened without an Authorization header (a browser cannot set one) must send its auth
   * frame within this long, or it is closed as unauthorized.
   */
  wsAuthTimeoutMs: number;

  /** Blob files (encrypted attachments): this directory; null = `<db>-blobs` (a temp dir for ':memory:'). */
  blobDir: string | null;
  /** Largest blob, refused from Content-Length before the body is read. */
  maxBlobBytes: number;
  /** Per uploading account: most bytes of blobs stored (and being uploaded) at once. */
  blobQuotaBytes: number;
  /** Blobs not yet fetched by every recipient are deleted this long after upload. */
  blobTtlMs: number;
  /** Most recipients named on one upload (they fit in the request line: 256 × 33 bytes). */
  maxBlobRecipients: number;

  /**
   * Headroom on the disks of the database and of the blobs: below this many free bytes new
   * messages and uploads are refused (storage_full) so acks and deletes always have room. 0 = off.
   */
  minFreeBytes: number;
  /** Check run on the database before serving it: quick_check (default) or the full integrity_check. */
  integrityCheck: 'quick' | 'full';

  /** Serve the web client (dist/web/) at `/` (docs/RELAY.md "Web client"); false: the API only. */
  webClient: boolean;
  /** Where the web client's built files are; null = dist/web/ beside the relay's code. */
  webDir: string | null;

  /** pino level; 'silent' turns logging off. */
  logLevel: string;
}

export const DEFAULTS: RelayConfig = {
  host: '127.0.0.1',
  port: 8787,
  db: './fastchat-relay.db',
  postgres: null,
  postgresPoolMax: 10,
  bus: null,
  nodeName: null,
  clusterHeartbeatMs: 2000,
  // The chat client's first three reconnect attempts come 0.5, 1 and 2 s after a drop
  // (client/chat/link.ts): a network blip or a relay-side replacement is over well within this.
  presenceGraceMs: 5000,
  // A few ms: one fsync saved per ack-only turn under load (docs/PERFORMANCE.md "Relay ratios,
  // round three"), while a crash still redelivers at most the acks of that long.
  ackCommitDelayMs: 5,
  tls: null,
  synchronous: 'FULL',
  maxBodyBytes: 256 * 1024,
  maxFrameBytes: 256 * 1024,
  maxMessageBytes: 96 * 1024,
  maxRecipients: 1000,
  queueMaxMessages: 10_000,
  queueMaxBytes: 100 * 1024 * 1024,
  messageTtlMs: 30 * 24 * 3600_000,
  sweepIntervalMs: 60_000,
  tokenTtlMs: 30 * 24 * 3600_000,
  rateLimitPerAddress: { burst: 20, perMinute: 20 },
  rateLimitPerAccount: { burst: 10, perMinute: 5 },
  // A person types far below 200 deliveries/s, even to a group of 30 devices at a message every
  // few seconds; a client flushing a backlog after a day offline sends 1,000 at once and then waits
  // Retry-After between windows. One device alone can still not take more than a sliver of a relay
  // that stores 30k+/s (docs/PERFORMANCE.md). The bench lifts it: it measures the relay, not this.
  rateLimitSend: { burst: 1000, perSecond: 200 },
  // Twice one device: a user's devices rarely send at once, and 8 devices at the device limit
  // would otherwise be 1,600/s from one account.
  rateLimitSendAccount: { burst: 2000, perSecond: 400 },
  // Signal-Server's prekey limiter is 6 per (requester, target device), one back every 10 minutes.
  // An honest client fetches a bundle only to start a session (it checks keys later with the
  // identity route, which consumes nothing), so 6 an hour per target is far above its need, and a
  // stranger takes at most 6 + 6/hour of a victim's one-time prekeys (a client uploads 100).
  // Over all targets, the burst is one group of the protocol's largest size: an admin who has no
  // session with anyone fetches MAX_GROUP_MEMBERS - 1 bundles to create it, and a member who then
  // speaks first fetches as many. The refill stays 200 an hour, so over a day one account reaches
  // 5,800 targets instead of 4,800, and a second full group waits for it. What guards one victim's
  // supply is the per-target limit below, unchanged.
  rateLimitBundles: { burst: MAX_GROUP_MEMBERS, perHour: 200 },
  rateLimitBundlesPerTarget: { burst: 6, perHour: 6 },
  // Linking or removing all 8 devices one after another in an afternoon stays well inside it.
  rateLimitDeviceLists: { burst: 20, perHour: 20 },
  rateLimitMaxKeys: 100_000,
  maxDevicesPerAccount: 8,
  linkTtlMs: 10 * 60_000,
  authRecheckMs: 5000,
  argon2MemoryKiB: 64 * 1024,
  argon2Time: 3,
  argon2Parallelism: 1,
  // One core is always left to the event loop: argon2 is CPU-bound, and on 2 cores 4 at once left
  // message traffic a fraction of a core (bench: p99 at 2,000 msg/s went from 16 ms to ~0.8–3 s
  // during a login flood with 4, ~0.35 s with 1, at the same logins/s).
  argon2Concurrency: Math.max(1, Math.min(4, availableParallelism() - 1)),
  argon2QueueMax: 64,
  maxOneTimePreKeys: 1000,
  preKeysLowThreshold: 10,
  wsHighWaterBytes: 1024 * 1024,
  pushBatch: 100,
  wsMaxBadFrames: 5,
  wsPingIntervalMs: 30_000,
  wsAuthTimeoutMs: 5000,
  blobDir: null,
  maxBlobBytes: 100 * 1024 * 1024,
  blobQuotaBytes: 1024 * 1024 * 1024,
  blobTtlMs: 7 * 24 * 3600_000,
  maxBlobRecipients: 256,
  // What a relay needs to keep working at a full disk: SQLite's WAL grows by up to ~4 MiB before
  // a checkpoint (1000 pages), acks rewrite pages (secure_delete), and logs go to the same disk on
  // most hosts. 64 MiB is that many times over and small next to any real disk.
  minFreeBytes: 64 * 1024 * 1024,
  integrityCheck: 'quick',
  webClient: true,
  webDir: null,
  logLevel: 'info',
};

export type RelayOptions = Partial<RelayConfig>;

export function resolveConfig(opts: RelayOptions = {}): RelayConfig {
  const c: RelayConfig = { ...DEFAULTS };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  const positive: (keyof RelayConfig)[] = [
    'maxBodyBytes', 'maxFrameBytes', 'maxMessageBytes', 'maxRecipients', 'queueMaxMessages', 'queueMaxBytes',
    'messageTtlMs', 'sweepIntervalMs', 'tokenTtlMs', 'argon2MemoryKiB', 'argon2Time', 'argon2Parallelism',
    'argon2Concurrency', 'maxOneTimePreKeys', 'wsHighWaterBytes', 'pushBatch', 'wsMaxBadFrames', 'wsPingIntervalMs', 'wsAuthTimeoutMs',
    'maxBlobBytes', 'blobQuotaBytes', 'blobTtlMs', 'maxBlobRecipients', 'rateLimitMaxKeys', 'maxDevicesPerAccount', 'linkTtlMs', 'authRecheckMs',
    'postgresPoolMax', 'clusterHeartbeatMs',
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`relay option ${k} must be a positive number, got ${String(v)}`);
  }
  for (const k of ['rateLimitPerAddress', 'rateLimitPerAccount', 'rateLimitSend', 'rateLimitSendAccount', 'rateLimitBundles', 'rateLimitBundlesPerTarget', 'rateLimitDeviceLists'] as const) {
    for (const [field, v] of Object.entries(c[k])) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`relay option ${k}.${field} must be a positive number, got ${String(v)}`);
    }
  }
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) throw new RangeError(`invalid port: ${c.port}`);
  if (!Number.isSafeInteger(c.ackCommitDelayMs) || c.ackCommitDelayMs < 0 || c.ackCommitDelayMs > 60_000) throw new RangeError(`relay option ackCommitDelayMs must be an integer from 0 to 60000, got ${String(c.ackCommitDelayMs)}`);
  if (!Number.isSafeInteger(c.presenceGraceMs) || c.presenceGraceMs < 0) throw new RangeError(`relay option presenceGraceMs must be a non-negative integer, got ${String(c.presenceGraceMs)}`);
  if (!Number.isSafeInteger(c.minFreeBytes) || c.minFreeBytes < 0) throw new RangeError(`relay option minFreeBytes must be a non-negative integer, got ${String(c.minFreeBytes)}`);
  if (typeof c.webClient !== 'boolean') throw new RangeError(`relay option webClient must be true or false, got ${String(c.webClient)}`);
  if (c.integrityCheck !== 'quick' && c.integrityCheck !== 'full') throw new RangeError(`relay option integrityCheck must be quick or full, got ${String(c.integrityCheck)}`);
  if (c.argon2MemoryKiB < 8 * c.argon2Parallelism) throw new RangeError('argon2 memory must be at least 8 KiB per lane');
  if (c.postgres !== null && !/^postgres(ql)?:\/\//.test(c.postgres)) throw new RangeError('the PostgreSQL store is a postgres://USER@HOST/DB url');
  // Every node must see every blob: on PostgreSQL the blob directory is one they share.
  if (c.postgres !== null && !c.blobDir) throw new RangeError('a PostgreSQL store needs --blob-dir: a directory every relay node shares (docs/SCALING.md)');
  if (c.bus !== null && c.postgres === null) throw new RangeError('--bus connects relay nodes that share a PostgreSQL store (--store postgres://…); a SQLite relay is one node');
  if (c.bus !== null && !c.bus.split(',').every((u) => /^nats:\/\/[^\s]+$/.test(u.trim()))) throw new RangeError('the bus is nats://HOST:PORT (comma-separated for several servers)');
  return c;
}

/** The SQLite file the relay runs on: null in memory or on PostgreSQL. */
export function sqliteFile(c: RelayConfig): string | null {
  return c.postgres !== null || c.db === ':memory:' || c.db === '' ? null : c.db;
}
