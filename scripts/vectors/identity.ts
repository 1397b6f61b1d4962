// Identity keys from fixed seeds: the identity signature, the fingerprint, the safety number of a
// pair (with both halves), and the binary forms of the public identity and the key pair.
import { LABELS, SAFETY_NUMBER_ITERATIONS } from '../../crypto/consts.js';
import { utf8 } from '../../crypto/encoding.js';
import {
  encodeIdentityKeyPair,
  encodePublicIdentity,
  fingerprint,
  fingerprintBytes,
  generateIdentity,
  identitySignatureMessage,
  publicIdentity,
  safetyNumber,
  safetyNumberHalf,
  type IdentityKeyPair,
} from '../../crypto/identity.js';
import { seededRandom } from './seeded.js';

export const description =
  'Identity keys from seeded randomness (dhPrivate = first 32 bytes, Ed25519 seed = next 32), the identity signature over utf8(label) || dhPublic, fingerprints and a safety number.';

function identityVector(user: string, seed: string, id: IdentityKeyPair) {
  const pub = publicIdentity(id);
  return {
    user,
    seed,
    dhPrivate: id.dh.privateKey,
    dhPublic: id.dh.publicKey,
    signSeed: id.signPrivate.subarray(0, 32),
    signPublic: id.signPublic,
    signatureMessage: identitySignatureMessage(id.dh.publicKey),
    signature: id.signature,
    fingerprintBytes: fingerprintBytes(pub),
    fingerprint: fingerprint(pub),
    safetyNumberHalf: safetyNumberHalf(user, pub),
    publicIdentityEncoded: encodePublicIdentity(pub),
    identityKeyPairEncoded: encodeIdentityKeyPair(id),
  };
}

export function generate(): unknown {
  const alice = generateIdentity(seededRandom('identity/alice'));
  const bob = generateIdentity(seededRandom('identity/bob'));
  return {
    labels: { identitySignature: utf8(LABELS.identitySignature), fingerprint: utf8(LABELS.fingerprint), safetyNumber: utf8(LABELS.safetyNumber) },
    safetyNumberIterations: SAFETY_NUMBER_ITERATIONS,
    identities: [identityVector('alice', 'identity/alice', alice), identityVector('bob', 'identity/bob', bob)],
    safetyNumber: safetyNumber({ user: 'alice', identity: publicIdentity(alice) }, { user: 'bob', identity: publicIdentity(bob) }),
  };
}
