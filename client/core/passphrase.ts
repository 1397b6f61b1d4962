// Changing the keystore passphrase: open the keystore with the current one, seal the same secrets
// under the new one (a fresh salt, the argon2 cost of FASTCHAT_KDF_* or the default) and replace
// the file in one rename. The storage key inside does not change, so nothing in store.db is
// touched, and a crash leaves the old file or the new one, never neither.
import { systemRandom } from '../../crypto/sodium.js';
import { CliError } from '../errors.js';
import { openClient } from '../node/open-home.js';
import { belowOwaspMinimum, kdfParamsFromEnv, writeKeystore } from './keystore.js';
import { readHidden } from './prompt.js';
import type { Home } from './home.js';

/** Locks this home's unlock agent, if one runs; true when one did. */
export async function lockAgent(home: Home): Promise<boolean> {
  const { askAgent } = await import('../agent/client.js');
  try {
    // An agent that answers at all is told to lock; one that already noticed the new keystore
    // answers that it is stale and ends itself just the same.
    return (await askAgent(home, { op: 'lock' })) !== undefined;
  } catch {
    return false; // an agent we cannot talk to is not one we hand anything to either
  }
}

async function newPassphrase(): Promise<string> {
  const env = process.env.FASTCHAT_NEW_PASSPHRASE;
  if (env !== undefined && env.length > 0) return env;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new CliError('no_passphrase', 'no new passphrase: not a terminal and FASTCHAT_NEW_PASSPHRASE is not set', { hint: 'set FASTCHAT_NEW_PASSPHRASE or run the command in a terminal' });
  }
  const first = await readHidden('new passphrase: ');
  if (first.length === 0) throw new CliError('empty_passphrase', 'the passphrase must not be empty; nothing was changed');
  const again = await readHidden('new passphrase (again): ');
  if (again !== first) throw new CliError('passphrase_mismatch', 'the two passphrases differ; nothing was changed');
  return first;
}

export async function changePassphrase(warn: (m: string) => void): Promise<{ home: string; agentLocked: boolean }> {
  // Opened like any command (an older keystore or store is upgraded first), but with the current
  // passphrase itself, never the unlock agent's copy: whoever finds a session unlocked must not be
  // able to lock its owner out.
  const c = await openClient({ useAgent: false });
  try {
    const next = await newPassphrase();
    const kdf = kdfParamsFromEnv();
    if (belowOwaspMinimum(kdf)) warn(`argon2id cost ${kdf.memoryKiB} KiB × ${kdf.iterations} pass(es) is below the OWASP minimum (19 MiB × 2 passes, or an equivalent)`);
    await writeKeystore(c.home.keystore, next, c.secrets, systemRandom(), kdf);
    // An unlock agent holds what the old passphrase opened: it ends now (it would also notice the
    // changed keystore.json by itself), so the next command asks for the new passphrase.
    return { home: c.home.dir, agentLocked: await lockAgent(c.home) };
  } finally {
    c.close();
  }
}
