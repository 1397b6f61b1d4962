import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRelayError } from './errors.js';
import { RateLimiter, takeAll } from './ratelimit.js';

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

test('never forgets a bucket that is not full: at capacity, new keys share one overflow bucket instead', () => {
  const l = new RateLimiter(2, 1, 'account', 3); // 1 per minute
  l.take('attacker', 0, 2);
  refusal(() => l.take('attacker', 0));
  for (let i = 0; i < 50; i++) {
    try {
      l.take(`other${i}`, 1000 + i);
    } catch {
      // the overflow bucket runs dry: strangers share one burst while every bucket is draining
    }
  }
  assert.ok(l.size <= 3);
  refusal(() => l.take('attacker', 2000));
  // Buckets that refilled completely are forgotten, making room again.
  l.take('attacker', 2 * 60_000 + 1000);
  l.take('newcomer', 10 * 60_000);
});

test('takeAll charges every bucket or none, and refuses with the longest wait', () => {
  const device = new RateLimiter(10, 60, 'device', 100, 'messages'); // 1 per second
  const account = new RateLimiter(3, 6, 'account', 100, 'messages'); // 1 per 10 seconds
  const both = (now: number) => takeAll([{ limiter: device, key: 'm\u00001' }, { limiter: account, key: 'm' }], now, 1);
  both(0);
  both(0);
  both(0);
  try {
    both(0);
    assert.fail('expected rate_limited');
  } catch (e) {
    assert.ok(isRelayError(e, 'rate_limited'));
    assert.equal(e.retryAfter, 10);
    assert.match(e.message, /for this account/);
  }
  // The device bucket was not charged by the refusal: 7 of its 10 are left.
  device.take('m\u00001', 0, 7);
  refusal(() => device.take('m\u00001', 0, 1));
});

test('a clock stepping back neither refills nor drains a bucket', () => {
  const l = new RateLimiter(2, 60, 'address'); // 1 per second
  l.take('a', 10_000, 2);
  refusal(() => l.take('a', 0));
  refusal(() => l.take('a', 10_500));
  l.take('a', 11_000);
});
