import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { SessionState } from '../../crypto/session.js';
import { gapGraceMs, gapLine, GAP_GRACE_MS, MAX_GAPS_PER_DEVICE, noteGaps, takeGaps } from './gaps.js';

// Only the skipped-key list of a session matters here.
const chain = new Uint8Array(32).fill(7);
const state = (...ns: number[]): SessionState => ({ ratchet: { MKSKIPPED: ns.map((n) => ({ dh: chain, n, mk: new Uint8Array(32) })) } }) as unknown as SessionState;
const db = (): { db: Database.Database } => ({ db: new Database(':memory:') });

test('numbers a later message skipped are gaps; one that arrives late closes its gap', () => {
  const c = db();
  noteGaps(c, 'alice', 1, state(), state(0, 1), { dh: chain, n: 2 }, 1000); // 2 arrived before 0 and 1
  noteGaps(c, 'alice', 1, state(0, 1), state(1), { dh: chain, n: 0 }, 2000); // then 0
  assert.deepEqual(takeGaps(c, 1500, GAP_GRACE_MS), [], 'within the grace nothing is said');
  assert.deepEqual(takeGaps(c, 1000 + GAP_GRACE_MS, GAP_GRACE_MS), [{ peer: 'alice', missing: 1, since: new Date(1000).toISOString() }]);
  assert.deepEqual(takeGaps(c, 10 * GAP_GRACE_MS, 0), [], 'each gap is reported once');
});

test('a key that stays skipped across later messages is one gap, not one per message', () => {
  const c = db();
  noteGaps(c, 'bob', 1, state(), state(3), { dh: chain, n: 4 }, 0);
  noteGaps(c, 'bob', 1, state(3), state(3), { dh: chain, n: 5 }, 10);
  noteGaps(c, 'carol', 2, undefined, state(0, 1), { dh: chain, n: 2 }, 20);
  const gaps = takeGaps(c, 100, 0);
  assert.deepEqual(gaps.map((g) => [g.peer, g.missing]), [['bob', 1], ['carol', 2]]);
  assert.equal(gapLine(gaps), '1 message from @bob and 2 from @carol never arrived: later ones did, so the relay dropped or withheld them');
  assert.equal(gapLine([gaps[0]!]), '1 message from @bob never arrived: later ones did, so the relay dropped or withheld it');
});

test('open gaps are capped per peer device', () => {
  const c = db();
  const many = Array.from({ length: MAX_GAPS_PER_DEVICE + 50 }, (_, i) => i);
  noteGaps(c, 'mallory', 1, undefined, state(...many), { dh: chain, n: many.length }, 0);
  assert.equal(takeGaps(c, 1, 0)[0]!.missing, MAX_GAPS_PER_DEVICE);
});

test('FASTCHAT_GAP_GRACE_SECONDS sets the grace; anything but a whole number of seconds is bad_env', () => {
  assert.equal(gapGraceMs({}), GAP_GRACE_MS);
  assert.equal(gapGraceMs({ FASTCHAT_GAP_GRACE_SECONDS: '0' }), 0);
  assert.equal(gapGraceMs({ FASTCHAT_GAP_GRACE_SECONDS: '90' }), 90_000);
  for (const bad of ['-1', '1.5', 'soon', '', '99999999']) assert.throws(() => gapGraceMs({ FASTCHAT_GAP_GRACE_SECONDS: bad }), (e: any) => e.code === 'bad_env', bad);
});
