// storeStandings (docs/PROTOCOL.md D.12 step 5) on a real store: what a device just linked takes
// from the account's other device, and what it refuses whole.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestClient } from '../../test/util/client-store.js';
import type { Client } from './context.js';
import { parsePayload, encodePayload, PayloadError, STANDINGS_MAX_USERS, type StandingsPayload } from './payload.js';
import { admitMessage, block, standing } from './requests.js';
import { storeStandings } from './standings-sync.js';

let client: Client;
let cleanup: () => void;
const standings = (accepted: string[], blocked: string[]): StandingsPayload => ({ v: 1, type: 'standings', id: 's1', sentAt: '2026-01-02T03:04:05.678Z', accepted, blocked });

before(async () => {
  ({ client, cleanup } = await openTestClient('fastchat-standings-'));
});
after(() => cleanup?.());
describe('storeStandings', () => {
  it('accepts and blocks users this device has no standing for, and turns a request waiting here into an accepted conversation', () => {
    process.env.FASTCHAT_REQUESTS = 'on';
    assert.equal(admitMessage(client, 'bob', new Uint8Array(10)), 'request');
    const r = storeStandings(client, 1, standings(['bob', 'carol'], ['mallory']));
    assert.deepEqual([r.accepted, r.blocked], [2, 1]);
    assert.deepEqual(['bob', 'carol', 'mallory'].map((u) => standing(client, u)), ['accepted', 'accepted', 'blocked']);
  });

  it("changes nothing this device decided itself: its own block stands against the other device's accepted", () => {
    block(client, 'trent');
    const r = storeStandings(client, 1, standings(['trent'], ['carol']));
    assert.deepEqual([r.accepted, r.blocked], [0, 0]);
    assert.deepEqual([standing(client, 'trent'), standing(client, 'carol')], ['blocked', 'accepted']);
  });

  it('refuses whole a payload naming this account, or one user in both lists', () => {
    for (const p of [standings(['alice'], []), standings([], ['alice']), standings(['dave', 'erin'], ['erin'])]) {
      assert.throws(() => storeStandings(client, 1, p), PayloadError);
    }
    assert.equal(standing(client, 'dave'), undefined, 'nothing of a refused payload is taken');
  });

  it('parses only its exact shape, within its bound', () => {
    assert.deepEqual(parsePayload(encodePayload(standings(['bob'], []))), standings(['bob'], []));
    const over = Array.from({ length: STANDINGS_MAX_USERS + 1 }, (_, i) => `u${i}`);
    for (const bad of [{ ...standings([], []), accepted: over }, { ...standings([], []), blocked: ['not a name!'] }, { ...standings([], []), accepted: undefined }]) {
      assert.throws(() => parsePayload(new TextEncoder().encode(JSON.stringify(bad))), PayloadError);
    }
  });
});
