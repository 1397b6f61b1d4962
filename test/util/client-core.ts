// Opens a test home's client core in the test process (what `openClient` does, without reading
// process.env), for steps the CLI refuses up front or would be too slow for: crafting records a
// misbehaving member would send, feeding a home a captured ciphertext, reading its store. Close it
// before the next CLI command on that home.
import type { Client } from '../../client/core/context.js';
import type { TestHome } from './fastchat-cli.js';

export async function openCore(home: TestHome): Promise<Client> {
  const { sodiumReady, systemRandom } = await import('../../crypto/sodium.js');
  const { homePaths } = await import('../../client/core/home.js');
  const { loadConfig } = await import('../../client/core/config.js');
  const { unlockKeystore, KEYSTORE_FORMAT } = await import('../../client/core/keystore.js');
  const { openDb } = await import('../../client/node/sqlite.js');
  const { assembleClient } = await import('../../client/core/assemble.js');
  await sodiumReady();
  const h = homePaths(home.dir);
  const unlocked = await unlockKeystore(h.keystore, home.env.FASTCHAT_PASSPHRASE!);
  const random = systemRandom();
  const c = assembleClient({ home: h, config: loadConfig(h), secrets: unlocked.secrets, db: openDb(h.store), random, keystoreWasCurrent: unlocked.format === KEYSTORE_FORMAT });
  unlocked.upgrade(random);
  return c;
}

/** Runs fn with the home's core open, closing it afterwards. */
export async function withCore<T>(home: TestHome, fn: (c: Client) => Promise<T> | T): Promise<T> {
  const c = await openCore(home);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}
