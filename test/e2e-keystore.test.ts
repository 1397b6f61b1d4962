// The keystore with the real binary: keygen warns below the OWASP argon2id minimum, and a keystore
// file that asks for absurd argon2 work is refused before any of it is done.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeHome, makeTempRoot } from './util/fastchat-cli.js';

describe('the keystore of a home', () => {
  let tmp: ReturnType<typeof makeTempRoot>;
  before(() => {
    tmp = makeTempRoot('fastchat-keystore-');
  });
  after(() => tmp?.cleanup());

  it('keygen warns when the argon2id cost is below the OWASP minimum, and not at it', async () => {
    const weak = makeHome(tmp.root, 'weak'); // the test default: 1 MiB, 1 pass
    const w = await weak.ok(['keygen']);
    assert.match(w.stderr, /below the OWASP minimum/);
    const owasp = makeHome(tmp.root, 'owasp', { FASTCHAT_KDF_MEMORY_KIB: '19456', FASTCHAT_KDF_ITERATIONS: '2' });
    const o = await owasp.ok(['keygen']);
    assert.doesNotMatch(o.stderr, /OWASP/);
    const nonsense = makeHome(tmp.root, 'nonsense', { FASTCHAT_KDF_MEMORY_KIB: String(4 * 1024 * 1024), FASTCHAT_KDF_ITERATIONS: '100' });
    const n = await nonsense.run(['keygen']);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /at most/);
  });

  it('refuses a keystore that asks for more argon2 memory or passes than the limit, before running argon2', { timeout: 60_000 }, async () => {
    const h = makeHome(tmp.root, 'hostile');
    await h.ok(['keygen']);
    const path = join(h.dir, 'keystore.json');
    const f = JSON.parse(readFileSync(path, 'utf8'));
    for (const kdf of [{ memoryKiB: 2 ** 42 }, { iterations: 10_000_000 }]) {
      writeFileSync(path, JSON.stringify({ ...f, kdf: { ...f.kdf, ...kdf } }));
      const r = await h.run(['history', '@nobody'], { timeoutMs: 30_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /beyond the limits/);
    }
  });
});
