// Everything a handler needs, built once per relay instance and passed in (no module globals), so
// tests can build several relays in one process and swap the store or the bus.
import { Blobs } from './blobs/index.js';
import { LocalBus, type Bus } from './bus/index.js';
import { resolveConfig, type RelayConfig, type RelayOptions } from './config.js';
import { Submitter } from './delivery/submitter.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Passwords } from './passwords.js';
import { MemoryCharger, RateLimiter, SharedCharger, type Limiter, type LimitCharger, type LimitSpec, type SharedLimit } from './ratelimit.js';
import { Headroom } from './storage.js';
import { openSqliteStore, type SqliteRelayStore, type Store } from './store/index.js';
import type { PostgresStore } from './store/postgres/store.js';

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
  /** Token buckets of message deliveries per device and per account (this node's memory). */
  limits: { send: Limiter; sendAccount: Limiter };
  /**
   * Register/login/password change per client address (/64 for IPv6, address.ts) and per account;
   * bundle fetches per requester and per (requester, target); device list uploads per account. In memory on one node, in the store
   * (shared by every node) on PostgreSQL.
   */
  charge: LimitCharger['charge'];
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
    limits: sendLimits(cfg),
    charge: chargerFor(cfg, store),
    submitter: new Submitter(store, bus, cfg, log, metrics, now, headroom),
    blobs: new Blobs(cfg, store.blobs, log, now, headroom, cfg.postgres !== null),
    headroom,
    expiryHold: null,
    presence: { onlineUsers: async () => [] }, // replaced by the Hub when WebSockets are attached
    now,
  };
}

function sendLimits(cfg: RelayConfig): RelayContext['limits'] {
  const keys = cfg.rateLimitMaxKeys;
  const { rateLimitSend: send, rateLimitSendAccount: sendAcct } = cfg;
  return {
    send: new RateLimiter(send.burst, send.perSecond * 60, 'device', keys, 'messages'),
    sendAccount: new RateLimiter(sendAcct.burst, sendAcct.perSecond * 60, 'account', keys, 'messages'),
  };
}

/** The limits every node must share: in memory on one node, in the store on PostgreSQL. */
function chargerFor(cfg: RelayConfig, store: Store): RelayContext['charge'] {
  const specs: Record<SharedLimit, LimitSpec> = {
    address: { ...cfg.rateLimitPerAddress, noun: 'attempts', what: 'address' },
    account: { ...cfg.rateLimitPerAccount, noun: 'attempts', what: 'account' },
    bundles: { burst: cfg.rateLimitBundles.burst, perMinute: cfg.rateLimitBundles.perHour / 60, noun: 'key bundle fetches', what: 'account' },
    bundlesPerTarget: { burst: cfg.rateLimitBundlesPerTarget.burst, perMinute: cfg.rateLimitBundlesPerTarget.perHour / 60, noun: 'key bundle fetches', what: 'account and target' },
    deviceLists: { burst: cfg.rateLimitDeviceLists.burst, perMinute: cfg.rateLimitDeviceLists.perHour / 60, noun: 'device list uploads', what: 'account' },
  };
  const shared = (store as Partial<PostgresStore>).takeTokens;
  const inMemory = (s: LimitSpec): Limiter => new RateLimiter(s.burst, s.perMinute, s.what, cfg.rateLimitMaxKeys, s.noun);
  const charger: LimitCharger = shared
    ? new SharedCharger(specs, shared)
    : new MemoryCharger({ address: inMemory(specs.address), account: inMemory(specs.account), bundles: inMemory(specs.bundles), bundlesPerTarget: inMemory(specs.bundlesPerTarget), deviceLists: inMemory(specs.deviceLists) });
  return (charges, now, cost) => charger.charge(charges, now, cost);
}
