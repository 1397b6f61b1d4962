// Everything a handler needs, built once per relay instance and passed in (no module globals), so
// tests can build several relays in one process and swap the store or the bus.
import { Blobs } from './blobs/index.js';
import { LocalBus, type Bus } from './bus/index.js';
import { resolveConfig, type RelayConfig, type RelayOptions } from './config.js';
import { Submitter } from './delivery/submitter.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Passwords } from './passwords.js';
import { RateLimiter, type Limiter } from './ratelimit.js';
import { Headroom } from './storage.js';
import { openSqliteStore, type SqliteRelayStore, type Store } from './store/index.js';

/** What the HTTP side needs from the WebSocket side (the Hub implements it). */
export interface Presence {
  /** The online users `viewer` may see (relay/ws/hub.ts says who that is). */
  onlineUsers(viewer: string): Promise<string[]>;
}

export interface RelayContext {
  cfg: RelayConfig;
  store: Store;
  bus: Bus;
  log: Logger;
  metrics: Metrics;
  passwords: Passwords;
  /**
   * Token buckets: register/login per client address (/64 for IPv6, address.ts) and per account;
   * message deliveries per device and per account; bundle fetches per requester and per
   * (requester, target).
   */
  limits: { address: Limiter; account: Limiter; send: Limiter; sendAccount: Limiter; bundles: Limiter; bundlesPerTarget: Limiter };
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

/** The warning for a database file whose mode was too open (store/file-modes.ts). */
export function modeFixedWarning(log: Logger): (file: string, oldMode: number) => void {
  return (file, oldMode) => {
    log.warn({ event: 'file_mode_fixed', file, oldMode: oldMode.toString(8), mode: '600' }, 'a relay database file was readable by others; narrowed to 0600');
  };
}

export function createContext(opts: RelayOptions = {}, parts: ContextParts = {}): RelayContext {
  const cfg = resolveConfig(opts);
  const log = parts.log ?? createLogger(cfg.logLevel);
  const store = parts.store ?? openSqliteStore(cfg.db, { synchronous: cfg.synchronous, onModeFixed: modeFixedWarning(log) });
  const bus = parts.bus ?? new LocalBus();
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
    limits: createLimits(cfg),
    submitter: new Submitter(store, bus, cfg, log, metrics, now, headroom),
    blobs: new Blobs(cfg, store.blobs, log, now, headroom, cfg.postgres !== null),
    headroom,
    expiryHold: null,
    presence: { onlineUsers: async () => [] }, // replaced by the Hub when WebSockets are attached
    now,
  };
}

function createLimits(cfg: RelayConfig): RelayContext['limits'] {
  const keys = cfg.rateLimitMaxKeys;
  const { rateLimitPerAddress: addr, rateLimitPerAccount: acct, rateLimitSend: send, rateLimitSendAccount: sendAcct } = cfg;
  return {
    address: new RateLimiter(addr.burst, addr.perMinute, 'address', keys),
    account: new RateLimiter(acct.burst, acct.perMinute, 'account', keys),
    send: new RateLimiter(send.burst, send.perSecond * 60, 'device', keys, 'messages'),
    sendAccount: new RateLimiter(sendAcct.burst, sendAcct.perSecond * 60, 'account', keys, 'messages'),
    bundles: new RateLimiter(cfg.rateLimitBundles.burst, cfg.rateLimitBundles.perHour / 60, 'account', keys, 'key bundle fetches'),
    bundlesPerTarget: new RateLimiter(cfg.rateLimitBundlesPerTarget.burst, cfg.rateLimitBundlesPerTarget.perHour / 60, 'account and target', keys, 'key bundle fetches'),
  };
}
