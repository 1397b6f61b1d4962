/** Messages between the page and kdf-worker.js. The passphrase travels as bytes so both sides can wipe them. */
export interface KdfRequest {
  id: number;
  passphrase: Uint8Array;
  salt: Uint8Array;
  memoryKiB: number;
  iterations: number;
}

export type KdfResponse = { id: number; key: Uint8Array } | { id: number; error: string };
