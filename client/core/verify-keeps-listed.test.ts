// Settling a key change of a contact with several devices (verify --reject, or --accept of the old
// number) keeps the sessions with every device their pinned list holds; only sessions with keys
// the record no longer holds go. Before, only the session with the one pinned identity was kept.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { accountSafetyNumber, generateAccountKey } from '../../crypto/account.js';
import { firstDeviceList, signDeviceEntry } from '../../crypto/device-list.js';
import { generateIdentity, publicIdentity, type IdentityKeyPair } from '../../crypto/identity.js';
import { generateSignedPreKey, publicSignedPreKey } from '../../crypto/prekeys.js';
import { initiateSession } from '../../crypto/session.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { assembleClient } from './assemble.js';
import { getContact, observeIdentity, writeContact } from './contacts.js';
import type { Client } from './context.js';
import { tx } from './db.js';
import { openTestStore as openDb } from '../../test/util/client-store.js';
import { homePaths } from './home.js';
import { saveSession, sessionDevices } from './sessions.js';
import { verifyContact } from './trust.js';

const random = systemRandom();
let root: string;

before(async () => {
  await sodiumReady();
  root = mkdtempSync(join(tmpdir(), 'fastchat-verify-keeps-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** bob, who pinned alice's account with devices 1 and 2 and has a session with each. */
function setup(name: string): { bob: Client; accountNumber: string } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const home = homePaths(dir);
  const secrets = { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) };
  const bob = assembleClient({ home, config: { username: 'bob', deviceId: 1 }, secrets, db: openDb(home.store), random, keystoreWasCurrent: false });
  const accountKey = generateAccountKey(random);
  const account = { user: 'alice', accountKey: accountKey.publicKey };
  const [d1, d2] = [generateIdentity(random), generateIdentity(random)];
  const v1 = firstDeviceList(accountKey, 'alice', [signDeviceEntry(d1, account, 1, 1000), signDeviceEntry(d2, account, 2, 2000)]);
  const sessionWith = (device: number, them: IdentityKeyPair) =>
    initiateSession(secrets.identity, { user: 'bob', device: 1 }, { address: { user: 'alice', device }, identity: publicIdentity(them), signedPreKey: publicSignedPreKey(generateSignedPreKey(them, 1, 1, random)), oneTimePreKey: null }, random, 1);
  tx(bob.db, () => {
    writeContact(bob, 'alice', { identity: publicIdentity(d1), trust: 'verified', pendingIdentity: null, trustBefore: 'verified', rejected: [], addedAt: 1, account: { key: accountKey.publicKey, list: v1.bytes } }, 1);
    saveSession(bob.db, bob.sealer, 'alice', 1, sessionWith(1, d1), 1);
    saveSession(bob.db, bob.sealer, 'alice', 2, sessionWith(2, d2), 1);
  });
  // A device no list holds writes as alice (a relay minting one): a pending key change.
  assert.equal(tx(bob.db, () => observeIdentity(bob, 'alice', publicIdentity(generateIdentity(random)), 3000, null, 3)), 'changed');
  const accountNumber = accountSafetyNumber({ user: 'bob', accountKey: secrets.account.publicKey }, account);
  return { bob, accountNumber };
}

test('verify --reject of a minted device keeps the sessions with both listed devices', async (t) => {
  const { bob } = setup('reject');
  t.after(() => bob.db.close());
  assert.deepEqual(sessionDevices(bob.db, bob.sealer, 'alice'), [1, 2]);
  await verifyContact(bob, 'alice', { reject: true });
  assert.equal(getContact(bob, 'alice')!.trust, 'verified');
  assert.deepEqual(sessionDevices(bob.db, bob.sealer, 'alice'), [1, 2], "the session with alice's second listed device is kept");
});

test('verify --accept of the old (account) number keeps the sessions with both listed devices', async (t) => {
  const { bob, accountNumber } = setup('accept');
  t.after(() => bob.db.close());
  await verifyContact(bob, 'alice', { accept: true, key: { kind: 'safety', digits: accountNumber } });
  assert.equal(getContact(bob, 'alice')!.trust, 'verified');
  assert.deepEqual(sessionDevices(bob.db, bob.sealer, 'alice'), [1, 2], "the session with alice's second listed device is kept");
});
