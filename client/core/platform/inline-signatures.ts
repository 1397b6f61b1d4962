// The page's side of `#signature-verifier` (platform/signatures.ts): no second thread to verify
// on, so none; every group message's signature is verified in line in decryptGroupMessage.
import type { SignatureVerifier } from './signatures.js';

export function openSignatureVerifier(): SignatureVerifier | undefined {
  return undefined;
}
