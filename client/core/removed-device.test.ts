// A contact removes the device whose identity we pinned first: from then on only their list's
// entries are theirs (docs/PROTOCOL.md D.7), and the number we show stays the account's.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { accountSafetyNumber, generateAccountKey } from '../../crypto/account.js';
import { firstDeviceList, nextDeviceList, signDeviceEntry } from '../../crypto/device-list.js';
import { generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { formatSafetyNumber } from '../../crypto/identity.js';
import { assembleClient } from './assemble.js';
import { contactHolds } from './contact-record.js';
import { getContact, observeIdentity, writeContact } from './contacts.js';
import type { Client } from './context.js';
import { tx } from './db.js';
import { openTestStore as openDb } from '../../test/util/client-store.js';
import { homePaths } from './home.js';
import { safetyNumberWith, shownKeys } from './trust.js';
import { deviceOfMember, memberDevices } from './group-devices.js';

const random = systemRandom();
let root: string;

before(async () => {
  await sodiumReady();
  root = mkdtempSync(join(tmpdir(), 'fastchat-removed-device-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

function makeClient(user: string): Client {
  const dir = join(root, user);
  mkdirSync(dir, { recursive: true });
  const home = homePaths(dir);
  const secrets = { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) };
  return assembleClient({ home, config: { username: user, deviceId: 1 }, secrets, db: openDb(home.store), random, keystoreWasCurrent: false });
}

/** alice: device 1 (pinned by bob first) and a linked device 2 in list v1, then v2 without device 1. */
function aliceRemovesDevice1() {
  const accountKey = generateAccountKey(random);
  const account = { user: 'alice', accountKey: accountKey.publicKey };
  const [d1, d2] = [generateIdentity(random), generateIdentity(random)];
  const v1 = firstDeviceList(accountKey, 'alice', [signDeviceEntry(d1, account, 1, 1000), signDeviceEntry(d2, account, 2, 2000)]);
  const v2 = nextDeviceList(accountKey, v1.list, v1.list.devices.filter((d) => d.device === 2));
  const [id1, id2] = [publicIdentity(d1), publicIdentity(d2)];
  return { accountKey, v1, v2, id1, id2 };
}

test("a contact's first device removed from their list: its identity is no longer theirs, and the number stays the account's", (t) => {
  const bob = makeClient('bob');
  t.after(() => bob.db.close());
  const { accountKey, v1, v2, id1, id2 } = aliceRemovesDevice1();
  tx(bob.db, () =>
    writeContact(bob, 'alice', { identity: id1, trust: 'verified', pendingIdentity: null, trustBefore: 'verified', rejected: [], addedAt: 1, account: { key: accountKey.publicKey, list: v1.bytes } }, 1),
  );
  const accountNumber = formatSafetyNumber(accountSafetyNumber({ user: 'bob', accountKey: bob.secrets.account!.publicKey }, { user: 'alice', accountKey: accountKey.publicKey }));
  assert.equal(safetyNumberWith(bob, 'alice', shownKeys(getContact(bob, 'alice')!)), accountNumber);

  // bob's next send fetches the list without device 1 and device 2's bundle.
  assert.equal(tx(bob.db, () => observeIdentity(bob, 'alice', id2, 3000, { key: accountKey.publicKey, list: v2.bytes }, 2)), 'same');
  const now = getContact(bob, 'alice')!;
  assert.equal(now.trust, 'verified');
  assert.ok(contactHolds(now, 2, id2), 'device 2 is alice');
  assert.ok(!contactHolds(now, 1, id1), "the removed device's identity is no longer taken as alice's");
  assert.equal(safetyNumberWith(bob, 'alice', shownKeys(now)), accountNumber, 'the number shown stays the account number');

  // The removed device writes to bob (a thief, through a relay that lets it): a key change, not alice.
  assert.equal(tx(bob.db, () => observeIdentity(bob, 'alice', id1, 4000, null, 1)), 'changed');
  assert.equal(getContact(bob, 'alice')!.trust, 'changed');
});

test("a group that lists a contact under their first device's identity stops taking that device once their list drops it", (t) => {
  const bob = makeClient('bob-groups');
  t.after(() => bob.db.close());
  const { accountKey, v1, v2, id1, id2 } = aliceRemovesDevice1();
  const pin = (list: Uint8Array): void =>
    tx(bob.db, () => writeContact(bob, 'alice', { identity: id1, trust: 'verified', pendingIdentity: null, trustBefore: 'verified', rejected: [], addedAt: 1, account: { key: accountKey.publicKey, list } }, 1));
  // An older group names alice under device 1's identity: while her list holds it, both devices are hers.
  pin(v1.bytes);
  assert.ok(deviceOfMember(bob, 'alice', id1.signPublic, 1, id1));
  assert.deepEqual(memberDevices(bob, 'alice', id1.signPublic), [1, 2]);
  // Her list drops device 1: it is no longer the member (a thief of it cannot write to the group as
  // her), and nothing of the group goes to it.
  pin(v2.bytes);
  assert.ok(!deviceOfMember(bob, 'alice', id1.signPublic, 1, id1), "the removed device is not alice's in the group");
  assert.deepEqual(memberDevices(bob, 'alice', id1.signPublic), []);
  // Under her account key, device 2 is.
  assert.ok(deviceOfMember(bob, 'alice', accountKey.publicKey, 2, id2));
});
