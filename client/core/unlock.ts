// Where a command gets this home's keys: from the unlock agent when one runs for the home
// (`fastchat unlock`), otherwise by opening the keystore with the passphrase (FASTCHAT_PASSPHRASE,
// or a prompt with three tries).
import { readFileSync } from 'node:fs';
import { isFastchatError } from '../../crypto/errors.js';
import type { Home } from './home.js';
import { unlockKeystore, type Unlocked } from './keystore.js';
import { withPassphrase } from './prompt.js';

const isWrongPassphrase = (e: unknown): boolean => isFastchatError(e) && e.code === 'bad_passphrase';

/** The keystore file's format, read without the passphrase (the agent path cannot decrypt it). */
function fileFormat(home: Home): 1 | 2 {
  try {
    return (JSON.parse(readFileSync(home.keystore, 'utf8')) as { v?: unknown }).v === 1 ? 1 : 2;
  } catch {
    return 2;
  }
}

export async function unlockHome(home: Home, warn: (m: string) => void, useAgent: boolean, onPassphrase?: (passphrase: string) => void): Promise<Unlocked> {
  if (useAgent) {
    const { agentSecrets } = await import('../agent/client.js');
    const secrets = await agentSecrets(home, warn);
    // The agent locks itself when keystore.json changes, so the file is still the one it unlocked:
    // its format tells the store check what to expect. Upgrading a format-1 file needs the key
    // derived from the passphrase, so it waits for the next command that asks for it.
    if (secrets) return { secrets, format: fileFormat(home), upgrade: () => {} };
  }
  return withPassphrase(async (passphrase) => {
    const unlocked = await unlockKeystore(home.keystore, passphrase);
    onPassphrase?.(passphrase);
    return unlocked;
  }, isWrongPassphrase);
}
