// X3DH both sides from fixed seeds, with and without a one-time prekey: every DH output, the IKM,
// SK, AD, the bundle (binary and JSON) and the header, so each step can be checked on its own.
import { concat, equalBytes } from '../../crypto/encoding.js';
import { dh } from '../../crypto/dh.js';
import { generateIdentity, publicIdentity, type IdentityKeyPair } from '../../crypto/identity.js';
import {
  bundleToJson,
  encodeBundle,
  generateOneTimePreKeys,
  generateSignedPreKey,
  publicOneTimePreKey,
  publicSignedPreKey,
  signedPreKeySignatureMessage,
  type PreKeyBundle,
} from '../../crypto/prekeys.js';
import { encodeX3DHHeader, x3dhInitiate, x3dhRespond, type PreKeyStore } from '../../crypto/x3dh.js';
import type { Address } from '../../crypto/types.js';
import { seededRandom } from './seeded.js';

export const description =
  'X3DH: DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B); SK = HKDF(64 zero bytes, 32 0xFF bytes || DH1..DH4, "fastchat/v1/x3dh", 32); AD binds both identities and addresses, initiator first.';

const ALICE: Address = { user: 'alice', device: 1 };
const BOB: Address = { user: 'bob', device: 7 };

function keys(id: IdentityKeyPair) {
  return { dhPrivate: id.dh.privateKey, dhPublic: id.dh.publicKey, signSeed: id.signPrivate.subarray(0, 32), signPublic: id.signPublic, signature: id.signature };
}

function run(name: string, withOtpk: boolean) {
  const alice = generateIdentity(seededRandom(`x3dh/${name}/alice`));
  const bobRandom = seededRandom(`x3dh/${name}/bob`);
  const bob = generateIdentity(bobRandom);
  const spk = generateSignedPreKey(bob, 1, 1_767_225_600_000, bobRandom);
  const otpk = generateOneTimePreKeys(1000, 1, bobRandom)[0]!;
  const bundle: PreKeyBundle = {
    address: BOB,
    identity: publicIdentity(bob),
    signedPreKey: publicSignedPreKey(spk),
    oneTimePreKey: withOtpk ? publicOneTimePreKey(otpk) : null,
  };
  // Capture the ephemeral private key before x3dhInitiate wipes it, to publish it in the vector.
  const aliceRandom = seededRandom(`x3dh/${name}/alice-ephemeral`);
  let ekPrivate = new Uint8Array(0);
  const init = x3dhInitiate(alice, ALICE, bundle, (n) => {
    const b = aliceRandom(n);
    ekPrivate = b.slice();
    return b;
  }, spk.createdAt);
  const store: PreKeyStore = { signedPreKey: (id) => (id === spk.id ? spk : undefined), oneTimePreKey: (id) => (id === otpk.id ? otpk : undefined) };
  const resp = x3dhRespond(bob, BOB, store, ALICE, init.header);
  const dhs = [
    dh(alice.dh.privateKey, spk.keyPair.publicKey),
    dh(ekPrivate, bob.dh.publicKey),
    dh(ekPrivate, spk.keyPair.publicKey),
    ...(withOtpk ? [dh(ekPrivate, otpk.keyPair.publicKey)] : []),
  ];
  return {
    name,
    initiator: { address: ALICE, ...keys(alice), ephemeralPrivate: ekPrivate, ephemeralPublic: init.header.ephemeral },
    responder: {
      address: BOB,
      ...keys(bob),
      signedPreKey: {
        id: spk.id,
        createdAt: spk.createdAt,
        privateKey: spk.keyPair.privateKey,
        publicKey: spk.keyPair.publicKey,
        signatureMessage: signedPreKeySignatureMessage(spk.id, spk.createdAt, spk.keyPair.publicKey),
        signature: spk.signature,
      },
      oneTimePreKey: withOtpk ? { id: otpk.id, privateKey: otpk.keyPair.privateKey, publicKey: otpk.keyPair.publicKey } : null,
    },
    bundleEncoded: encodeBundle(bundle),
    bundleJson: bundleToJson(bundle),
    dh1: dhs[0],
    dh2: dhs[1],
    dh3: dhs[2],
    dh4: withOtpk ? dhs[3] : null,
    ikm: concat(new Uint8Array(32).fill(0xff), ...dhs),
    sharedSecret: init.sharedSecret,
    associatedData: init.associatedData,
    headerEncoded: encodeX3DHHeader(init.header),
    responderAgrees: equalBytes(resp.sharedSecret, init.sharedSecret) && equalBytes(resp.associatedData, init.associatedData),
    usedOneTimePreKeyId: resp.usedOneTimePreKeyId,
  };
}

export function generate(): unknown {
  return [run('with_one_time_prekey', true), run('without_one_time_prekey', false)];
}
