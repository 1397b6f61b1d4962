// A bundle whose signed prekey is older than the protocol accepts (crypto/prekeys.ts
// checkSignedPreKeyAge): said before anything is queued, with what the user can do about it.
import { isCryptoError } from '../../crypto/errors.js';
import { checkSignedPreKeyAge, type PreKeyBundle } from '../../crypto/prekeys.js';
import { CliError } from '../errors.js';

export function staleSignedPreKey(b: PreKeyBundle, now: number): CliError | undefined {
  try {
    checkSignedPreKeyAge(b.signedPreKey, now);
    return undefined;
  } catch (e) {
    if (!isCryptoError(e, 'stale_prekey')) throw e;
    return new CliError('stale_prekey', `the relay serves a signed prekey for @${b.address.user} (device ${b.address.device}) made ${new Date(b.signedPreKey.createdAt).toISOString().slice(0, 10)}: ${e.message}`, {
      hint: `${b.address.user}'s client replaces it whenever it connects (e.g. \`fastchat inbox\`); if it did and this persists, the relay is serving an old key`,
    });
  }
}
