// Where a command gets this home's keys: from the unlock agent when one runs for the home
// (`fastchat unlock`), otherwise by opening the keystore with the passphrase (FASTCHAT_PASSPHRASE,
// or a prompt with three tries).
import { isFastchatError } from '../../crypto/errors.js';
import type { Home } from './home.js';
import { readKeystore, type Secrets } from './keystore.js';
import { withPassphrase } from './prompt.js';

const isWrongPassphrase = (e: unknown): boolean => isFastchatError(e) && e.code === 'bad_passphrase';

/** Opens the keystore with the passphrase, never through the agent (what `unlock` itself does). */
export function openKeystore(home: Home): Promise<Secrets> {
  return withPassphrase((passphrase) => readKeystore(home.keystore, passphrase), isWrongPassphrase);
}

export async function unlockSecrets(home: Home, warn: (m: string) => void): Promise<Secrets> {
  const { agentSecrets } = await import('../agent/client.js');
  return (await agentSecrets(home, warn)) ?? openKeystore(home);
}
