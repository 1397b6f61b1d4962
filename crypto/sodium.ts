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

/**
 * The production source of randomness, for callers outside crypto/ to pass in: the platform's
 * CSPRNG through Web Crypto (Node ≥ 19 and browsers), the OS source libsodium-wrappers reads too.
 * Small draws come from a 4 KiB pool filled by one call, because a call costs about 2 µs here (and
 * libsodium-wrappers' randombytes_buf about 100 µs) and every message now draws a 16-byte salt.
 * Bytes handed out are zeroed in the pool, so it never holds a value already given to a caller.
 */
export function systemRandom(): RandomBytes {
  const POOL = 4096;
  const pool = new Uint8Array(POOL);
  let at = POOL; // next unused byte; POOL means empty
  return (n) => {
    const out = new Uint8Array(n);
    if (n > POOL / 4) {
      // getRandomValues fills at most 65,536 bytes per call.
      for (let o = 0; o < n; o += 65536) globalThis.crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
      return out;
    }
    if (at + n > POOL) {
      globalThis.crypto.getRandomValues(pool);
      at = 0;
    }
    out.set(pool.subarray(at, at + n));
    pool.fill(0, at, at + n);
    at += n;
    return out;
  };
}
