// `node dist/bench/ratchet-micro.js [ms] [figures]`: bench item 6's ratchet figures alone, in this
// process, for quick before/after checks and `node --cpu-prof` (`figures`, e.g. `ratchetChain`,
// runs only those, so a profile holds one loop). Bounded: each figure runs for `ms`
// (default 1500, at most 10,000) in alternating 10 ms slices, and at most 2,000,000 operations.
// Prints µs per operation and the ratios against raw XChaCha20-Poly1305 seal+open.
import { rates } from './lib/rates.js';
import { messagePaddedLength } from '../crypto/padding.js';
import { generateIdentity, publicIdentity } from '../crypto/identity.js';
import { generateSignedPreKey } from '../crypto/prekeys.js';
import { acceptPreKeyMessage, decryptMessage, encryptMessage, initiateSession, type SessionState } from '../crypto/session.js';
import { sodium, sodiumReady, systemRandom } from '../crypto/sodium.js';

const MAX_OPS = 2_000_000;
const ms = Math.min(10_000, Math.max(100, Number(process.argv[2] ?? 1500) || 1500));

await sodiumReady();
const na = sodium();
const random = systemRandom();
const plaintext = random(1024);
const key = random(32);
const nonce = random(24);
const ad = random(64);
const padded = random(messagePaddedLength(plaintext.length));
const seal = (p: Uint8Array) => (): void => {
  const c = na.crypto_aead_xchacha20poly1305_ietf_encrypt(p, ad, null, nonce, key);
  na.crypto_aead_xchacha20poly1305_ietf_decrypt(null, c, ad, nonce, key);
};

const alice = generateIdentity(random);
const bob = generateIdentity(random);
const aAddr = { user: 'alice', device: 1 };
const bAddr = { user: 'bob', device: 1 };
const spk = generateSignedPreKey(bob, 1, 0, random);
const bundle = {
  address: bAddr,
  identity: publicIdentity(bob),
  signedPreKey: { id: spk.id, createdAt: spk.createdAt, publicKey: spk.keyPair.publicKey, signature: spk.signature },
  oneTimePreKey: null,
};
const store = { signedPreKey: (id: number) => (id === spk.id ? spk : undefined), oneTimePreKey: () => undefined };
let a: SessionState = initiateSession(alice, aAddr, bundle, random, 0);
const first = encryptMessage(a, plaintext, random);
a = first.state;
let b = acceptPreKeyMessage(bob, bAddr, store, aAddr, first.envelope).state;
const reply = encryptMessage(b, plaintext, random);
b = reply.state;
a = decryptMessage(a, reply.envelope).state;

let turn = 0;
const figures: Record<string, () => void> = {
  rawAead: seal(plaintext),
  rawAeadPadded: seal(padded),
  ratchetChain: () => {
    const e = encryptMessage(a, plaintext, random);
    a = e.state;
    b = decryptMessage(b, e.envelope).state;
  },
  ratchetPingPong: () => {
    const [from, to] = turn++ % 2 === 0 ? [a, b] : [b, a];
    const e = encryptMessage(from, plaintext, random);
    const d = decryptMessage(to, e.envelope).state;
    if (turn % 2 === 1) [a, b] = [e.state, d];
    else [b, a] = [e.state, d];
  },
};
const chosen = process.argv[3]?.split(',');
if (chosen !== undefined) {
  for (const n of chosen) if (!(n in figures)) throw new Error(`unknown figure ${n}; figures: ${Object.keys(figures).join(', ')}`);
  const us = rates(ms, Object.fromEntries(chosen.map((n) => [n, figures[n]!])), MAX_OPS);
  for (const [n, x] of Object.entries(us)) process.stdout.write(`${n} ${x.usPerOp.toFixed(2)} µs\n`);
  process.exit(0);
}
const us = rates(ms, figures, MAX_OPS);
const r = Object.fromEntries(Object.entries(us).map(([n, x]) => [n, x.usPerOp]));
const f = (x: number): string => x.toFixed(2);
process.stdout.write(
  `raw seal+open 1 KiB ${f(r.rawAead!)} µs, ${padded.length} B ${f(r.rawAeadPadded!)} µs\n` +
    `ratchet same chain ${f(r.ratchetChain!)} µs = ${f(r.ratchetChain! / r.rawAead!)}× raw 1 KiB, ${f(r.ratchetChain! / r.rawAeadPadded!)}× raw padded\n` +
    `ratchet ping-pong  ${f(r.ratchetPingPong!)} µs = ${f(r.ratchetPingPong! / r.rawAead!)}× raw 1 KiB\n`,
);
