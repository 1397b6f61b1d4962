// Our own device list is kept in store.db's plain `meta` table but listed in the sealed integrity
// manifest (docs/PROTOCOL.md S.4): a disk writer who puts back an older list of ours — one that
// still holds a device we removed since — or plants one must not have it believed.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { generateAccountKey } from '../../crypto/account.js';
import { firstDeviceList, nextDeviceList, signDeviceEntry } from '../../crypto/device-list.js';
import { toBase64url } from '../../crypto/encoding.js';
import { generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { assembleClient } from './assemble.js';
import type { Client } from './context.js';
import { tx } from './db.js';
import { openTestStore as openDb } from '../../test/util/client-store.js';
import { hasOtherDevices, keepOwnList, ownList, ownListHolds } from './fanout.js';
import { homePaths } from './home.js';
import { loadManifest } from './integrity/manifest.js';

const random = systemRandom();
let root: string;

before(async () => {
  await sodiumReady();
  root = mkdtempSync(join(tmpdir(), 'fastchat-own-list-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function setup(): { alice: Client; store: string; v1: string; v2: string; laptop: ReturnType<typeof publicIdentity> } {
  const dir = join(root, `alice-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  const home = homePaths(dir);
  const secrets = { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) };
  const alice = assembleClient({ home, config: { username: 'alice', deviceId: 1 }, secrets, db: openDb(home.store), random, keystoreWasCurrent: false });
  const account = { user: 'alice', accountKey: secrets.account.publicKey };
  const laptopKeys = generateIdentity(random);
  // Version 1: this home and a laptop; version 2: the laptop removed.
  const v1 = firstDeviceList(secrets.account, 'alice', [signDeviceEntry(secrets.identity, account, 1, 1000), signDeviceEntry(laptopKeys, account, 2, 2000)]);
  const v2 = nextDeviceList(secrets.account, v1.list, v1.list.devices.filter((d) => d.device === 1));
  return { alice, store: home.store, v1: toBase64url(v1.bytes), v2: toBase64url(v2.bytes), laptop: publicIdentity(laptopKeys) };
}

/** What a disk writer does with sqlite3 while fastchat is not running. */
function writeMetaBehindOurBack(store: string, value: string): void {
  const raw = new Database(store);
  try {
    raw.prepare("INSERT INTO meta (key, value) VALUES ('own_device_list', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(value);
  } finally {
    raw.close();
  }
}

test('our own list put back from an older copy (still holding a removed device) is not believed', (t) => {
  const { alice, store, v1, v2, laptop } = setup();
  t.after(() => alice.db.close());
  tx(alice.db, () => keepOwnList(alice, v2));
  assert.equal(ownList(alice)?.version, 2);
  assert.ok(loadManifest(alice).values.has('own_device_list'), 'the kept list is in the manifest');
  assert.equal(hasOtherDevices(alice), false);

  writeMetaBehindOurBack(store, v1);
  assert.equal(ownList(alice), null, 'the older list (validly signed by our account key) is not believed');
  assert.equal(ownListHolds(alice, 2, laptop), false, 'a sync copy from the removed laptop is not taken as ours');
  assert.equal(hasOtherDevices(alice), false, 'no copies go to the removed laptop');

  // Put back the list the manifest names: believed again.
  writeMetaBehindOurBack(store, v2);
  assert.equal(ownList(alice)?.version, 2);
});

test('a list of ours planted where none was kept is not believed', (t) => {
  const { alice, store, v1, laptop } = setup();
  t.after(() => alice.db.close());
  writeMetaBehindOurBack(store, v1);
  assert.equal(ownList(alice), null);
  assert.equal(ownListHolds(alice, 2, laptop), false);
  // Kept by this home itself: believed.
  tx(alice.db, () => keepOwnList(alice, v1));
  assert.equal(ownList(alice)?.version, 1);
  assert.ok(ownListHolds(alice, 2, laptop));
});
