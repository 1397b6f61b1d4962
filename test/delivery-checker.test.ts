// The fault suite's one checker must be able to fail: each kind of violation, made on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DeliveryChecker } from './util/delivery-checker.js';

function twoSenders(): DeliveryChecker {
  const c = new DeliveryChecker();
  for (const s of ['a', 'b']) {
    for (let i = 0; i < 3; i++) {
      c.queued(s, `${s}${i}`, 'r');
      c.sent(s, `${s}${i}`);
    }
  }
  return c;
}

test('a delivery of everything once, in each sender\'s order (interleaved), has no violations', () => {
  const c = twoSenders();
  for (const [s, id] of [['a', 'a0'], ['b', 'b0'], ['b', 'b1'], ['a', 'a1'], ['a', 'a2'], ['b', 'b2']]) c.shown('r', s!, id!);
  assert.equal(c.report(), '');
});

test('each violation is reported under its own name', () => {
  const c = twoSenders();
  c.shown('r', 'a', 'a1');
  c.shown('r', 'a', 'a0'); // reordered
  c.shown('r', 'a', 'a1'); // duplicated
  c.shown('r', 'a', 'zz'); // phantom
  c.shown('other', 'b', 'b0'); // phantom: not addressed to `other`
  c.expired('b', 'b1');
  c.shown('r', 'b', 'b1'); // contradicted
  c.diskSample('tmpfs', 11, 10);
  const v = c.violations();
  assert.deepEqual(v.reordered, ['a/a0 shown after a/a1 at r']);
  assert.deepEqual(v.duplicated, ['a/a1 at r']);
  assert.deepEqual(v.phantom, ['a/zz at r', 'b/b0 at other']);
  assert.deepEqual(v.contradicted, ['b/b1']);
  assert.deepEqual(v.lost.sort(), ['a/a2', 'b/b0', 'b/b2']);
  assert.deepEqual(v.overDisk, ['tmpfs: 11 bytes used, limit 10']);
  assert.match(c.report(['lost']), /^lost: 3 /);
});

test('only the last line of a killed display run may be shown again', () => {
  const c = twoSenders();
  c.shown('r', 'a', 'a0', 'run1');
  c.shown('r', 'a', 'a1', 'run1');
  c.killed('run1');
  c.shown('r', 'a', 'a1', 'run2'); // the killed run's last line: excused
  c.shown('r', 'a', 'a0', 'run2'); // not its last line: a duplicate
  c.shown('r', 'a', 'a2', 'run2');
  c.shown('r', 'b', 'b0', 'run2');
  c.shown('r', 'b', 'b0', 'run3'); // run2 was not killed: a duplicate
  const v = c.violations();
  assert.deepEqual(v.duplicated, ['a/a0 at r', 'b/b0 at r']);
  assert.equal(c.counts().reshown, 1);
});

test('a message told expired is not lost; one never told sent may stay unshown', () => {
  const c = new DeliveryChecker();
  c.queued('a', 'x', 'r');
  c.queued('a', 'y', 'r');
  c.sent('a', 'x');
  c.expired('a', 'x');
  assert.equal(c.report(), '');
});

test('any order of shown messages is reported as reordered exactly when a sender\'s positions go down', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.nat(4)), { maxLength: 12 }), (picks) => {
      const c = new DeliveryChecker();
      for (const s of ['a', 'b']) for (let i = 0; i < 5; i++) c.queued(s, `${s}${i}`, 'r');
      const seen = new Set<string>();
      const shown = picks.filter(([s, i]) => !seen.has(`${s}${i}`) && seen.add(`${s}${i}`));
      for (const [s, i] of shown) c.shown('r', s, `${s}${i}`);
      const expectOrdered = ['a', 'b'].every((s) => {
        const pos = shown.filter(([x]) => x === s).map(([, i]) => i);
        return pos.every((p, k) => k === 0 || p > Math.max(...pos.slice(0, k)));
      });
      assert.equal(c.violations().reordered.length === 0, expectOrdered);
    }),
  );
});
