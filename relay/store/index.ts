// The storage face: the interface handlers use, and the SQLite implementation the relay ships.
export type * from './types.js';
export { openSqliteStore, type SqliteRelayStore, type SqliteStoreOptions } from './sqlite.js';
export { SCHEMA, SCHEMA_VERSION } from './schema.js';
