// Two parties with a pairwise session, from fixed seeds (the seed stream of PROTOCOL.md §14), for
// the envelope and session cases.
import { generateIdentity, publicIdentity, type IdentityKeyPair } from '../../crypto/identity.js';
import { generateOneTimePreKeys, generateSignedPreKey, publicOneTimePreKey, publicSignedPreKey, type PreKeyBundle } from '../../crypto/prekeys.js';
import { acceptPreKeyMessage, decryptMessage, encryptMessage, initiateSession, type SessionState } from '../../crypto/session.js';
import type { RandomBytes } from '../../crypto/sodium.js';
import type { Address } from '../../crypto/types.js';
import { utf8 } from '../../crypto/encoding.js';
import { seededRandom } from '../vectors/seeded.js';

export const ALICE: Address = { user: 'alice', device: 1 };
export const BOB: Address = { user: 'bob', device: 1 };
export const CREATED_AT = 1_767_225_600_000;

export interface Party {
  state: SessionState;
  random: RandomBytes;
}

export function parties(seed: string): { alice: Party; bob: Party; aliceIdentity: IdentityKeyPair; bobIdentity: IdentityKeyPair; bundle: PreKeyBundle; first: Uint8Array } {
  const aRandom = seededRandom(`${seed}/alice`);
  const bRandom = seededRandom(`${seed}/bob`);
  const aliceIdentity = generateIdentity(aRandom);
  const bobIdentity = generateIdentity(bRandom);
  const spk = generateSignedPreKey(bobIdentity, 1, CREATED_AT, bRandom);
  const opk = generateOneTimePreKeys(100, 1, bRandom)[0]!;
  const bundle: PreKeyBundle = { address: BOB, identity: publicIdentity(bobIdentity), signedPreKey: publicSignedPreKey(spk), oneTimePreKey: publicOneTimePreKey(opk) };
  const a = encryptMessage(initiateSession(aliceIdentity, ALICE, bundle, aRandom, CREATED_AT), utf8('hello'), aRandom);
  const b = acceptPreKeyMessage(bobIdentity, BOB, { signedPreKey: (id) => (id === 1 ? spk : undefined), oneTimePreKey: (id) => (id === 100 ? opk : undefined) }, ALICE, a.envelope);
  return { alice: { state: a.state, random: aRandom }, bob: { state: b.state, random: bRandom }, aliceIdentity, bobIdentity, bundle, first: a.envelope };
}

export function send(p: Party, text: string | Uint8Array): Uint8Array {
  const r = encryptMessage(p.state, typeof text === 'string' ? utf8(text) : text, p.random);
  p.state = r.state;
  return r.envelope;
}

export function receive(p: Party, envelope: Uint8Array): Uint8Array {
  const r = decryptMessage(p.state, envelope);
  p.state = r.state;
  return r.plaintext;
}
