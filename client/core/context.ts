// An unlocked home: config, secrets, the store and the relay target. The CLI opens one per command
// with client/node/open-home.ts (the keystore on disk, SQLite); the page puts one together from its
// vault. What is here runs in both.
import type { RandomBytes } from '../../crypto/sodium.js';
import type { Address } from '../../crypto/types.js';
import { CliError } from '../errors.js';
import type { Sealer } from './at-rest.js';
import type { Alarm } from './integrity/manifest.js';
import { loadConfig, loadToken, type Config } from './config.js';
import type { DB } from './db.js';
import { hasKeys, homePaths, type Home } from './home.js';
import type { Secrets } from './keystore.js';
import type { RelayTarget } from './relay-http.js';

export interface Client {
  home: Home;
  config: Config;
  secrets: Secrets;
  db: DB;
  sealer: Sealer;
  random: RandomBytes;
  now: () => number;
  /** Set when the store was found rolled back or replaced at open (sending refused until reset-sessions). */
  alarm: Alarm | null;
  close(): void;
}

/** The parts of a home that need no passphrase: config and the public columns of the store. */
export interface PublicHome {
  home: Home;
  config: Config;
  db: DB;
  close(): void;
}

export function requireKeys(home: Home): void {
  if (!hasKeys(home)) {
    throw new CliError('no_keys', `no keys in ${home.dir}`, { hint: 'run `fastchat keygen` first (or set FASTCHAT_HOME)' });
  }
}

/** Config and paths only, no store and no secrets: for `whoami`. */
export function openConfig(): { home: Home; config: Config } {
  const home = homePaths();
  requireKeys(home);
  return { home, config: loadConfig(home) };
}

/** Our address on the relay; fails with a hint when this home has no account yet. */
export function ourAddress(c: { config: Config }): Address {
  if (!c.config.username) throw new CliError('not_registered', 'this home has no relay account', { hint: 'run `fastchat register <username> --relay URL` or `fastchat login <username> --relay URL`' });
  return { user: c.config.username, device: c.config.deviceId ?? 1 };
}

/** Where and as whom to talk to the relay; fails with a hint when logged out. */
export function relayTarget(c: { home: Home; config: Config }): RelayTarget {
  ourAddress(c);
  const token = loadToken(c.home);
  if (!c.config.relay) throw new CliError('no_relay', 'no relay configured', { hint: 'run `fastchat login <username> --relay URL`' });
  if (!token) throw new CliError('logged_out', 'not logged in to the relay', { hint: `run \`fastchat login ${c.config.username}\`` });
  return { url: c.config.relay, token: token.token, ...(c.config.ca ? { ca: c.config.ca } : {}), ...(c.config.relayId ? { relayId: c.config.relayId } : {}) };
}
