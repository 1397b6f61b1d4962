import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_HELD_RECIPIENTS, OrderGate } from './order-gate.js';

const bob = [{ user: 'bob', device: 1 }];
const carol = [{ user: 'carol', device: 1 }];

test('after a refusal, later sends to the same recipient wait for the refused id; other recipients go on', () => {
  const g = new OrderGate();
  const a = g.admit('a', bob);
  const b = g.admit('b', bob);
  assert.equal(a.waitFor, undefined);
  assert.equal(b.waitFor, undefined);
  assert.ok(g.refused('a', a.seq, bob));
  assert.equal(g.admit('c', bob).waitFor, 'a');
  assert.equal(g.admit('c', [{ user: 'BOB', device: 1 }]).waitFor, 'a', 'names are case-folded as the relay does');
  assert.equal(g.admit('x', carol).waitFor, undefined);
  assert.equal(g.admit('g', [...carol, ...bob]).waitFor, 'a', 'a fan-out waits if any recipient does');
  assert.equal(g.admit('a', bob).waitFor, undefined, 'the refused id itself is let through');
  assert.equal(g.admit('c', bob).waitFor, undefined, 'and that releases the recipient');
});

test('a refusal that arrives late for an earlier send takes the hold over from a later one', () => {
  const g = new OrderGate();
  const early = g.admit('early', bob); // still in the store's batch
  const late = g.admit('late', bob);
  g.refused('late', late.seq, bob); // refused at once (rate limit)
  g.refused('early', early.seq, bob); // refused when the batch committed (queue full)
  assert.equal(g.admit('late', bob).waitFor, 'early');
  assert.equal(g.admit('early', bob).waitFor, undefined);
});

test('holding more recipients than MAX_HELD_RECIPIENTS is reported', () => {
  const g = new OrderGate();
  let ok = true;
  for (let i = 0; i <= MAX_HELD_RECIPIENTS && ok; i++) {
    const to = [{ user: `u${i}`, device: 1 }];
    ok = g.refused(`m${i}`, g.admit(`m${i}`, to).seq, to);
  }
  assert.equal(ok, false);
});
