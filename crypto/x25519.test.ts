// Every Wycheproof X25519 case through our dh() wrapper. Valid cases must give the expected
// secret. "Acceptable" cases (twist points, non-canonical u, low-order points) are recorded: we
// compute the RFC 7748 result for all of them except the 31 whose result is all zeros, which
// dh() refuses with bad_key. The counts are asserted so a libsodium change shows up here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VENDORED_VECTORS } from '../test/util/paths.js';
import { sodiumReady } from './sodium.js';
import { dh } from './dh.js';
import { fromHex, toHex } from './encoding.js';
import { isCryptoError } from './errors.js';

await sodiumReady();

interface Case { tcId: number; comment: string; flags: string[]; public: string; private: string; shared: string; result: string }
const suite = JSON.parse(readFileSync(join(VENDORED_VECTORS, 'wycheproof/x25519_test.json'), 'utf8')) as {
  testGroups: { curve: string; tests: Case[] }[];
};
const cases = suite.testGroups.flatMap((g) => g.tests);
const ZERO = '00'.repeat(32);

function run(c: Case): 'shared' | 'bad_key' | 'wrong' {
  try {
    return toHex(dh(fromHex(c.private), fromHex(c.public))) === c.shared ? 'shared' : 'wrong';
  } catch (e) {
    if (isCryptoError(e, 'bad_key')) return 'bad_key';
    throw e;
  }
}

test('reads all 518 wycheproof x25519 cases', () => {
  assert.equal(cases.length, 518);
});

test('every valid x25519 case gives the expected shared secret', () => {
  const valid = cases.filter((c) => c.result === 'valid');
  assert.equal(valid.length, 264);
  for (const c of valid) assert.equal(run(c), 'shared', `tcId ${c.tcId} ${c.comment}`);
});

test('acceptable x25519 cases with a non-zero result are computed as RFC 7748 says', () => {
  const acceptable = cases.filter((c) => c.result === 'acceptable' && c.shared !== ZERO);
  assert.equal(acceptable.length, 223);
  for (const c of acceptable) assert.equal(run(c), 'shared', `tcId ${c.tcId} ${c.comment}`);
});

test('every case whose shared secret is all zeros is refused with bad_key', () => {
  const zero = cases.filter((c) => c.shared === ZERO);
  assert.equal(zero.length, 31);
  for (const c of zero) assert.equal(run(c), 'bad_key', `tcId ${c.tcId} ${c.comment}`);
});

test('no x25519 case is labelled invalid, so none may be refused for another reason', () => {
  assert.deepEqual(cases.filter((c) => c.result === 'invalid').map((c) => c.tcId), []);
});
