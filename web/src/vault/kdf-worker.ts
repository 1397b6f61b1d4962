// The argon2id worker: derives the 32-byte passphrase key with libsodium's crypto_pwhash, off the
// page's thread so the page can say it is working. It is its own script (kdf-worker.js), the only
// one that loads the sumo build of libsodium (crypto_pwhash is not in the standard build the page
// and the CLI use); it does nothing else and keeps nothing between requests.
import sodium from 'libsodium-wrappers-sumo';
import type { KdfRequest, KdfResponse } from './kdf-protocol.js';

const scope = self as unknown as { onmessage: ((e: MessageEvent<KdfRequest>) => void) | null; postMessage(m: KdfResponse): void };

scope.onmessage = async (e) => {
  const { id, passphrase, salt, memoryKiB, iterations } = e.data;
  try {
    await sodium.ready;
    const key = sodium.crypto_pwhash(32, passphrase, salt, iterations, memoryKiB * 1024, sodium.crypto_pwhash_ALG_ARGON2ID13);
    passphrase.fill(0);
    scope.postMessage({ id, key });
  } catch (err) {
    passphrase.fill(0);
    scope.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};
