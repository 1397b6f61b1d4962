// A deterministic RandomBytes for vectors and tests: a BLAKE2b-512 counter-mode stream.
//   key     = BLAKE2b-512(utf8("fastchat/vectors/seed") || utf8(seed))
//   block_i = BLAKE2b-512(u64(i), key)   for i = 0, 1, 2, ...
// The stream is block_0 || block_1 || ...; each call takes the next `length` bytes. Anyone can
// reproduce a vector's keys from its seed string with nothing but BLAKE2b.
import { concat, u64, utf8 } from '../../crypto/encoding.js';
import { sodium, type RandomBytes } from '../../crypto/sodium.js';

export const SEED_LABEL = 'fastchat/vectors/seed';

export function seededRandom(seed: string): RandomBytes {
  const s = sodium();
  const key = s.crypto_generichash(64, concat(utf8(SEED_LABEL), utf8(seed)), null);
  let block = 0;
  let buf: Uint8Array = new Uint8Array(0);
  return (length: number) => {
    while (buf.length < length) buf = concat(buf, s.crypto_generichash(64, u64(block++), key));
    const out = buf.slice(0, length);
    buf = buf.slice(length);
    return out;
  };
}
