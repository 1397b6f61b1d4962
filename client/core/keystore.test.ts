import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import argon2 from 'argon2';
import { writeFileSync } from 'node:fs';
import { aeadOpen, aeadSeal } from '../../crypto/aead.js';
import { concat, equalBytes, fromBase64url, lp, toBase64url, u32, u8, utf8 } from '../../crypto/encoding.js';
import { encodeAccountKeyPair, generateAccountKey } from '../../crypto/account.js';
import { encodeIdentityKeyPair, generateIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { CliError } from '../errors.js';
import { accountKeyOf, belowOwaspMinimum, exportAccountKey, importAccountKey, kdfParamsFromEnv, readKeystore, unlockKeystore, writeKeystore } from './keystore.js';

const CHEAP = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

describe('keystore', () => {
  let dir: string;
  before(async () => {
    await sodiumReady();
    dir = mkdtempSync(join(tmpdir(), 'fastchat-keystore-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives back the identity and storage key with the right passphrase, in a 0600 file', async () => {
    const random = systemRandom();
    const secrets = { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) };
    const path = join(dir, 'a.json');
    await writeKeystore(path, 'correct horse', secrets, random, CHEAP);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const back = await readKeystore(path, 'correct horse');
    assert.ok(equalBytes(encodeIdentityKeyPair(back.identity), encodeIdentityKeyPair(secrets.identity)));
    assert.ok(equalBytes(back.storageKey, secrets.storageKey));
  });

  it('refuses a wrong passphrase with bad_passphrase and leaves the file as it was', async () => {
    const random = systemRandom();
    const path = join(dir, 'b.json');
    await writeKeystore(path, 'right', { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) }, random, CHEAP);
    const before = readFileSync(path);
    await assert.rejects(readKeystore(path, 'wrong'), (e: unknown) => e instanceof CliError && e.code === 'bad_passphrase' && e.exitCode === 1);
    assert.deepEqual(readFileSync(path), before);
  });

  it('never writes a private key in the clear', async () => {
    const random = systemRandom();
    const identity = generateIdentity(random);
    const path = join(dir, 'c.json');
    await writeKeystore(path, 'pw', { identity, storageKey: random(32), account: generateAccountKey(random) }, random, CHEAP);
    const file = readFileSync(path);
    assert.equal(file.includes(Buffer.from(identity.dh.privateKey)), false);
    assert.equal(file.toString().includes(Buffer.from(identity.dh.privateKey).toString('base64url')), false);
  });

  it('reports a missing keystore with a hint to run keygen', async () => {
    await assert.rejects(readKeystore(join(dir, 'none.json'), 'pw'), (e: unknown) => e instanceof CliError && e.code === 'no_keys' && /keygen/.test(e.hint ?? ''));
  });

  it('refuses argon2 parameters beyond the limits before running argon2', { timeout: 20_000 }, async () => {
    const random = systemRandom();
    const path = join(dir, 'hostile.json');
    await writeKeystore(path, 'pw', { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) }, random, CHEAP);
    const good = JSON.parse(readFileSync(path, 'utf8'));
    // Each would take hours or terabytes if argon2 ran.
    for (const kdf of [
      { memoryKiB: 2 ** 40, iterations: 1, parallelism: 1 },
      { memoryKiB: 1024, iterations: 1_000_000, parallelism: 1 },
      { memoryKiB: 4 * 1024 * 1024, iterations: 100, parallelism: 1 },
      { memoryKiB: 1024, iterations: 1, parallelism: 1000 },
    ]) {
      writeFileSync(path, JSON.stringify({ ...good, kdf: { ...good.kdf, ...kdf } }));
      // If argon2 ran, this would fail with an allocation error or outlive the test's timeout.
      await assert.rejects(unlockKeystore(path, 'pw'), (e: unknown) => e instanceof CliError && e.code === 'corrupt_keystore' && /beyond the limits/.test(e.message), JSON.stringify(kdf));
    }
  });

  it('binds the KDF parameters and salt into the associated data', async () => {
    const random = systemRandom();
    const path = join(dir, 'ad.json');
    const secrets = { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) };
    await writeKeystore(path, 'pw', secrets, random, CHEAP);
    const f = JSON.parse(readFileSync(path, 'utf8'));
    assert.equal(f.v, 2);
    const salt = fromBase64url(f.kdf.salt);
    const key = new Uint8Array(await argon2.hash('pw', { type: argon2.argon2id, raw: true, salt: Buffer.from(salt), hashLength: 32, memoryCost: 1024, timeCost: 1, parallelism: 1 }));
    const ad = concat(utf8('fastchat/v1/keystore'), u8(2), u32(1024), u32(1), u32(1), lp(salt));
    const nonce = fromBase64url(f.nonce);
    const ct = fromBase64url(f.ciphertext);
    assert.doesNotThrow(() => aeadOpen(key, nonce, ct, ad));
    assert.throws(() => aeadOpen(key, nonce, ct, utf8('fastchat/v1/keystore')), 'the format-1 AD no longer opens it');
  });

  it('opens a format-1 keystore and rewrites it as format 2 with the same secrets', async () => {
    const random = systemRandom();
    const path = join(dir, 'v1.json');
    const identity = generateIdentity(random);
    const storageKey = random(32);
    // Written the way format 1 was: AD = the label alone.
    const salt = random(16);
    const nonce = random(24);
    const key = new Uint8Array(await argon2.hash('pw', { type: argon2.argon2id, raw: true, salt: Buffer.from(salt), hashLength: 32, memoryCost: 1024, timeCost: 1, parallelism: 1 }));
    const plain = concat(u8(1), lp(encodeIdentityKeyPair(identity)), lp(storageKey));
    writeFileSync(path, JSON.stringify({ v: 1, kdf: { alg: 'argon2id', salt: toBase64url(salt), ...CHEAP }, nonce: toBase64url(nonce), ciphertext: toBase64url(aeadSeal(key, nonce, plain, utf8('fastchat/v1/keystore'))) }));
    const u = await unlockKeystore(path, 'pw');
    assert.equal(u.format, 1);
    u.upgrade(random);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).v, 2);
    const again = await unlockKeystore(path, 'pw');
    assert.equal(again.format, 2);
    assert.ok(equalBytes(again.secrets.storageKey, storageKey));
    assert.ok(equalBytes(encodeIdentityKeyPair(again.secrets.identity), encodeIdentityKeyPair(identity)));
    assert.ok(again.secrets.account, 'the upgrade added an account key');
    await assert.rejects(unlockKeystore(path, 'wrong'), (e: unknown) => e instanceof CliError && e.code === 'bad_passphrase');
  });

  it('gives a keystore from before account keys one at its next unlock, kept from then on, the rest unchanged', async () => {
    const random = systemRandom();
    const path = join(dir, 'no-account.json');
    const identity = generateIdentity(random);
    const storageKey = random(32);
    // Written as fastchat did before account keys: keystore format 2, secrets format 1.
    const salt = random(16);
    const nonce = random(24);
    const key = new Uint8Array(await argon2.hash('pw', { type: argon2.argon2id, raw: true, salt: Buffer.from(salt), hashLength: 32, memoryCost: 1024, timeCost: 1, parallelism: 1 }));
    const ad = concat(utf8('fastchat/v1/keystore'), u8(2), u32(1024), u32(1), u32(1), lp(salt));
    const plain = concat(u8(1), lp(encodeIdentityKeyPair(identity)), lp(storageKey));
    writeFileSync(path, JSON.stringify({ v: 2, kdf: { alg: 'argon2id', salt: toBase64url(salt), ...CHEAP }, nonce: toBase64url(nonce), ciphertext: toBase64url(aeadSeal(key, nonce, plain, ad)) }));
    const u = await unlockKeystore(path, 'pw');
    assert.equal(u.format, 2);
    assert.throws(() => accountKeyOf(u.secrets), (e: unknown) => e instanceof CliError && e.code === 'no_account_key');
    u.upgrade(random);
    const made = accountKeyOf(u.secrets);
    const again = await unlockKeystore(path, 'pw');
    assert.ok(equalBytes(encodeAccountKeyPair(accountKeyOf(again.secrets)), encodeAccountKeyPair(made)), 'the key made at the upgrade is the one stored');
    assert.ok(equalBytes(again.secrets.storageKey, storageKey));
    assert.ok(equalBytes(encodeIdentityKeyPair(again.secrets.identity), encodeIdentityKeyPair(identity)));
    const before = readFileSync(path);
    again.upgrade(random);
    assert.deepEqual(readFileSync(path), before, 'a current keystore is not rewritten');
  });

  it('exports the account key and imports it into another keystore, refusing bytes that are not one', async () => {
    const random = systemRandom();
    const from = { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) };
    const path = join(dir, 'import.json');
    const to = { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) };
    await writeKeystore(path, 'pw', to, random, CHEAP);
    const bytes = exportAccountKey(from);
    const broken = bytes.slice();
    broken[10]! ^= 1;
    const before = readFileSync(path);
    await assert.rejects(importAccountKey(path, 'pw', to, broken, random, CHEAP), (e: unknown) => e instanceof CliError && e.code === 'corrupt_account_key');
    assert.deepEqual(readFileSync(path), before);
    await importAccountKey(path, 'pw', to, bytes, random, CHEAP);
    assert.ok(equalBytes(to.account.publicKey, from.account.publicKey), 'the open secrets sign with the imported key');
    const back = await readKeystore(path, 'pw');
    assert.ok(equalBytes(accountKeyOf(back).privateKey, from.account.privateKey));
    assert.ok(equalBytes(back.storageKey, to.storageKey), 'the rest of the keystore is kept');
    assert.equal(readFileSync(path).includes(Buffer.from(from.account.privateKey)), false);
  });

  it('knows the OWASP minimum argon2id costs', () => {
    assert.equal(belowOwaspMinimum({ memoryKiB: 65536, iterations: 3, parallelism: 1 }), false);
    assert.equal(belowOwaspMinimum({ memoryKiB: 19456, iterations: 2, parallelism: 1 }), false);
    assert.equal(belowOwaspMinimum({ memoryKiB: 7168, iterations: 5, parallelism: 1 }), false);
    assert.equal(belowOwaspMinimum({ memoryKiB: 19455, iterations: 2, parallelism: 1 }), true);
    assert.equal(belowOwaspMinimum({ memoryKiB: 1024, iterations: 1, parallelism: 1 }), true);
    assert.equal(belowOwaspMinimum({ memoryKiB: 40000, iterations: 1, parallelism: 1 }), true);
  });

  it('reads argon2 cost from the environment and refuses nonsense', () => {
    assert.deepEqual(kdfParamsFromEnv({ FASTCHAT_KDF_MEMORY_KIB: '2048', FASTCHAT_KDF_ITERATIONS: '2' }), { memoryKiB: 2048, iterations: 2, parallelism: 1 });
    assert.throws(() => kdfParamsFromEnv({ FASTCHAT_KDF_MEMORY_KIB: '12' }), /FASTCHAT_KDF_MEMORY_KIB/);
    assert.throws(() => kdfParamsFromEnv({ FASTCHAT_KDF_MEMORY_KIB: String(4 * 1024 * 1024), FASTCHAT_KDF_ITERATIONS: '5' }), /at most/);
  });
});
