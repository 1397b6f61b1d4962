// Where a group message's Ed25519 signature may be checked ahead of its decryption
// (crypto/group decryptGroupMessage's SignatureCheck): on a worker thread in the CLI
// (client/node/signature-worker.ts), nowhere in the page (platform/inline-signatures.ts: each is
// verified in line, as before). package.json "imports" maps `#signature-verifier` to one or the
// other, like `#ws-transport` (platform/ws.ts). A verifier only says what it found for the bytes
// it was given; crypto/ uses that only for the very same key, bytes and signature.

export interface SignatureJob {
  signPublic: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

export interface SignatureVerifier {
  /**
   * Verifies `jobs` away from this thread. `done` is called once, later (never from inside this
   * call), with each job's outcome in order, or with null when they cannot be had (the verifier
   * died or was closed): the caller then verifies in line.
   */
  verify(jobs: SignatureJob[], done: (valid: boolean[] | null) => void): void;
  /** Stops it; jobs still out are answered null. */
  close(): void;
}
