// The manifest's encoding (docs/PROTOCOL.md S.4): one encoding per manifest, parsed back whole.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import fc from 'fast-check';
import { sodiumReady } from '../../../crypto/sodium.js';
import { encodeManifest, parseManifest, ROW_DIGEST_BYTES, sessionKey, type Manifest } from './manifest.js';

before(sodiumReady);

const digest = fc.uint8Array({ minLength: ROW_DIGEST_BYTES, maxLength: ROW_DIGEST_BYTES });
const name = fc.string({ minLength: 1, maxLength: 20 });
const manifest: fc.Arbitrary<Manifest> = fc.record({
  generation: fc.nat(),
  alarm: fc.option(
    fc.record({
      reason: fc.constantFrom('rolled_back' as const, 'counter_missing' as const, 'counter_unreadable' as const, 'manifest_unreadable' as const, 'store_replaced' as const),
      at: fc.nat(),
      storeGeneration: fc.nat(),
      counterGeneration: fc.nat(),
    }),
    { nil: null },
  ),
  contacts: fc.array(fc.tuple(name, digest), { maxLength: 5 }).map((e) => new Map(e)),
  sessions: fc.array(fc.tuple(name.filter((u) => !u.includes('/')), fc.integer({ min: 1, max: 2 ** 32 - 1 }), digest), { maxLength: 5 }).map((e) => new Map(e.map(([u, d, g]) => [sessionKey(u, d), g]))),
  values: fc.array(fc.tuple(name, digest), { maxLength: 3 }).map((e) => new Map(e)),
});

test('a manifest parses back to itself, and is format 1 exactly when it keeps no value', () => {
  fc.assert(
    fc.property(manifest, (m) => {
      const bytes = encodeManifest(m);
      assert.equal(bytes[0], m.values.size > 0 ? 2 : 1);
      assert.deepEqual(parseManifest(bytes), { ...m, alarm: m.alarm && { ...m.alarm } });
    }),
  );
});

test('a manifest with trailing bytes or an unknown format is refused', () => {
  fc.assert(
    fc.property(manifest, fc.integer({ min: 3, max: 255 }), (m, format) => {
      const bytes = encodeManifest(m);
      assert.throws(() => parseManifest(new Uint8Array([...bytes, 0])));
      assert.throws(() => parseManifest(new Uint8Array([format, ...bytes.subarray(1)])));
    }),
  );
});
