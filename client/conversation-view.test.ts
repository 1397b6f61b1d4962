import assert from 'node:assert/strict';
import { test } from 'node:test';
import { painter, stripColour } from './colour.js';
import { conversationLine, dayLine, localDay, whenShown } from './conversation-view.js';
import { messageLines } from './format.js';

test('a time from today shows as the hour, from another day with its full date', () => {
  const now = new Date(2025, 0, 31, 18, 0).getTime();
  assert.equal(whenShown(new Date(2025, 0, 31, 9, 5).toISOString(), now), '09:05');
  assert.equal(whenShown(new Date(2025, 0, 30, 23, 59).toISOString(), now), '2025-01-30 23:59');
  assert.equal(localDay(new Date(2025, 0, 31, 0, 0).getTime()), '2025-01-31');
});

test('the day line names the weekday and the date', () => {
  assert.equal(dayLine(new Date(2025, 0, 31, 12).toISOString()), '—— Friday 31 January 2025 ——');
});

test('a conversation line cuts its preview to one line and neutralises it', () => {
  const line = conversationLine(
    { label: '@bob', ref: { kind: 'user', peer: 'bob' }, unread: 2, last: { from: 'bob', direction: 'in', text: 'first\u202e line\nsecond line', at: new Date().toISOString(), status: 'received' } },
  );
  assert.match(line, /^@bob\s+2 unread\s+\d\d:\d\d\s+@bob: first\\u202e line$/);
});

test('colours wrap no differently than plain text: escape sequences have no width', () => {
  const paint = painter(true);
  const plain = messageLines('2025-01-31 12:00  @bob: ', 'x'.repeat(300), '  (sent)', 80);
  const coloured = messageLines(`${paint('dim', '2025-01-31 12:00')}  ${paint('name', '@bob')}: `, 'x'.repeat(300), paint('dim', '  (sent)'), 80);
  assert.deepEqual(coloured.map(stripColour), plain);
});
