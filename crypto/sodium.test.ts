import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemRandom } from './sodium.js';

test('systemRandom gives each caller fresh bytes, from its pool and beyond it, and never the same draw twice', () => {
  const random = systemRandom();
  const seen = new Set<string>();
  // 3,000 draws of 16 bytes go through the 4 KiB pool about 12 times.
  for (let i = 0; i < 3000; i++) seen.add(Buffer.from(random(16)).toString('hex'));
  assert.equal(seen.size, 3000);
  for (const n of [0, 1, 31, 32, 1024, 1025, 65536, 70_000]) {
    const a = random(n);
    assert.equal(a.length, n);
    if (n >= 16) assert.notDeepEqual(a, random(n), `two draws of ${n} bytes differ`);
    if (n >= 32) assert.ok(a.some((x) => x !== 0), `${n} bytes are not all zero`);
  }
  // Two sources do not share a pool.
  assert.notDeepEqual(systemRandom()(32), systemRandom()(32));
});
