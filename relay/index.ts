// The relay's face: start a relay, or build its pieces (for tests and for the admin command).
export { startRelay, type RunningRelay } from './server.js';
export { DEFAULTS, resolveConfig, type RelayConfig, type RelayOptions, type SyncLevel } from './config.js';
export { RelayError, isRelayError, RELAY_ERROR_CODES, CLOSE, httpStatus, type RelayErrorCode } from './errors.js';
export { createContext, type RelayContext } from './context.js';
export { createApp } from './http/index.js';
export { openSqliteStore, type Store } from './store/index.js';
export { LocalBus, type Bus, type BusEvent } from './bus/index.js';
