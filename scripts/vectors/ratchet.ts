// The Double Ratchet alone (crypto/ratchet.ts) from a fixed SK, Bob's ratchet key pair and AD:
// Alice's first message, three DH ratchet steps, and out-of-order delivery within and across
// chains. Every DH output, KDF_RK/KDF_CK output, message key, AEAD key and nonce is published,
// so each step can be checked on its own; the final states pin the stored ratchet format.
import { dh, generateKeyPair } from '../../crypto/dh.js';
import { concat, utf8 } from '../../crypto/encoding.js';
import {
  encodeHeader,
  encodeRatchetState,
  kdfCk,
  kdfRk,
  ratchetDecrypt,
  ratchetEncrypt,
  ratchetInitAlice,
  ratchetInitBob,
  type RatchetState,
} from '../../crypto/ratchet.js';
import { seededRandom } from './seeded.js';

export const description =
  'Double Ratchet (message version 3): KDF_RK(rk, dh) = HKDF(salt = rk, dh, "fastchat/v1/ratchet/root", 64) = rk || ck; KDF_CK(ck): out = PRF(ck, "fastchat/v3/ratchet/chain"), ck = out[0..32], mk = out[32..64]; AEAD key = mk, AEAD nonce = header.nonce; AEAD AD = AD || header. The sending step runs at the first encrypt after a receiving step; each encrypt draws the new ratchet private key (if any) and then the 24-byte nonce from its party\'s seed stream.';

type Party = 'alice' | 'bob';

interface Step {
  party: Party;
  kind: 'sending' | 'receiving';
  ourPrivate: Uint8Array;
  ourPublic: Uint8Array;
  theirPublic: Uint8Array;
  dhOutput: Uint8Array;
  rootKeyIn: Uint8Array;
  rootKeyOut: Uint8Array;
  chainKey: Uint8Array;
}

interface Message {
  id: string;
  from: Party;
  plaintext: Uint8Array;
  header: { dh: Uint8Array; pn: number; n: number; nonce: Uint8Array };
  headerEncoded: Uint8Array;
  chainKey: Uint8Array;
  nextChainKey: Uint8Array;
  messageKey: Uint8Array;
  aeadKey: Uint8Array;
  aeadNonce: Uint8Array;
  aeadAssociatedData: Uint8Array;
  ciphertext: Uint8Array;
}

export function generate(): unknown {
  const setup = seededRandom('ratchet/setup');
  const sk = setup(32);
  const bobRatchet = generateKeyPair(setup);
  const ad = utf8('fastchat ratchet vector associated data');
  const random: Record<Party, ReturnType<typeof seededRandom>> = {
    alice: seededRandom('ratchet/alice'),
    bob: seededRandom('ratchet/bob'),
  };
  const state: Record<Party, RatchetState> = {
    alice: ratchetInitAlice(sk, bobRatchet.publicKey),
    bob: ratchetInitBob(sk, bobRatchet),
  };
  const steps: Step[] = [];
  const messages: Message[] = [];
  const deliveries: { to: Party; message: string; plaintext: Uint8Array; skippedKeysAfter: number }[] = [];

  function send(from: Party, id: string): void {
    const before = state[from];
    const r = ratchetEncrypt(before, ad, utf8(`${id}: message from ${from}`), random[from]);
    let chainKey = before.CKs;
    if (chainKey === null) {
      const ours = r.state.DHs!;
      const dhOutput = dh(ours.privateKey, before.DHr!);
      const [rootKeyOut, ck] = kdfRk(before.RK, dhOutput);
      chainKey = ck;
      steps.push({
        party: from,
        kind: 'sending',
        ourPrivate: ours.privateKey,
        ourPublic: ours.publicKey,
        theirPublic: before.DHr!,
        dhOutput,
        rootKeyIn: before.RK,
        rootKeyOut,
        chainKey: ck,
      });
    }
    const [nextChainKey, messageKey] = kdfCk(chainKey);
    const headerEncoded = encodeHeader(r.header);
    messages.push({
      id,
      from,
      plaintext: utf8(`${id}: message from ${from}`),
      header: r.header,
      headerEncoded,
      chainKey,
      nextChainKey,
      messageKey,
      aeadKey: messageKey,
      aeadNonce: r.header.nonce,
      aeadAssociatedData: concat(ad, headerEncoded),
      ciphertext: r.ciphertext,
    });
    state[from] = r.state;
  }

  function deliver(to: Party, id: string): void {
    const m = messages.find((x) => x.id === id)!;
    const before = state[to];
    const r = ratchetDecrypt(before, ad, m.header, m.ciphertext);
    // DHr changes only in a receiving DH ratchet step.
    if (r.state.DHr !== null && (before.DHr === null || !sameBytes(before.DHr, r.state.DHr))) {
      const ours = before.DHs!;
      const dhOutput = dh(ours.privateKey, m.header.dh);
      const [rootKeyOut, ck] = kdfRk(before.RK, dhOutput);
      steps.push({ party: to, kind: 'receiving', ourPrivate: ours.privateKey, ourPublic: ours.publicKey, theirPublic: m.header.dh, dhOutput, rootKeyIn: before.RK, rootKeyOut, chainKey: ck });
    }
    deliveries.push({ to, message: id, plaintext: r.plaintext, skippedKeysAfter: r.state.MKSKIPPED.length });
    state[to] = r.state;
  }

  // Alice's first chain; Bob receives out of order within it.
  send('alice', 'a0');
  send('alice', 'a1');
  send('alice', 'a2');
  deliver('bob', 'a0');
  deliver('bob', 'a2');
  // Bob's first chain (his sending step against Alice's first key).
  send('bob', 'b0');
  send('bob', 'b1');
  deliver('alice', 'b1');
  // Alice's second chain, sent while a1 is still in flight; Bob gets a3 first (across a step).
  send('alice', 'a3');
  send('alice', 'a4');
  deliver('bob', 'a4');
  deliver('bob', 'a1');
  deliver('alice', 'b0');
  deliver('bob', 'a3');
  // One more round trip.
  send('bob', 'b2');
  deliver('alice', 'b2');
  send('alice', 'a5');
  deliver('bob', 'a5');

  return {
    sharedSecret: sk,
    associatedData: ad,
    bobRatchetKeyPair: { privateKey: bobRatchet.privateKey, publicKey: bobRatchet.publicKey },
    randomSeeds: { alice: 'ratchet/alice', bob: 'ratchet/bob', setup: 'ratchet/setup' },
    steps,
    messages,
    deliveries,
    finalStates: { alice: encodeRatchetState(state.alice), bob: encodeRatchetState(state.bob) },
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
