import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { utf8 } from '../../crypto/encoding.js';
import { encodePayload, MAX_RECEIPT_IDS, parsePayload, PayloadError, PAYLOAD_ID_PATTERN, receiptIds } from './payload.js';

const SENT = '2025-01-02T03:04:05.000Z';
const payloadId = fc.stringMatching(PAYLOAD_ID_PATTERN);
/** A receipt as written: `id` the last of `all`, the others in `ids` (absent when there are none). */
function receiptFor(all: string[]): Record<string, unknown> {
  const id = all[all.length - 1]!;
  return all.length === 1 ? { v: 1, type: 'receipt', id, text: '', sentAt: SENT } : { v: 1, type: 'receipt', id, ids: all.slice(0, -1), text: '', sentAt: SENT };
}
function parsesAs(json: unknown): unknown {
  try {
    return parsePayload(utf8(JSON.stringify(json)));
  } catch (e) {
    assert.ok(e instanceof PayloadError, String(e));
    return 'bad_payload';
  }
}

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

  it('takes a receipt naming 1..MAX_RECEIPT_IDS distinct ids, and gives them back in order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(payloadId, { minLength: 1, maxLength: MAX_RECEIPT_IDS }), (all) => {
        const p = parsePayload(utf8(JSON.stringify(receiptFor(all))));
        assert.equal(p.type, 'receipt');
        assert.deepEqual(p.type === 'receipt' && receiptIds(p), all);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a receipt that names an id twice, in ids or as id itself', () => {
    fc.assert(
      fc.property(fc.uniqueArray(payloadId, { minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), (all, i, j) => {
        const again = all[i % all.length]!;
        const r = receiptFor(all);
        const ids = [...((r.ids as string[] | undefined) ?? [])];
        ids.splice(j % (ids.length + 1), 0, again);
        assert.equal(parsesAs({ ...r, ids }), 'bad_payload');
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a receipt with more than MAX_RECEIPT_IDS ids, an empty ids, or an id in ids that could not be a relay id', () => {
    const many = Array.from({ length: MAX_RECEIPT_IDS + 1 }, (_, i) => `m${i}`);
    assert.equal(parsesAs(receiptFor(many)), 'bad_payload');
    assert.notEqual(parsesAs(receiptFor(many.slice(1))), 'bad_payload', 'exactly MAX_RECEIPT_IDS is taken');
    assert.equal(parsesAs({ ...receiptFor(['a']), ids: [] }), 'bad_payload');
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }).filter((x) => !PAYLOAD_ID_PATTERN.test(x)), fc.jsonValue(), (badId, junk) => {
        assert.equal(parsesAs({ ...receiptFor(['a']), ids: [badId] }), 'bad_payload');
        if (!Array.isArray(junk)) assert.equal(parsesAs({ ...receiptFor(['a']), ids: junk }), 'bad_payload');
      }),
      { numRuns: 200 },
    );
  });

  it('takes a read receipt (`read: true`) naming 1..MAX_RECEIPT_IDS ids, and refuses any other value of read', () => {
    fc.assert(
      fc.property(fc.uniqueArray(payloadId, { minLength: 1, maxLength: MAX_RECEIPT_IDS }), fc.jsonValue(), (all, junk) => {
        const p = parsePayload(utf8(JSON.stringify({ ...receiptFor(all), read: true })));
        assert.ok(p.type === 'receipt' && p.read === true);
        assert.deepEqual(p.type === 'receipt' && receiptIds(p), all);
        // A delivery receipt says nothing of read; `read: false` or anything else is not a receipt.
        const d = parsePayload(utf8(JSON.stringify(receiptFor(all))));
        assert.ok(d.type === 'receipt' && d.read === undefined);
        if (junk !== true) assert.equal(parsesAs({ ...receiptFor(all), read: junk }), 'bad_payload');
      }),
      { numRuns: 200 },
    );
  });

  it('reads the read receipt docs/PROTOCOL.md §12.2 gives byte for byte', () => {
    const doc = '{"v":1,"type":"receipt","id":"Qm9iJ3Mgc2Vjb25k","ids":["Qm9iJ3MgZmlyc3Q"],"text":"","sentAt":"2025-01-02T03:04:05.000Z","read":true}';
    const p = parsePayload(utf8(doc));
    assert.ok(p.type === 'receipt' && p.read === true);
    assert.deepEqual(receiptIds(p), ['Qm9iJ3MgZmlyc3Q', 'Qm9iJ3Mgc2Vjb25k']);
    // The key order is the sender's (incoming.test.ts checks queueReceipts writes this one).
    const written = { v: 1 as const, type: 'receipt' as const, id: 'Qm9iJ3Mgc2Vjb25k', ids: ['Qm9iJ3MgZmlyc3Q'], text: '', sentAt: '2025-01-02T03:04:05.000Z', read: true as const };
    assert.equal(new TextDecoder().decode(encodePayload(written)), doc);
  });

  it('lets an unknown top-level field through, as a client that predates `read` does with it (§12.3 item 3)', () => {
    // What makes `read` safe to send to an older client: it ignores the field and marks delivered.
    const p = parsePayload(utf8(JSON.stringify({ ...receiptFor(['a', 'b']), later: { x: 1 } })));
    assert.ok(p.type === 'receipt');
    assert.deepEqual(receiptIds(p), ['a', 'b']);
  });

  it('takes a typing indicator with state started or stopped, and nothing else as its state', () => {
    fc.assert(
      fc.property(payloadId, fc.jsonValue(), (id, junk) => {
        for (const state of ['started', 'stopped'] as const) {
          const p = { v: 1 as const, type: 'typing' as const, id, sentAt: SENT, state };
          assert.deepEqual(parsePayload(encodePayload(p)), p);
        }
        if (junk !== 'started' && junk !== 'stopped') assert.equal(parsesAs({ v: 1, type: 'typing', id, sentAt: SENT, state: junk }), 'bad_payload');
        assert.equal(parsesAs({ v: 1, type: 'typing', id, sentAt: SENT }), 'bad_payload');
      }),
      { numRuns: 200 },
    );
  });

  it('reads the typing indicator docs/PROTOCOL.md §12.2 gives byte for byte, and writes it so', () => {
    const doc = '{"v":1,"type":"typing","id":"Qm9iIHR5cGVz","sentAt":"2025-01-02T03:04:05.000Z","state":"started"}';
    const p = parsePayload(utf8(doc));
    assert.ok(p.type === 'typing' && p.state === 'started');
    assert.equal(new TextDecoder().decode(encodePayload({ v: 1, type: 'typing', id: 'Qm9iIHR5cGVz', sentAt: '2025-01-02T03:04:05.000Z', state: 'started' })), doc);
  });
});
