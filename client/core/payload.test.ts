import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { utf8 } from '../../crypto/encoding.js';
import { encodePayload, parsePayload, PayloadError } from './payload.js';

describe('payload', () => {
  it('round-trips a text message', () => {
    const p = { v: 1 as const, type: 'text' as const, id: 'abc_DEF-123', text: 'héllo ✓', sentAt: '2025-01-02T03:04:05.000Z' };
    assert.deepEqual(parsePayload(encodePayload(p)), p);
  });

  it('refuses bytes that are not JSON, unknown versions and unknown types', () => {
    assert.throws(() => parsePayload(utf8('not json')), PayloadError);
    assert.throws(() => parsePayload(utf8(JSON.stringify({ v: 2, type: 'text', id: 'a', text: '', sentAt: '2025-01-02T03:04:05.000Z' }))), PayloadError);
    assert.throws(() => parsePayload(utf8(JSON.stringify({ v: 1, type: 'file', id: 'a', text: '', sentAt: '2025-01-02T03:04:05.000Z' }))), PayloadError);
  });

  it('refuses an id that could not be a relay id', () => {
    assert.throws(() => parsePayload(utf8(JSON.stringify({ v: 1, type: 'text', id: 'a b', text: '', sentAt: '2025-01-02T03:04:05.000Z' }))), PayloadError);
  });
});
