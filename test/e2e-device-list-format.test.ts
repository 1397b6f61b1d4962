// Device lists of the first format (version 1: entries without their devices' signatures) met
// after the upgrade (docs/PROTOCOL.md D.7 item 7), with the real binary and a real relay: a relay
// still holding one serves it, a contact pinned to one made by an older client, and the account's
// home republishing at its next login. The rule: a first-format list is no list; the next upload
// is a new version 1 that replaces it; a contact that pinned one takes the new chain under the same
// key (another key would be a key change) and keeps its trust.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import { DEVICE_LIST_VERSION } from '../crypto/consts.js';
import { parseDeviceList } from '../crypto/device-list.js';
import { readContact, writeContact } from '../client/core/contacts.js';
import { tx } from '../client/core/db.js';
import { rawDeviceList } from '../scripts/vectors/devices.js';
import { withCore } from './util/client-core.js';
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateAccountKey } from '../crypto/account.js';
import { systemRandom } from '../crypto/sodium.js';
import { homePaths } from '../client/core/home.js';
import { accountKeyOf, readKeystore, writeKeystore } from '../client/core/keystore.js';
import { jsonLines, makeHome, startUsers, type TestHome } from './util/fastchat-cli.js';
import type { RelayProcess } from './util/relay-process.js';

describe('device lists of the first format after the upgrade', () => {
  let relay: RelayProcess;
  let tmp: { cleanup: () => void };
  let dbPath: string;
  let alice: TestHome;
  let bob: TestHome;

  before(async () => {
    ({ relay, tmp, dbPath, homes: { alice, bob } } = await startUsers(['alice', 'bob'], { prefix: 'fastchat-list-format-' }));
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  const stored = (): Uint8Array[] => {
    const db = new Database(dbPath, { readonly: true });
    try {
      return (db.prepare("SELECT list FROM device_lists WHERE username = 'bob' ORDER BY version").all() as { list: Buffer }[]).map((r) => new Uint8Array(r.list));
    } finally {
      db.close();
    }
  };
  const contact = async (peer: string): Promise<any> => jsonLines((await alice.ok(['contacts', '--json'])).stdout).find((c) => c.username === peer);
  const numberWith = async (h: TestHome, peer: string): Promise<string> => JSON.parse((await h.ok(['fingerprint', `@${peer}`, '--json'])).stdout).safetyNumber;

  it('reads a first-format list as no list, and takes the chain bob republishes at login under the pinned key, keeping "verified"', async () => {
    // The relay holds bob's list as an older relay stored it: same account key, first format.
    const bobKey = await withCore(bob, (c) => accountKeyOf(c.secrets));
    const [current] = stored();
    const legacy = rawDeviceList(bobKey, { version: 1, user: 'bob', entries: parseDeviceList(current!).devices, legacyEntries: true });
    const db = new Database(dbPath);
    try {
      db.prepare("UPDATE device_lists SET list = ? WHERE username = 'bob'").run(Buffer.from(legacy));
    } finally {
      db.close();
    }

    // alice reaches bob on identity trust (the list vouches for nothing), and verifies him.
    await alice.ok(['send', '@bob', 'hello over an old list']);
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['hello over an old list']);
    const identityNumber = await numberWith(alice, 'bob');
    await alice.ok(['verify', '@bob', identityNumber]);
    // As an older alice would have: the first-format list pinned with bob's account key.
    await withCore(alice, (c) =>
      tx(c.db, () => {
        const rec = readContact(c, 'bob');
        assert.ok(rec && rec.integrity === 'ok');
        writeContact(c, 'bob', { ...rec, account: { key: bobKey.publicKey, list: legacy } }, c.now());
      }),
    );
    assert.equal(await numberWith(alice, 'bob'), identityNumber, 'a first-format pin vouches for nothing: the identity number');
    assert.equal((await contact('bob')).trust, 'verified');

    // bob's home logs in again and republishes: a new version 1 in place of the old list.
    await bob.ok(['logout']);
    await bob.ok(['login', 'bob']);
    const now = stored();
    assert.equal(now.length, 1);
    assert.deepEqual([now[0]![0], parseDeviceList(now[0]!).version, parseDeviceList(now[0]!).devices.map((d) => d.device)], [DEVICE_LIST_VERSION, 1, [1]]);

    // alice's next send takes it under the key she pinned: still verified, now on the account number.
    await alice.ok(['send', '@bob', 'after the upgrade']);
    assert.equal((await contact('bob')).trust, 'verified');
    const accountNumber = await numberWith(alice, 'bob');
    assert.notEqual(accountNumber, identityNumber);
    assert.equal(accountNumber, await numberWith(bob, 'alice'));
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['after the upgrade']);
  });

  it("a home with another account key that logs in to an account whose relay holds only a first-format list is refused (account_key_differs), and the list stays", async () => {
    // alice's list as an older relay stored it: her account key, first format.
    const aliceKey = await withCore(alice, (c) => accountKeyOf(c.secrets));
    const read = (): Buffer[] => {
      const db = new Database(dbPath, { readonly: true });
      try {
        return (db.prepare("SELECT list FROM device_lists WHERE username = 'alice' ORDER BY version").all() as { list: Buffer }[]).map((r) => r.list);
      } finally {
        db.close();
      }
    };
    const legacy = rawDeviceList(aliceKey, { version: 1, user: 'alice', entries: parseDeviceList(new Uint8Array(read()[0]!)).devices, legacyEntries: true });
    const db = new Database(dbPath);
    try {
      db.prepare("UPDATE device_lists SET list = ? WHERE username = 'alice'").run(Buffer.from(legacy));
    } finally {
      db.close();
    }
    // A copy of alice's home from before account keys, which made an account key of its own when
    // it was upgraded: the same identity as device 1, another account key.
    const copyDir = join(dirname(alice.dir), 'alice-copy');
    cpSync(alice.dir, copyDir, { recursive: true });
    const other: TestHome = { ...makeHome(dirname(alice.dir), 'alice-copy', { FASTCHAT_PASSPHRASE: alice.env.FASTCHAT_PASSPHRASE!, FASTCHAT_PASSWORD: alice.env.FASTCHAT_PASSWORD! }) };
    const keystore = homePaths(copyDir).keystore;
    const secrets = await readKeystore(keystore, alice.env.FASTCHAT_PASSPHRASE!);
    await writeKeystore(keystore, alice.env.FASTCHAT_PASSPHRASE!, { ...secrets, account: generateAccountKey(systemRandom()) }, systemRandom(), { memoryKiB: 1024, iterations: 1, parallelism: 1 });
    await other.ok(['logout']);
    const r = await other.run(['login', 'alice', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /account_key_differs/);
    assert.deepEqual(read().map((b) => Buffer.compare(b, Buffer.from(legacy))), [0], 'the first-format list is still the only one');
  });
});
