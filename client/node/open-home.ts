// Opens the home on disk for a command: the store through better-sqlite3, the keystore through
// argon2 (and the unlock agent). Modules a command may not need (the store, the keystore with its
// argon2 addon, the prompt, the HTTP client) are imported inside the functions that use them, so
// `whoami` loads none of them.
import { ensureHome, homePaths } from '../core/home.js';
import { loadConfig } from '../core/config.js';
import { requireKeys, type Client, type PublicHome } from '../core/context.js';

export async function openPublic(): Promise<PublicHome> {
  const [{ sodiumReady }, { openDb }, { closeAgents }] = await Promise.all([import('../../crypto/sodium.js'), import('./sqlite.js'), import('../core/relay-http.js')]);
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

/**
 * Opens this home with its keys. `onPassphrase` (with useAgent false) is handed the passphrase that
 * opened the keystore, for a command that seals it again (device link stores the account key).
 */
export async function openClient(opts: { useAgent?: boolean; onPassphrase?: (passphrase: string) => void } = {}): Promise<Client> {
  const [{ sodiumReady, systemRandom }, { openDb }, { closeAgents }, { assembleClient }, { KEYSTORE_FORMAT }, { unlockHome }, { warn }, { checkConfigIdentity }] =
    await Promise.all([
      import('../../crypto/sodium.js'),
      import('./sqlite.js'),
      import('../core/relay-http.js'),
      import('../core/assemble.js'),
      import('../core/keystore.js'),
      import('../core/unlock.js'),
      import('../format.js'),
      import('../core/identity-view.js'),
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
