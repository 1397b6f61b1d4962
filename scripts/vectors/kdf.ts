// HKDF with keyed BLAKE2b-512 (crypto/kdf.ts): extract and expand, including multi-block outputs
// where T(2) = PRF(PRK, T(1) || info || 0x02) chains, and the protocol's own labels as info.
import { LABELS } from '../../crypto/consts.js';
import { utf8 } from '../../crypto/encoding.js';
import { hkdfExpand, hkdfExtract, prf } from '../../crypto/kdf.js';
import { seededRandom } from './seeded.js';

export const description =
  'HKDF (RFC 5869 structure) with keyed BLAKE2b-512 as the PRF: prk = PRF(salt or 64 zero bytes, ikm); okm = T(1) || T(2) || ... truncated to length.';

export function generate(): unknown {
  const random = seededRandom('kdf');
  const cases: { name: string; salt: Uint8Array; ikm: Uint8Array; info: Uint8Array; length: number }[] = [
    { name: 'empty_salt_one_block', salt: new Uint8Array(0), ikm: random(32), info: utf8('fastchat/v1/test'), length: 32 },
    { name: 'zero_salt_x3dh_label', salt: new Uint8Array(64), ikm: random(128), info: utf8(LABELS.x3dh), length: 32 },
    { name: 'random_salt_exact_block', salt: random(64), ikm: random(32), info: utf8(LABELS.ratchetRoot), length: 64 },
    { name: 'short_salt_multi_block', salt: random(16), ikm: random(40), info: utf8(LABELS.ratchetChain), length: 100 },
    { name: 'four_blocks_empty_info', salt: random(64), ikm: random(1), info: new Uint8Array(0), length: 200 },
  ];
  const prfKey = random(64);
  const prfData = utf8('fastchat prf vector');
  return {
    prf: { key: prfKey, data: prfData, output: prf(prfKey, prfData) },
    hkdf: cases.map((c) => {
      const prk = hkdfExtract(c.salt, c.ikm);
      return { ...c, prk, okm: hkdfExpand(prk, c.info, c.length) };
    }),
  };
}
