import { test } from 'node:test';
import assert from 'node:assert/strict';
import { holdReason } from './sweep.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const base = { queued: 1000, expiring: 0, sessions: 100, expiringSessions: 0, clockHigh: 0 };

test('a sweep right after the last one may expire anything', () => {
  assert.equal(holdReason({ ...base, expiring: 1000, expiringSessions: 100, clockHigh: 0 }, 60_000, 60_000), null);
});

test('after a gap of a day a sweep that would expire a large share of the queue is held', () => {
  const r = holdReason({ ...base, expiring: 400, clockHigh: 0 }, 31 * DAY, 60_000);
  assert.match(r ?? '', /744 h past the last sweep and 400 of 1000 queued deliveries would expire/);
});

test('after a gap a large share of sessions expiring is held too', () => {
  assert.match(holdReason({ ...base, expiringSessions: 90 }, 2 * DAY, 60_000) ?? '', /90 of 100 sessions/);
});

test('after a gap a small share, or a handful, expires normally', () => {
  assert.equal(holdReason({ ...base, expiring: 50 }, 2 * DAY, 60_000), null, '5 % of the queue');
  assert.equal(holdReason({ ...base, queued: 12, expiring: 9 }, 2 * DAY, 60_000), null, 'nine of twelve');
  assert.equal(holdReason({ ...base, expiring: 1000, clockHigh: null }, 2 * DAY, 60_000), null, 'no sweep yet: nothing to compare with');
});

test('the gap that counts as suspect is an hour, or three sweep intervals when those are longer', () => {
  assert.equal(holdReason({ ...base, expiring: 900 }, HOUR - 1, 60_000), null);
  assert.notEqual(holdReason({ ...base, expiring: 900 }, HOUR + 1, 60_000), null);
  assert.equal(holdReason({ ...base, expiring: 900 }, 2 * HOUR, HOUR), null);
  assert.notEqual(holdReason({ ...base, expiring: 900 }, 3 * HOUR + 1, HOUR), null);
});
