// Everything a handler needs, built once per relay instance and passed in (no module globals), so
// tests can build several relays in one process and swap the store or the bus.
import { Blobs } from './blobs/index.js';
import { LocalBus, type Bus } from './bus.js';
import { resolveConfig, type RelayConfig, type RelayOptions } from './config.js';
import { Submitter } from './delivery/submitter.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Passwords } from './passwords.js';
import { RateLimiter, type Limiter } from './ratelimit.js';
import { openSqliteStore, type Store } from './store/index.js';

/** What the HTTP side needs from the WebSocket side (the Hub implements it). */
export interface Presence {
  /** The online users `viewer` may see (relay/ws/hub.ts says who that is). */
  onlineUsers(viewer: string): string[];
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
  presence: Presence;
  now: () => number;
}

export interface ContextParts {
  store?: Store;
  bus?: Bus;
  log?: Logger;
  now?: () => number;
}

export function createContext(opts: RelayOptions = {}, parts: ContextParts = {}): RelayContext {
  const cfg = resolveConfig(opts);
  const log = parts.log ?? createLogger(cfg.logLevel);
  const onModeFixed = (file: string, oldMode: number): void => {
    log.warn({ event: 'file_mode_fixed', file, oldMode: oldMode.toString(8), mode: '600' }, 'a relay database file was readable by others; narrowed to 0600');
  };
  const store = parts.store ?? openSqliteStore(cfg.db, { synchronous: cfg.synchronous, onModeFixed });
  const bus = parts.bus ?? new LocalBus();
  const metrics = createMetrics();
  const now = parts.now ?? Date.now;
  return {
    cfg,
    store,
    bus,
    log,
    metrics,
    passwords: new Passwords(cfg),
    limits: createLimits(cfg),
    submitter: new Submitter(store, bus, cfg, log, metrics, now),
    blobs: new Blobs(cfg, store.blobs, log, now),
    presence: { onlineUsers: () => [] }, // replaced by the Hub when WebSockets are attached
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
