import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodium, sodiumReady } from './sodium.js';
import { blake2bKeyedInto, xchachaOpen, xchachaSealInto } from './sodium-heap.js';
import { toHex } from './encoding.js';

await sodiumReady();
const na = sodium();
const heap = (): Uint8Array => (na as unknown as { libsodium: { HEAPU8: Uint8Array } }).libsodium.HEAPU8;

/** True when `needle` occurs anywhere in libsodium's WebAssembly memory. */
function inHeap(needle: Uint8Array): boolean {
  const h = heap();
  const first = needle[0]!;
  for (let i = h.indexOf(first); i >= 0 && i <= h.length - needle.length; i = h.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && h[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
  }
  return false;
}

/** Drawn outside libsodium: its randombytes_buf is slow for large sizes and leaves its output in the memory. */
function rand(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) globalThis.crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  return out;
}

const seal = (key: Uint8Array, nonce: Uint8Array, p: Uint8Array, ad: Uint8Array): Uint8Array => {
  const out = new Uint8Array(p.length + 16);
  xchachaSealInto(key, nonce, p, ad, out, 0);
  return out;
};

test('seal and open give exactly libsodium-wrappers\' bytes, for every size, including past the kept region', () => {
  const sizes = [0, 1, 15, 16, 17, 1023, 1024, 1088, 65536, 256 * 1024 - 200, 256 * 1024, 300_000];
  for (const n of sizes) {
    const key = rand(32);
    const nonce = rand(24);
    const p = rand(n);
    const ad = rand(n % 300);
    const expected = na.crypto_aead_xchacha20poly1305_ietf_encrypt(p, ad, null, nonce, key);
    assert.equal(toHex(seal(key, nonce, p, ad)), toHex(expected), `size ${n}`);
    assert.equal(toHex(xchachaOpen(key, nonce, expected, ad)!), toHex(p), `size ${n}`);
  }
});

test('seal writes at the offset asked and nowhere else in the output', () => {
  const key = rand(32);
  const nonce = rand(24);
  const p = rand(100);
  const out = new Uint8Array(10 + 116 + 5).fill(0xee);
  xchachaSealInto(key, nonce, p, new Uint8Array(0), out, 10);
  assert.ok(out.subarray(0, 10).every((b) => b === 0xee));
  assert.ok(out.subarray(126).every((b) => b === 0xee));
  assert.equal(toHex(out.subarray(10, 126)), toHex(seal(key, nonce, p, new Uint8Array(0))));
});

test('open returns null for any flipped bit of ciphertext, tag, ad, nonce or key (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ maxLength: 100 }), fc.nat(), fc.constantFrom('c', 'ad', 'nonce', 'key'), (p, ad, at, what) => {
      const key = rand(32);
      const nonce = rand(24);
      const c = seal(key, nonce, p, ad);
      const flip = (b: Uint8Array): Uint8Array => {
        const x = b.slice();
        if (x.length > 0) x[at % x.length]! ^= 1 << at % 8;
        return x;
      };
      if (what === 'ad' && ad.length === 0) return;
      const opened = xchachaOpen(
        what === 'key' ? flip(key) : key,
        what === 'nonce' ? flip(nonce) : nonce,
        what === 'c' ? flip(c) : c,
        what === 'ad' ? flip(ad) : ad,
      );
      assert.equal(opened, null);
    }),
    { numRuns: 200 },
  );
});

test('keyed BLAKE2b gives exactly libsodium-wrappers\' bytes for every key and output length', () => {
  for (const keyLength of [1, 16, 32, 64]) {
    for (const outLength of [1, 16, 32, 64]) {
      for (const n of [0, 26, 128, 129, 5000, 300_000]) {
        const key = rand(keyLength);
        const input = rand(n);
        const out = new Uint8Array(outLength + 3);
        blake2bKeyedInto(key, input, outLength, out, 3);
        assert.equal(toHex(out.subarray(3)), toHex(na.crypto_generichash(outLength, input, key)), `${keyLength}/${outLength}/${n}`);
      }
    }
  }
  assert.throws(() => blake2bKeyedInto(new Uint8Array(0), new Uint8Array(1), 64, new Uint8Array(64), 0), /1\.\.64/);
  assert.throws(() => blake2bKeyedInto(new Uint8Array(65), new Uint8Array(1), 64, new Uint8Array(64), 0), /1\.\.64/);
  assert.throws(() => blake2bKeyedInto(new Uint8Array(32), new Uint8Array(1), 65, new Uint8Array(65), 0), /1\.\.64/);
});

test('no key, plaintext or hash input or output is left in the WebAssembly memory after a call', () => {
  // 32 random bytes are not in a few MiB by chance; each would be there if its zeroing were removed.
  const key = rand(32);
  const nonce = rand(24);
  const plaintext = rand(1088);
  const sealed = seal(key, nonce, plaintext, new Uint8Array(64));
  assert.equal(inHeap(key), false, 'seal left the key');
  assert.equal(inHeap(plaintext.subarray(500, 548)), false, 'seal left the plaintext');
  assert.equal(toHex(xchachaOpen(key, nonce, sealed, new Uint8Array(64))!), toHex(plaintext));
  assert.equal(inHeap(key), false, 'open left the key');
  assert.equal(inHeap(plaintext.subarray(500, 548)), false, 'open left the plaintext');
  const hashKey = rand(32);
  const ikm = rand(48);
  blake2bKeyedInto(hashKey, ikm, 64, new Uint8Array(64), 0);
  assert.equal(inHeap(hashKey), false, 'hash left the key');
  assert.equal(inHeap(ikm), false, 'hash left the input');
  // Not asserted for the hash's output: libsodium's BLAKE2b leaves its final state in its own stack
  // frame in this memory (it did the same under libsodium-wrappers), which is not ours to clear.
});

test('a chain step seals and opens exactly as BLAKE2b-512(input, chainKey) split into next key || AEAD key, and leaves no chain key behind', () => {
  const input = new TextEncoder().encode('fastchat/v3/ratchet/chain');
  for (const n of [0, 1088, 300_000]) {
    const chainKey = rand(32);
    const out = na.crypto_generichash(64, input, chainKey);
    const nonce = rand(24);
    const p = rand(n);
    const ad = rand(200);
    const expected = na.crypto_aead_xchacha20poly1305_ietf_encrypt(p, ad, null, nonce, out.subarray(32));
    const next = new Uint8Array(32);
    const sealed = new Uint8Array(n + 16);
    xchachaSealInto({ chainKey, input, nextChainKey: next }, nonce, p, ad, sealed, 0);
    assert.equal(toHex(sealed), toHex(expected), `size ${n}`);
    assert.equal(toHex(next), toHex(out.subarray(0, 32)));
    const next2 = new Uint8Array(32);
    assert.equal(toHex(xchachaOpen({ chainKey, input, nextChainKey: next2 }, nonce, sealed, ad)!), toHex(p));
    assert.equal(toHex(next2), toHex(out.subarray(0, 32)));
    sealed[0]! ^= 1;
    assert.equal(xchachaOpen({ chainKey, input, nextChainKey: new Uint8Array(32) }, nonce, sealed, ad), null);
  }
  const fresh = rand(32);
  xchachaSealInto({ chainKey: fresh, input, nextChainKey: new Uint8Array(32) }, rand(24), rand(100), rand(10), new Uint8Array(116), 0);
  assert.equal(inHeap(fresh), false, 'the chain key was left in the memory');
  const step = (chainKey: Uint8Array, inputBytes: Uint8Array, next: Uint8Array) => () =>
    xchachaSealInto({ chainKey, input: inputBytes, nextChainKey: next }, rand(24), rand(1), rand(1), new Uint8Array(17), 0);
  assert.throws(step(new Uint8Array(0), input, new Uint8Array(32)), /chain step/);
  assert.throws(step(rand(32), new Uint8Array(65), new Uint8Array(32)), /chain step/);
  assert.throws(step(rand(32), input, new Uint8Array(31)), /chain step/);
});
