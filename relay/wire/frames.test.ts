import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clientFrame, MAX_ACKS } from '../schemas.js';
import { messageFrame, parseClientFrame, sentFrame } from './frames.js';

const zodAccepts = (v: unknown): boolean => clientFrame.safeParse(v).success;

const address = fc.record({
  user: fc.oneof(fc.constantFrom('bob', 'a'.repeat(64), 'a'.repeat(65), ''), fc.string({ maxLength: 70 }), fc.integer()),
  device: fc.oneof(fc.constantFrom(0, 1, 2, 0x7fffffff, 0x80000000, -1, 1.5, Number.MAX_SAFE_INTEGER), fc.string({ maxLength: 3 })),
}, { requiredKeys: [] });
const maybeExtra = fc.option(fc.dictionary(fc.constantFrom('from', 'extra', '__proto__', 'constructor', 'user'), fc.jsonValue()), { nil: undefined });
const send = fc.record({
  type: fc.constantFrom('send', 'ack', 'ping', 'nope'),
  id: fc.oneof(fc.constantFrom('m1', 'a'.repeat(64), 'a'.repeat(65), '', 'x y', '12'), fc.string({ maxLength: 70 }), fc.integer()),
  to: fc.oneof(fc.array(address, { maxLength: 4 }), address, fc.constant('bob'), fc.constant([])),
  body: fc.oneof(fc.constantFrom('aGk', '', 'not base64!', 'aGk='), fc.string({ maxLength: 20 }), fc.constant(null)),
}, { requiredKeys: [] });
const frames = fc.oneof(
  fc.tuple(send, maybeExtra).map(([f, x]) => ({ ...f, ...(x ?? {}) })),
  fc.record({ type: fc.constant('ack'), id: fc.oneof(fc.stringMatching(/^[0-9]{0,18}$/), fc.integer(), fc.string()) }, { requiredKeys: ['type'] }),
  fc.tuple(
    fc.record({
      type: fc.constantFrom('acks', 'ack'),
      ids: fc.oneof(
        fc.array(fc.oneof(fc.stringMatching(/^[0-9]{1,16}$/), fc.stringMatching(/^[0-9]{0,18}$/), fc.integer(), fc.string({ maxLength: 3 })), { maxLength: 5 }),
        fc.array(fc.stringMatching(/^[0-9]{1,16}$/), { minLength: 1, maxLength: 5 }),
        // at and over the limit of one frame
        fc.constantFrom(MAX_ACKS, MAX_ACKS + 1).map((n) => Array.from({ length: n }, (_, i) => String(i))),
        fc.constantFrom('1', 1, null, {}),
      ),
    }, { requiredKeys: ['type'] }),
    maybeExtra,
  ).map(([f, x]) => ({ ...f, ...(x ?? {}) })),
  fc.constantFrom<unknown>({ type: 'ping' }, { type: 'ping', x: 1 }, [], null, 'send', 42, [{ type: 'ping' }]),
  fc.jsonValue(),
);

test('accepts a frame only if the zod schema accepts it, and accepts every valid send, ack, acks and ping', () => {
  fc.assert(
    fc.property(frames, (f) => {
      const v = JSON.parse(JSON.stringify(f) ?? 'null'); // what arrives: JSON.parse output
      const fast = parseClientFrame(v) !== undefined;
      return fast === zodAccepts(v);
    }),
    { numRuns: 20_000 },
  );
});

test('an acks frame names 1 to MAX_ACKS delivery ids, nothing else', () => {
  const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i + 1));
  for (const n of [1, 2, MAX_ACKS]) assert.deepEqual(parseClientFrame({ type: 'acks', ids: ids(n) }), { type: 'acks', ids: ids(n) });
  for (const bad of [{ type: 'acks', ids: [] }, { type: 'acks', ids: ids(MAX_ACKS + 1) }, { type: 'acks', ids: ['1', 'x'] }, { type: 'acks', ids: [1] }, { type: 'acks', ids: ['1'], id: '1' }]) {
    assert.equal(parseClientFrame(bad), undefined);
    assert.equal(zodAccepts(bad), false);
  }
});

test('a __proto__ key from JSON.parse is an extra field, as zod sees it', () => {
  const v = JSON.parse('{"type":"ping","__proto__":{"x":1}}');
  assert.equal(zodAccepts(v), false);
  assert.equal(parseClientFrame(v), undefined);
});

test('built frames are the JSON of the same objects', () => {
  const m = messageFrame(42, 'c-1_x', 'alice', 3, 'aGk', '2026-01-01T00:00:00.000Z');
  assert.deepEqual(JSON.parse(m), { type: 'message', id: '42', clientId: 'c-1_x', from: { user: 'alice', device: 3 }, body: 'aGk', sentAt: '2026-01-01T00:00:00.000Z' });
  assert.deepEqual(JSON.parse(sentFrame('a"b', 'T')), { type: 'sent', id: 'a"b', storedAt: 'T' });
});
