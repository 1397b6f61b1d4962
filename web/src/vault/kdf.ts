// The page's side of the argon2id worker: one worker per derivation, ended when it answers, so no
// passphrase-derived memory outlives the call in a worker nobody uses.
import { utf8 } from '../../../crypto/index.js';
import type { KdfParams } from './seal.js';
import type { KdfRequest, KdfResponse } from './kdf-protocol.js';
import { VaultError } from './errors.js';

/** The worker script's URL, beside the page (dist/web/kdf-worker.js; CSP worker-src 'self'). */
export const KDF_WORKER_URL = '/kdf-worker.js';

export type DeriveKey = (passphrase: string, kdf: KdfParams) => Promise<Uint8Array>;

export const deriveKeyInWorker: DeriveKey = (passphrase, kdf) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(KDF_WORKER_URL);
    const req: KdfRequest = { id: 1, passphrase: utf8(passphrase), salt: kdf.salt, memoryKiB: kdf.memoryKiB, iterations: kdf.iterations };
    worker.onmessage = (e: MessageEvent<KdfResponse>) => {
      worker.terminate();
      if ('key' in e.data) resolve(e.data.key);
      else reject(new VaultError('kdf_failed', `argon2id failed: ${e.data.error}`));
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new VaultError('kdf_failed', `the argon2id worker failed to run: ${e.message}`));
    };
    // Transferred, not copied: the page's copy of the passphrase bytes is gone after this.
    worker.postMessage(req, [req.passphrase.buffer]);
  });
