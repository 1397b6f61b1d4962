// Changing the keystore passphrase: open the keystore with the current one, seal the same secrets
// under the new one (a fresh salt, the argon2 cost of FASTCHAT_KDF_* or the default) and replace
// the file in one rename. The storage key inside does not change, so nothing in store.db is
// touched, and a crash leaves the old file or the new one, never neither.
import { systemRandom } from '../../crypto/sodium.js';
import { CliError } from '../errors.js';
import { openClient } from './context.js';
import { belowOwaspMinimum, kdfParamsFromEnv, writeKeystore } from './keystore.js';
import { readHidden } from './prompt.js';

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

export async function changePassphrase(warn: (m: string) => void): Promise<{ home: string }> {
  // Opened like any command (an older keystore or store is upgraded first), with the current passphrase.
  const c = await openClient();
  try {
    const next = await newPassphrase();
    const kdf = kdfParamsFromEnv();
    if (belowOwaspMinimum(kdf)) warn(`argon2id cost ${kdf.memoryKiB} KiB × ${kdf.iterations} pass(es) is below the OWASP minimum (19 MiB × 2 passes, or an equivalent)`);
    await writeKeystore(c.home.keystore, next, c.secrets, systemRandom(), kdf);
    return { home: c.home.dir };
  } finally {
    c.close();
  }
}
