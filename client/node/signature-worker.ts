// The worker thread of client/node/signature-verifier.ts: verifies the batches of Ed25519
// signatures it is handed with crypto/'s `verify` (libsodium, the same rules as in line) and
// answers each batch's outcomes in order. It holds no key material and decides nothing: the main
// thread's crypto/ uses an outcome only for the very bytes it asked about.
import { parentPort } from 'node:worker_threads';
import { verify } from '../../crypto/identity.js';
import { sodiumReady } from '../../crypto/sodium.js';
import type { SignatureJob } from '../core/platform/signatures.js';

await sodiumReady();
const port = parentPort!;
port.on('message', ({ id, jobs }: { id: number; jobs: SignatureJob[] }) => {
  port.postMessage({ id, valid: jobs.map((j) => verify(j.signPublic, j.message, j.signature)) });
});
