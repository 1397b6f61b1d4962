// Which Ed25519 edge cases our verify() accepts, pinned exactly: a libsodium upgrade that widens
// or narrows the accepted set must fail here and be looked at, not slip through.
//
// Observed (libsodium 1.0.x via libsodium-wrappers 0.8): verify() is "strict" — it refuses every
// small-order A or R, every non-canonical encoding, and every signature that only verifies with the
// cofactored equation. It accepts only points with a low-order *component* (which no blocklist can
// catch) and the one ordinary case — the same set as ed25519-dalek's verify_strict().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VENDORED_VECTORS } from '../test/util/paths.js';
import { sodiumReady } from './sodium.js';
import { verify } from './identity.js';
import { fromHex, utf8 } from './encoding.js';

await sodiumReady();

function load<T>(path: string): T {
  return JSON.parse(readFileSync(join(VENDORED_VECTORS, path), 'utf8')) as T;
}

/** CCTV ed25519vectors.json numbers that verify() accepts (43 of 914). */
const CCTV_ACCEPTED = [
  7, 29, 50, 117, 139, 161, 182, 249, 305, 411, 425, 438, 465, 473, 481, 489, 497, 511, 525, 538, 565, 573, 581, 589, 597,
  611, 625, 638, 665, 673, 681, 689, 697, 711, 725, 738, 765, 773, 781, 789, 797, 832, 899,
];
/** Indices (0-based) into ed25519-speccheck cases.json that verify() accepts. */
const SPECCHECK_ACCEPTED = [3];

interface CctvCase { number: number; key: string; sig: string; msg: string; flags: string[] | null }

test('accepts exactly the pinned set of CCTV ed25519 edge cases', () => {
  const cases = load<CctvCase[]>('cctv-ed25519/ed25519vectors.json');
  assert.equal(cases.length, 914);
  const accepted = cases.filter((c) => verify(fromHex(c.key), utf8(c.msg), fromHex(c.sig))).map((c) => c.number);
  assert.deepEqual(accepted, CCTV_ACCEPTED);
});

test('the accepted CCTV cases are exactly those flagged with nothing but low-order components', () => {
  const cases = load<CctvCase[]>('cctv-ed25519/ed25519vectors.json');
  const allowed = new Set(['low_order_component_A', 'low_order_component_R']);
  const onlyComponents = cases.filter((c) => (c.flags ?? []).every((f) => allowed.has(f))).map((c) => c.number);
  assert.deepEqual(onlyComponents, CCTV_ACCEPTED);
});

test('accepts exactly the pinned set of speccheck cases (only case 3)', () => {
  const cases = load<{ message: string; pub_key: string; signature: string }[]>('ed25519-speccheck/cases.json');
  assert.equal(cases.length, 12);
  const accepted = cases.flatMap((c, i) => (verify(fromHex(c.pub_key), fromHex(c.message), fromHex(c.signature)) ? [i] : []));
  assert.deepEqual(accepted, SPECCHECK_ACCEPTED);
});

test('every wycheproof ed25519 case verifies exactly when labelled valid', () => {
  const suite = load<{ testGroups: { publicKey: { pk: string }; tests: { tcId: number; msg: string; sig: string; result: string; comment: string }[] }[] }>(
    'wycheproof/ed25519_test.json',
  );
  let valid = 0;
  let invalid = 0;
  for (const g of suite.testGroups) {
    const pk = fromHex(g.publicKey.pk);
    for (const t of g.tests) {
      const ok = verify(pk, fromHex(t.msg), fromHex(t.sig));
      assert.equal(ok, t.result === 'valid', `tcId ${t.tcId} (${t.result}) ${t.comment}`);
      if (t.result === 'valid') valid++;
      else invalid++;
    }
  }
  assert.deepEqual([valid, invalid], [88, 63]);
});
