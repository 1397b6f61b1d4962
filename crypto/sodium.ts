// The single place that loads libsodium. Every primitive fastchat uses comes from it; callers
// `await sodiumReady()` once at start-up, after which every crypto/ function is synchronous.
import _sodium from 'libsodium-wrappers';

let loaded = false;

export async function sodiumReady(): Promise<void> {
  if (loaded) return;
  await _sodium.ready;
  loaded = true;
}

/** The initialised libsodium instance; throws if `sodiumReady()` has not completed. */
export function sodium(): typeof _sodium {
  if (!loaded) throw new Error('libsodium used before sodiumReady() resolved');
  return _sodium;
}

/**
 * Randomness is handed in, never taken: the protocol layer stays deterministic under test
 * (fixed seeds make the vectors) and portable to a browser.
 */
export type RandomBytes = (length: number) => Uint8Array;

/** Web Crypto fills at most this many bytes per call. */
const GET_RANDOM_VALUES_MAX = 65536;

/**
 * The production source of randomness, for callers outside crypto/ to pass in: the platform CSPRNG
 * through Web Crypto (Node and browsers alike). libsodium-wrappers' randombytes_buf reaches the
 * same source four bytes per call, which made drawing a 24-byte nonce cost more than sealing the
 * value it protects.
 */
export function systemRandom(): RandomBytes {
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += GET_RANDOM_VALUES_MAX) globalThis.crypto.getRandomValues(out.subarray(i, Math.min(n, i + GET_RANDOM_VALUES_MAX)));
    return out;
  };
}
