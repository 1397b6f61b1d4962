// An unlocked home: config, secrets, the store and the relay target, opened once per command.
// Modules a command may not need (the store, the keystore with its argon2 addon, the prompt, the
// HTTP client) are imported inside the functions that use them, so `whoami` loads none of them.
import type { RandomBytes } from '../../crypto/sodium.js';
import type { Address } from '../../crypto/types.js';
import { CliError } from '../errors.js';
import type { Sealer } from './at-rest.js';
import type { Alarm } from './integrity/manifest.js';
import { loadConfig, loadToken, type Config } from './config.js';
import type { DB } from './db.js';
import { ensureHome, hasKeys, homePaths, type Home } from './home.js';
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

function requireKeys(home: Home): void {
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

export async function openPublic(): Promise<PublicHome> {
  const [{ sodiumReady }, { openDb }, { closeAgents }] = await Promise.all([import('../../crypto/sodium.js'), import('../node/sqlite.js'), import('./relay-http.js')]);
  await sodiumReady();
  const home = homePaths();
  requireKeys(home);
  const db = openDb(home.store);
  return {
    home,
    config: loadConfig(home),
    db,
    close() {
      db.close();
      closeAgents();
    },
  };
}

/** `useAgent: false`: ask for the passphrase even when an unlock agent runs (what `unlock` does). */
/**
 * Opens this home with its keys. `onPassphrase` (with useAgent false) is handed the passphrase that
 * opened the keystore, for a command that seals it again (device link stores the account key).
 */
export async function openClient(opts: { useAgent?: boolean; onPassphrase?: (passphrase: string) => void } = {}): Promise<Client> {
  const [{ sodiumReady, systemRandom }, { openDb }, { closeAgents }, { assembleClient }, { KEYSTORE_FORMAT }, { unlockHome }, { warn }, { checkConfigIdentity }] =
    await Promise.all([
      import('../../crypto/sodium.js'),
      import('../node/sqlite.js'),
      import('./relay-http.js'),
      import('./assemble.js'),
      import('./keystore.js'),
      import('./unlock.js'),
      import('../format.js'),
      import('./identity-view.js'),
    ]);
  await sodiumReady();
  const home = homePaths();
  requireKeys(home);
  ensureHome(home);
  const unlocked = await unlockHome(home, warn, opts.useAgent ?? true, opts.onPassphrase);
  const random = systemRandom();
  // Our public identity is the keystore's; config.json only caches it for commands without a passphrase.
  const config = checkConfigIdentity(home, loadConfig(home), unlocked.secrets.identity, warn);
  const c = assembleClient({ home, config, secrets: unlocked.secrets, db: openDb(home.store), random, keystoreWasCurrent: unlocked.format === KEYSTORE_FORMAT }, closeAgents);
  // Only now, with the store migrated and its counter written: an upgraded keystore implies both.
  unlocked.upgrade(random);
  if (c.alarm) {
    warn(
      `store.db was rolled back or replaced since this home last wrote it (${c.alarm.reason.replace(/_/g, ' ')}, detected ${new Date(c.alarm.at).toISOString()}); ` +
        'sending is refused until you run `fastchat reset-sessions`',
    );
  }
  return c;
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
