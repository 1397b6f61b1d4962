// Crypto figures against the raw libsodium operations they are built from, in one process so
// both sides run on the same warmed-up JIT. Each loop runs for a fixed time (bounded by a count).
import { createGroup } from '../crypto/group/membership.js';
import { createSenderKey, type OurSenderKey } from '../crypto/group/sender-keys.js';
import { encryptGroupMessage } from '../crypto/group/group-message.js';
import { generateIdentity, publicIdentity } from '../crypto/identity.js';
import { generateOneTimePreKeys, generateSignedPreKey, type PreKeyBundle } from '../crypto/prekeys.js';
import { messagePaddedLength } from '../crypto/padding.js';
import { acceptPreKeyMessage, decryptMessage, encryptMessage, type SessionState, initiateSession } from '../crypto/session.js';
import { sodium, sodiumReady, systemRandom } from '../crypto/sodium.js';
import { x3dhInitiate, x3dhRespond } from '../crypto/x3dh.js';
import { workerMain } from './lib/procs.js';
import { rates } from './lib/rates.js';

export interface CryptoJob {
  ms: number; // time per loop
  bytes: number; // message size
}

workerMain<CryptoJob, unknown>(async ({ ms, bytes }) => {
  await sodiumReady();
  const na = sodium();
  const random = systemRandom();
  const plaintext = random(bytes);

  // Raw AEAD: one XChaCha20-Poly1305 seal + open of the same plaintext, fixed key and nonce.
  const key = random(32);
  const nonce = random(24);
  const ad = random(64);
  const rawAead = (): void => {
    const c = na.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key);
    na.crypto_aead_xchacha20poly1305_ietf_decrypt(null, c, ad, nonce, key);
  };

  // The ratchet encrypts the padded plaintext: a 1 KiB message lands in the 1,088-byte Padmé bucket
  // (the padding's 0x80 marker makes it 1,025 bytes), so the same AEAD over the padded size is the fairer floor.
  const padded = random(messagePaddedLength(bytes));
  const rawAeadPadded = (): void => {
    const c = na.crypto_aead_xchacha20poly1305_ietf_encrypt(padded, ad, null, nonce, key);
    na.crypto_aead_xchacha20poly1305_ietf_decrypt(null, c, ad, nonce, key);
  };

  // Two parties with a session both ways (the X3DH header is no longer repeated).
  const alice = generateIdentity(random);
  const bob = generateIdentity(random);
  const aAddr = { user: 'alice', device: 1 };
  const bAddr = { user: 'bob', device: 1 };
  const spk = generateSignedPreKey(bob, 1, Date.now(), random);
  const opks = generateOneTimePreKeys(1, 1, random);
  const bundle = (opk: boolean): PreKeyBundle => ({
    address: bAddr,
    identity: publicIdentity(bob),
    signedPreKey: { id: spk.id, createdAt: spk.createdAt, publicKey: spk.keyPair.publicKey, signature: spk.signature },
    oneTimePreKey: opk ? { id: opks[0]!.id, publicKey: opks[0]!.keyPair.publicKey } : null,
  });
  const store = { signedPreKey: (id: number) => (id === spk.id ? spk : undefined), oneTimePreKey: (id: number) => opks.find((k) => k.id === id) };
  let a: SessionState = initiateSession(alice, aAddr, bundle(true), random, Date.now());
  const first = encryptMessage(a, plaintext, random);
  a = first.state;
  const accepted = acceptPreKeyMessage(bob, bAddr, store, aAddr, first.envelope);
  let b = accepted.state;
  const reply = encryptMessage(b, plaintext, random);
  b = reply.state;
  a = decryptMessage(a, reply.envelope).state;

  // Same sending chain: the common case of several messages in a row.
  const ratchetChain = (): void => {
    const e = encryptMessage(a, plaintext, random);
    a = e.state;
    b = decryptMessage(b, e.envelope).state;
  };
  // Strict ping-pong: every message starts a new chain (a DH ratchet step on each side).
  let turn = 0;
  const ratchetPingPong = (): void => {
    if (turn++ % 2 === 0) {
      const e = encryptMessage(a, plaintext, random);
      a = e.state;
      b = decryptMessage(b, e.envelope).state;
    } else {
      const e = encryptMessage(b, plaintext, random);
      b = e.state;
      a = decryptMessage(a, e.envelope).state;
    }
  };

  // X3DH both sides (with a one-time prekey) vs the raw operations it must do: 2+1 Ed25519
  // verifies (bundle identity + signed prekey; initiator identity), 1 key generation, 4+4 X25519.
  const theirBundle = bundle(true);
  const x3dh = (): void => {
    const init = x3dhInitiate(alice, aAddr, theirBundle, random, Date.now());
    x3dhRespond(bob, bAddr, store, aAddr, init.header);
  };
  const pubA = publicIdentity(alice);
  const sigMsg = new Uint8Array(pubA.dhPublic.length + 32).fill(7);
  const sig = na.crypto_sign_detached(sigMsg, alice.signPrivate);
  const peerPub = spk.keyPair.publicKey;
  const rawX3dh = (): void => {
    for (let i = 0; i < 3; i++) na.crypto_sign_verify_detached(sig, sigMsg, alice.signPublic);
    const ek = random(32);
    na.crypto_scalarmult_base(ek);
    for (let i = 0; i < 8; i++) na.crypto_scalarmult(ek, peerPub);
  };

  // Sender keys: one group message = chain step + AEAD seal + Ed25519 signature.
  const carol = generateIdentity(random);
  const group = createGroup({ user: 'alice', identity: alice }, 'bench', [{ user: 'carol', signPublic: carol.signPublic }], random).state;
  let ours: OurSenderKey = createSenderKey(group, 'alice', random);
  const groupEncrypt = (): void => {
    ours = encryptGroupMessage(ours, group, plaintext, random).state;
  };
  const signKey = na.crypto_sign_keypair();
  const rawSealSign = (): void => {
    const c = na.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key);
    na.crypto_sign_detached(c, signKey.privateKey);
  };

  return {
    paddedBytes: padded.length,
    ...rates(ms, { rawAead, rawAeadPadded, ratchetChain }),
    ...rates(ms, { rawAead2: rawAead, ratchetPingPong }),
    ...rates(ms, { x3dh, rawX3dh }),
    ...rates(ms, { groupEncrypt, rawSealSign }),
  };
});
