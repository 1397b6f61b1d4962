// Everything a handler needs, built once per relay instance and passed in (no module globals), so
// tests can build several relays in one process and swap the store or the bus.
import { Blobs } from './blobs/index.js';
import { LocalBus, type Bus } from './bus.js';
import { resolveConfig, type RelayConfig, type RelayOptions } from './config.js';
import { Submitter } from './delivery/submitter.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Passwords } from './passwords.js';
import { RateLimiter } from './ratelimit.js';
import { Headroom } from './storage.js';
import { openSqliteStore, type SqliteRelayStore, type Store } from './store/index.js';

/** What the HTTP side needs from the WebSocket side (the Hub implements it). */
export interface Presence {
  onlineUsers(): string[];
}

export interface RelayContext {
  cfg: RelayConfig;
  store: Store;
  bus: Bus;
  log: Logger;
  metrics: Metrics;
  passwords: Passwords;
  /** Token buckets: register/login per client address and per account; message sends per device. */
  limits: { address: RateLimiter; account: RateLimiter; send: RateLimiter };
  submitter: Submitter;
  /** Attachment blob files and their quota (relay/blobs/). */
  blobs: Blobs;
  /** Free-space floor and reserve file (relay/storage.ts). */
  headroom: Headroom;
  /** Set while the sweep holds back a mass expiry for an operator (relay/sweep.ts). */
  expiryHold: ExpiryHold | null;
  presence: Presence;
  now: () => number;
}

/** Why expiry is held: what would have gone, and the clock gap that made it suspect. */
export interface ExpiryHold {
  since: number;
  reason: string;
  expiring: number;
  queued: number;
  gapMs: number;
}

export interface ContextParts {
  store?: Store;
  bus?: Bus;
  log?: Logger;
  now?: () => number;
}

export function createContext(opts: RelayOptions = {}, parts: ContextParts = {}): RelayContext {
  const cfg = resolveConfig(opts);
  const store = parts.store ?? openSqliteStore(cfg.db, { synchronous: cfg.synchronous });
  const bus = parts.bus ?? new LocalBus();
  const log = parts.log ?? createLogger(cfg.logLevel);
  const metrics = createMetrics();
  const now = parts.now ?? Date.now;
  const inside = (store as Partial<SqliteRelayStore>).freeBytesInside;
  const headroom = new Headroom(cfg, log, inside ? () => inside.call(store) : undefined);
  return {
    cfg,
    store,
    bus,
    log,
    metrics,
    passwords: new Passwords(cfg),
    limits: {
      address: new RateLimiter(cfg.rateLimitPerAddress.burst, cfg.rateLimitPerAddress.perMinute, 'address'),
      account: new RateLimiter(cfg.rateLimitPerAccount.burst, cfg.rateLimitPerAccount.perMinute, 'account'),
      send: new RateLimiter(cfg.rateLimitSend.burst, cfg.rateLimitSend.perSecond * 60, 'device', 100_000, 'messages'),
    },
    submitter: new Submitter(store, bus, cfg, log, metrics, now, headroom),
    blobs: new Blobs(cfg, store.blobs, log, now, headroom),
    headroom,
    expiryHold: null,
    presence: { onlineUsers: () => [] }, // replaced by the Hub when WebSockets are attached
    now,
  };
}
