// A home written by the previous format opens with this one: store values sealed with their column
// only (format 1), contacts as plain rows, no manifest, no counter file, a keystore whose AD omits
// its KDF parameters. The test makes such a home the old way — it takes a home made by this build
// and re-seals every value with the format-1 associated data, drops what format 2 added and writes
// a format-1 keystore, in this file, with no binary fixture — then runs the real binary on it.
import assert from 'node:assert/strict';
import argon2 from 'argon2';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { aeadSeal } from '../crypto/aead.js';
import { concat, fromBase64url, lp, toBase64url, u8, utf8 } from '../crypto/encoding.js';
import { encodeIdentityKeyPair, fingerprint, parsePublicIdentity } from '../crypto/identity.js';
import { sodiumReady, systemRandom } from '../crypto/sodium.js';
import { makeSealer } from '../client/core/at-rest.js';
import { readKeystore } from '../client/core/keystore.js';
import { FORMAT1_COLUMNS, type Row } from '../client/core/integrity/migrate.js';
import { jsonLines, makeTempRoot, startUsers, type TestHome } from './util/fastchat-cli.js';
import type { RelayProcess } from './util/relay-process.js';
import { withStoreFile } from './util/tamper.js';

/** Format 1 at rest: nonce || XChaCha20-Poly1305(storage key, AD = "fastchat/v1/at-rest/<column>"). */
function sealFormat1(key: Uint8Array, column: string, plain: Uint8Array): Buffer {
  const nonce = systemRandom()(24);
  return Buffer.from(concat(nonce, aeadSeal(key, nonce, plain, utf8(`fastchat/v1/at-rest/${column}`))));
}

/** Rewrites a home made by this build into the format the previous release wrote. */
async function downgradeHome(home: TestHome): Promise<void> {
  const secrets = await readKeystore(join(home.dir, 'keystore.json'), home.env.FASTCHAT_PASSPHRASE!);
  const sealer = makeSealer(secrets.storageKey, systemRandom());
  withStoreFile(home, (db) => {
    db.transaction(() => {
      for (const c of FORMAT1_COLUMNS) {
        if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(c.table)) continue;
        const rows = db.prepare(`SELECT rowid AS _rid, * FROM ${c.table} WHERE ${c.column} IS NOT NULL`).all() as Row[];
        for (const r of rows) {
          const plain = sealer.open(c.next, c.key(r), new Uint8Array(r[c.column] as Buffer));
          db.prepare(`UPDATE ${c.table} SET ${c.column} = ? WHERE rowid = ?`).run(sealFormat1(secrets.storageKey, c.legacy, plain), r._rid);
        }
      }
      db.exec('ALTER TABLE contacts DROP COLUMN sealed; DROP TABLE store_manifest;');
      db.prepare("DELETE FROM meta WHERE key = 'store_format'").run();
    })();
  });
  rmSync(join(home.dir, 'store.counter'));
  // Keystore format 1: AD = "fastchat/v1/keystore" alone.
  const path = join(home.dir, 'keystore.json');
  const f = JSON.parse(readFileSync(path, 'utf8'));
  const salt = systemRandom()(16);
  const nonce = systemRandom()(24);
  const key = new Uint8Array(
    await argon2.hash(home.env.FASTCHAT_PASSPHRASE!, { type: argon2.argon2id, raw: true, salt: Buffer.from(salt), hashLength: 32, memoryCost: f.kdf.memoryKiB, timeCost: f.kdf.iterations, parallelism: f.kdf.parallelism }),
  );
  const plain = concat(u8(1), lp(encodeIdentityKeyPair(secrets.identity)), lp(secrets.storageKey));
  const old = { v: 1, kdf: { alg: 'argon2id', salt: toBase64url(salt), memoryKiB: f.kdf.memoryKiB, iterations: f.kdf.iterations, parallelism: f.kdf.parallelism }, nonce: toBase64url(nonce), ciphertext: toBase64url(aeadSeal(key, nonce, plain, utf8('fastchat/v1/keystore'))) };
  writeFileSync(path, JSON.stringify(old, null, 2), { mode: 0o600 });
}

describe('opening a home written by the previous store format', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;

  before(async () => {
    await sodiumReady();
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob'], { prefix: 'fastchat-upgrade-' }));
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('migrates sealed values, contacts and the keystore in place, and keeps every message, key and session', async () => {
    await alice.ok(['send', '@bob', 'before the upgrade']);
    await bob.ok(['inbox']);
    await bob.ok(['send', '@alice', 'reply before the upgrade']);
    await alice.ok(['inbox']);
    await alice.ok(['group', 'create', '#team', '@bob']);
    await bob.ok(['inbox']);
    await alice.ok(['send', '#team', 'team before the upgrade']);
    await bob.ok(['inbox']);
    await downgradeHome(alice);
    assert.equal(existsSync(join(alice.dir, 'store.counter')), false);

    const history = jsonLines((await alice.ok(['history', '@bob', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(history, ['before the upgrade', 'reply before the upgrade']);
    assert.equal(JSON.parse(readFileSync(join(alice.dir, 'keystore.json'), 'utf8')).v, 2, 'the keystore was upgraded on unlock');
    assert.ok(existsSync(join(alice.dir, 'store.counter')));
    const team = jsonLines((await alice.ok(['history', '#team', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(team, ['team before the upgrade']);
    const contact = jsonLines((await alice.ok(['contacts', '--json'])).stdout).find((c) => c.username === 'bob');
    const bobIdentity = parsePublicIdentity(fromBase64url(JSON.parse(readFileSync(join(bob.dir, 'config.json'), 'utf8')).identity));
    assert.deepEqual({ trust: contact.trust, fingerprint: contact.fingerprint, integrity: contact.integrity }, { trust: 'unverified', fingerprint: fingerprint(bobIdentity), integrity: 'ok' });

    // The old session keeps going (no new X3DH), and the group's sender key too.
    await alice.ok(['send', '@bob', 'after the upgrade']);
    await alice.ok(['send', '#team', 'team after the upgrade']);
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['after the upgrade', 'team after the upgrade']);
    const alicePrekeyMessages = withStoreFile(bob, (db) => (db.prepare('SELECT COUNT(*) AS n FROM accepted_prekey_messages').get() as { n: number }).n);
    assert.equal(alicePrekeyMessages, 1, 'bob accepted one first message from alice, before the upgrade');

    // From now on the migrated records are protected like new ones.
    withStoreFile(alice, (db) => db.prepare("UPDATE contacts SET trust = 'verified' WHERE username = 'bob'").run());
    const after = jsonLines((await alice.ok(['contacts', '--json'])).stdout).find((c) => c.username === 'bob');
    assert.equal(after.integrity, 'failed');
  });
});
