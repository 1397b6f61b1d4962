// keygen: a new identity, a new account key, a new storage key and fresh prekeys. Never overwrites existing keys
// unless forced; with --force the old store (sessions, prekeys, contacts, history) goes too,
// because it is encrypted under the old storage key and bound to the old identity.
import { toBase64url } from '../../crypto/encoding.js';
import { generateAccountKey } from '../../crypto/account.js';
import { encodePublicIdentity, fingerprint, generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { CliError } from '../errors.js';
import { assembleClient } from './assemble.js';
import { loadConfig, saveConfig } from './config.js';
import type { Client } from './context.js';
import { openDb } from '../node/sqlite.js';
import { ensureHome, hasKeys, homePaths, removeFile } from './home.js';
import { belowOwaspMinimum, kdfParamsFromEnv, STORAGE_KEY_BYTES, writeKeystore } from './keystore.js';
import { createInitialPreKeys } from './prekeys.js';
import { getPassphrase } from './prompt.js';
import { closeAgents } from './relay-http.js';

/** `passphrase`: the new keystore's, when the caller asked for it already (device link); else asked here, twice. */
export async function keygen(opts: { force: boolean; warn?: (message: string) => void; passphrase?: string }): Promise<Client> {
  await sodiumReady();
  const home = homePaths();
  if (hasKeys(home) && !opts.force) {
    throw new CliError('keys_exist', `keys already exist in ${home.dir}; nothing was changed`, {
      hint: 'use `fastchat keygen --force` to replace them (this deletes sessions and history of this home), or set FASTCHAT_HOME',
    });
  }
  const kdf = kdfParamsFromEnv();
  if (belowOwaspMinimum(kdf)) {
    opts.warn?.(
      `argon2id cost ${kdf.memoryKiB} KiB × ${kdf.iterations} pass(es) is below the OWASP minimum (19 MiB × 2 passes, or an equivalent); ` +
        'a stolen keystore is cheap to guess passphrases against (FASTCHAT_KDF_MEMORY_KIB / FASTCHAT_KDF_ITERATIONS)',
    );
  }
  ensureHome(home);
  const passphrase = opts.passphrase ?? (await getPassphrase({ confirm: true }));
  const random = systemRandom();
  const secrets = { identity: generateIdentity(random), storageKey: random(STORAGE_KEY_BYTES), account: generateAccountKey(random) };
  // Whatever store is here was sealed under a storage key that is gone (forced, or a keystore that
  // was deleted): it cannot be read, and keeping it would only confuse the rollback check.
  for (const f of [home.store, `${home.store}-wal`, `${home.store}-shm`, home.counter]) removeFile(f);
  const config = { ...loadConfig(home), identity: toBase64url(encodePublicIdentity(publicIdentity(secrets.identity))) };
  saveConfig(home, config);
  // The store and its counter first, the keystore last: a keystore in the current format always
  // has a store with a manifest beside it, which is what lets open.ts notice a store swapped for
  // an empty or older one.
  const c: Client = assembleClient({ home, config, secrets, db: openDb(home.store), random, keystoreWasCurrent: false }, closeAgents);
  try {
    createInitialPreKeys(c);
    await writeKeystore(home.keystore, passphrase, secrets, random, kdf);
  } catch (e) {
    c.close();
    throw e;
  }
  return c;
}

export function ownFingerprint(c: Client): string {
  return fingerprint(publicIdentity(c.secrets.identity));
}
