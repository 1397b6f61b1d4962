// Whole sessions (crypto/session.ts) from fixed seeds: Alice's first PreKeyMessage to Bob (X3DH
// header inside), a second PreKeyMessage before any reply, Bob's reply, and Alice's first plain
// Message, with the padded plaintext of each and the stored session bytes of both sides after.
import { generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { utf8 } from '../../crypto/encoding.js';
import { padMessage } from '../../crypto/padding.js';
import {
  encodeBundle,
  generateOneTimePreKeys,
  generateSignedPreKey,
  publicOneTimePreKey,
  publicSignedPreKey,
  type PreKeyBundle,
} from '../../crypto/prekeys.js';
import {
  acceptPreKeyMessage,
  decryptMessage,
  encodeSession,
  encryptMessage,
  initiateSession,
  messageType,
  parseEnvelope,
  type SessionState,
} from '../../crypto/session.js';
import type { Address } from '../../crypto/types.js';
import type { PreKeyStore } from '../../crypto/x3dh.js';
import { seededRandom } from './seeded.js';

export const description =
  'Sessions (message version 3): envelope = u8(3) || u8(type: 1 PreKeyMessage, 2 Message) || [X3DH header] || ratchet header (65) || XChaCha20-Poly1305(padded plaintext); padding = plaintext || 0x80 || zeros to the bucket (multiples of 160 to 960, then Padmé).';

const ALICE: Address = { user: 'alice', device: 1 };
const BOB: Address = { user: 'bob', device: 2 };

export function generate(): unknown {
  const aliceRandom = seededRandom('session/alice');
  const bobRandom = seededRandom('session/bob');
  const alice = generateIdentity(aliceRandom);
  const bob = generateIdentity(bobRandom);
  const spk = generateSignedPreKey(bob, 7, 1_767_225_600_000, bobRandom);
  const otpk = generateOneTimePreKeys(500, 1, bobRandom)[0]!;
  const bundle: PreKeyBundle = {
    address: BOB,
    identity: publicIdentity(bob),
    signedPreKey: publicSignedPreKey(spk),
    oneTimePreKey: publicOneTimePreKey(otpk),
  };
  const store: PreKeyStore = {
    signedPreKey: (id) => (id === spk.id ? spk : undefined),
    oneTimePreKey: (id) => (id === otpk.id ? otpk : undefined),
  };

  const messages: unknown[] = [];
  function record(id: string, from: string, plaintext: Uint8Array, envelope: Uint8Array) {
    const e = parseEnvelope(envelope);
    messages.push({
      id,
      from,
      type: messageType(envelope),
      plaintext,
      paddedPlaintext: padMessage(plaintext),
      ratchetHeader: e.header,
      envelope,
    });
  }

  let aliceSession: SessionState = initiateSession(alice, ALICE, bundle, aliceRandom, 1_767_225_600_000);
  const send = (s: SessionState, id: string, from: string, text: Uint8Array) => {
    const r = encryptMessage(s, text, from === 'alice' ? aliceRandom : bobRandom);
    record(id, from, text, r.envelope);
    return r;
  };

  const m1 = send(aliceSession, 'first_prekey_message', 'alice', utf8('hello bob'));
  aliceSession = m1.state;
  const m2 = send(aliceSession, 'second_prekey_message', 'alice', new Uint8Array(1500).fill(0x61)); // the Padmé bucket 1536
  aliceSession = m2.state;
  const accepted = acceptPreKeyMessage(bob, BOB, store, ALICE, m1.envelope);
  let bobSession = accepted.state;
  bobSession = decryptMessage(bobSession, m2.envelope).state;
  const m3 = send(bobSession, 'reply', 'bob', utf8('hi alice'));
  bobSession = m3.state;
  aliceSession = decryptMessage(aliceSession, m3.envelope).state;
  const m4 = send(aliceSession, 'first_plain_message', 'alice', utf8(''));
  aliceSession = m4.state;
  bobSession = decryptMessage(bobSession, m4.envelope).state;

  return {
    randomSeeds: { alice: 'session/alice', bob: 'session/bob' },
    alice: { address: ALICE, identityDhPrivate: alice.dh.privateKey, identitySignSeed: alice.signPrivate.subarray(0, 32) },
    bob: {
      address: BOB,
      identityDhPrivate: bob.dh.privateKey,
      identitySignSeed: bob.signPrivate.subarray(0, 32),
      signedPreKey: { id: spk.id, createdAt: spk.createdAt, privateKey: spk.keyPair.privateKey, signature: spk.signature },
      oneTimePreKey: { id: otpk.id, privateKey: otpk.keyPair.privateKey },
    },
    bundleEncoded: encodeBundle(bundle),
    associatedData: accepted.state.associatedData,
    usedOneTimePreKeyId: accepted.usedOneTimePreKeyId,
    messages,
    finalSessions: { alice: encodeSession(aliceSession), bob: encodeSession(bobSession) },
  };
}
