import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rotation } from './rotation.js';

test('a rotation visits every member once per period, a slice per tick, also after members left and joined', () => {
  const r = new Rotation<number>(1000, { tickMs: 100 });
  assert.equal(r.slotCount, 10);
  assert.equal(r.tickMs, 100);
  for (let i = 0; i < 95; i++) r.add(i);
  // Leavers from a few slots, then joiners: they fill the emptied slots first.
  for (let i = 0; i < 40; i += 2) r.delete(i);
  for (let i = 100; i < 120; i++) r.add(i);
  assert.equal(r.size, 95);
  for (let round = 0; round < 3; round++) {
    const visited: number[] = [];
    for (let k = 0; k < r.slotCount; k++) {
      const slice = r.tick();
      assert.ok(slice.length <= Math.ceil(95 / 10), `a tick visited ${slice.length}`);
      visited.push(...slice);
    }
    assert.deepEqual(visited.sort((a, b) => a - b), [...Array.from({ length: 95 }, (_, i) => i).filter((i) => i >= 40 || i % 2 === 1), ...Array.from({ length: 20 }, (_, i) => 100 + i)]);
  }
});

test('a long period gets longer ticks, not more than maxSlots slots; a bad period is refused', () => {
  const r = new Rotation<string>(3_600_000, { tickMs: 100, maxSlots: 1000 });
  assert.equal(r.slotCount, 1000);
  assert.equal(r.tickMs, 3600);
  assert.equal(new Rotation<string>(50, { tickMs: 100 }).slotCount, 1);
  assert.throws(() => new Rotation<string>(0), /period > 0/);
  assert.throws(() => new Rotation<string>(Number.NaN), /period > 0/);
});
