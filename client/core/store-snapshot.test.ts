import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test, type TestContext } from 'node:test';
import { generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { generateSignedPreKey, publicSignedPreKey } from '../../crypto/prekeys.js';
import { initiateSession } from '../../crypto/session.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { makeSealer } from './at-rest.js';
import type { ContactRecord } from './contact-record.js';
import { listContacts, readContact, writeContact } from './contacts.js';
import { tx, type DB } from './db.js';
import { openDb } from '../node/sqlite.js';
import { loadSession, saveSession, sessionDevices } from './sessions.js';
import { emptyManifest, saveManifest, type Store } from './integrity/manifest.js';

before(async () => {
  await sodiumReady();
});

/**
 * Makes `db` run `between` once, right after the first statement whose SQL starts with `prefix`
 * has read its rows: the moment another process sharing the home could commit.
 */
function commitBetween(db: DB, prefix: string, between: () => void): void {
  const prepare = db.prepare.bind(db);
  let armed = true;
  db.prepare = ((sql: string) => {
    const st = prepare(sql);
    if (!armed || !sql.startsWith(prefix)) return st;
    return new Proxy(st, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (typeof v !== 'function') return v;
        if (prop !== 'get' && prop !== 'all') return v.bind(target);
        return (...args: unknown[]) => {
          const rows = (v as (...a: unknown[]) => unknown).apply(target, args);
          if (armed) {
            armed = false;
            between();
          }
          return rows;
        };
      },
    });
  }) as DB['prepare'];
}

/** Two connections to one store.db, as two fastchat processes sharing a home have. */
function twoProcesses(t: TestContext): { here: Store; there: Store } {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-snapshot-'));
  const sealer = makeSealer(random(32), random);
  const here: Store = { db: openDb(join(dir, 'store.db')), sealer };
  const there: Store = { db: openDb(join(dir, 'store.db')), sealer };
  t.after(() => {
    here.db.close();
    there.db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  tx(there.db, () => saveManifest(there, emptyManifest()));
  return { here, there };
}

const random = systemRandom();

test('a contact read while another process of the same home rewrites it is read whole: the row and the manifest entry from one snapshot, never a false integrity failure', (t) => {
  const { here, there } = twoProcesses(t);
  const record = (): ContactRecord => ({ identity: publicIdentity(generateIdentity(random)), trust: 'unverified', pendingIdentity: null, trustBefore: 'unverified', rejected: [], addedAt: 1 });
  tx(there.db, () => writeContact(there, 'bob', record(), 1));

  const newer = record();
  commitBetween(here.db, 'SELECT username, identity', () => tx(there.db, () => writeContact(there, 'bob', newer, 2)));
  const read = readContact(here, 'bob');
  assert.equal(read?.integrity, 'ok', `the read saw the other process's commit half: ${JSON.stringify(read)}`);
  // The next read sees the other process's record, whole.
  const after = readContact(here, 'bob');
  assert.equal(after?.integrity, 'ok');
  assert.deepEqual(after?.integrity === 'ok' && after.identity, newer.identity);

  commitBetween(here.db, 'SELECT username, identity', () => tx(there.db, () => writeContact(there, 'carol', record(), 3)));
  assert.deepEqual(
    listContacts(here).map((c) => [c.username, c.integrity]),
    [['bob', 'ok']],
  );
  assert.deepEqual(
    listContacts(here).map((c) => [c.username, c.integrity]),
    [
      ['bob', 'ok'],
      ['carol', 'ok'],
    ],
  );
});

test('a session read while another process of the same home moves it on is read whole: never a false integrity failure', (t) => {
  const { here, there } = twoProcesses(t);
  const alice = generateIdentity(random);
  const bob = generateIdentity(random);
  const session = () =>
    initiateSession(alice, { user: 'alice', device: 1 }, { address: { user: 'bob', device: 1 }, identity: publicIdentity(bob), signedPreKey: publicSignedPreKey(generateSignedPreKey(bob, 1, 1, random)), oneTimePreKey: null }, random, 1);
  tx(there.db, () => saveSession(there.db, there.sealer, 'bob', 1, session(), 1));

  commitBetween(here.db, 'SELECT state, previous', () => tx(there.db, () => saveSession(there.db, there.sealer, 'bob', 1, session(), 2)));
  assert.ok(loadSession(here.db, here.sealer, 'bob', 1), 'the session opens');

  commitBetween(here.db, 'SELECT device FROM sessions', () => tx(there.db, () => saveSession(there.db, there.sealer, 'bob', 2, session(), 3)));
  assert.deepEqual(sessionDevices(here.db, here.sealer, 'bob'), [1], 'rows and manifest from one moment');
  assert.deepEqual(sessionDevices(here.db, here.sealer, 'bob'), [1, 2]);
});
