import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { equalBytes } from '../../crypto/encoding.js';
import { encodeIdentityKeyPair, generateIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { CliError } from '../errors.js';
import { kdfParamsFromEnv, readKeystore, writeKeystore } from './keystore.js';

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
    const secrets = { identity: generateIdentity(random), storageKey: random(32) };
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
    await writeKeystore(path, 'right', { identity: generateIdentity(random), storageKey: random(32) }, random, CHEAP);
    const before = readFileSync(path);
    await assert.rejects(readKeystore(path, 'wrong'), (e: unknown) => e instanceof CliError && e.code === 'bad_passphrase' && e.exitCode === 1);
    assert.deepEqual(readFileSync(path), before);
  });

  it('never writes a private key in the clear', async () => {
    const random = systemRandom();
    const identity = generateIdentity(random);
    const path = join(dir, 'c.json');
    await writeKeystore(path, 'pw', { identity, storageKey: random(32) }, random, CHEAP);
    const file = readFileSync(path);
    assert.equal(file.includes(Buffer.from(identity.dh.privateKey)), false);
    assert.equal(file.toString().includes(Buffer.from(identity.dh.privateKey).toString('base64url')), false);
  });

  it('reports a missing keystore with a hint to run keygen', async () => {
    await assert.rejects(readKeystore(join(dir, 'none.json'), 'pw'), (e: unknown) => e instanceof CliError && e.code === 'no_keys' && /keygen/.test(e.hint ?? ''));
  });

  it('reads argon2 cost from the environment and refuses nonsense', () => {
    assert.deepEqual(kdfParamsFromEnv({ FASTCHAT_KDF_MEMORY_KIB: '2048', FASTCHAT_KDF_ITERATIONS: '2' }), { memoryKiB: 2048, iterations: 2, parallelism: 1 });
    assert.throws(() => kdfParamsFromEnv({ FASTCHAT_KDF_MEMORY_KIB: '12' }), /FASTCHAT_KDF_MEMORY_KIB/);
  });
});
