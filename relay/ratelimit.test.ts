import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRelayError } from './errors.js';
import { RateLimiter } from './ratelimit.js';

function refusal(fn: () => void): { retryAfter: number | undefined; message: string } {
  try {
    fn();
  } catch (e) {
    assert.ok(isRelayError(e, 'rate_limited'), String(e));
    return { retryAfter: e.retryAfter, message: e.message };
  }
  assert.fail('expected rate_limited');
}

test('takes the cost from the bucket and refuses, taking nothing, when the bucket is short', () => {
  const l = new RateLimiter(10, 60 * 2, 'device', 100, 'messages'); // 2 per second
  l.take('a', 0, 7);
  const r = refusal(() => l.take('a', 0, 4));
  assert.equal(r.retryAfter, 1); // 1 token short at 2/s
  assert.match(r.message, /^too many messages for this device, retry in 1s$/);
  l.take('a', 0, 3); // the refused 4 were not taken
  refusal(() => l.take('a', 0, 1));
  l.take('b', 0, 10); // other keys have their own bucket
});

test('a cost above the burst is charged as the whole burst, so it can pass once the bucket is full', () => {
  const l = new RateLimiter(10, 60, 'device'); // 1 per second
  l.take('a', 0, 50);
  const r = refusal(() => l.take('a', 0, 50));
  assert.equal(r.retryAfter, 10);
  refusal(() => l.take('a', 9_000, 50));
  l.take('a', 10_000, 50);
});
