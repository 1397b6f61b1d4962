// The binary (bin/fastchat.cjs) runs dist/fastchat.cjs from V8's code cache (scripts/build-cli.mjs):
// the cache the build made must be taken, or every command silently takes ~20 % more CPU; and a
// cache made for another bundle must not be, since V8 itself checks only the source's length and
// would run the old code.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makeTempRoot } from './util/fastchat-cli.js';
import { FASTCHAT_BIN, ROOT } from './util/paths.js';

/** Runs `fastchat --version` through `bin`'s run(), printing whether V8 refused the cache. */
function versionAndRejected(bin: string): { version: string; rejected: string } {
  const r = spawnSync(
    process.execPath,
    ['-e', `require(${JSON.stringify(bin)}).run(['--version'], (s) => process.on('exit', () => process.stderr.write(String(s.cachedDataRejected))))`],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return { version: r.stdout.trim(), rejected: r.stderr.trim() };
}

describe('the binary and its code cache', () => {
  const tmp = makeTempRoot('fastchat-bundle-');
  after(() => tmp.cleanup());

  it('runs the bundle from the cache the build made', () => {
    assert.deepEqual(versionAndRejected(FASTCHAT_BIN), { version: '0.1.0', rejected: 'false' });
  });

  it('compiles a changed bundle from its source, not from a cache of the same length made for the old one', () => {
    mkdirSync(join(tmp.root, 'bin'));
    mkdirSync(join(tmp.root, 'dist'));
    const bin = join(tmp.root, 'bin', 'fastchat.cjs');
    copyFileSync(FASTCHAT_BIN, bin);
    copyFileSync(join(ROOT, 'dist', 'fastchat.cjs.cache'), join(tmp.root, 'dist', 'fastchat.cjs.cache'));
    const source = readFileSync(join(ROOT, 'dist', 'fastchat.cjs'), 'utf8');
    const changed = source.replace(/VERSION ?= ?"0\.1\.0"/, (v) => v.replace('0.1.0', '9.1.0'));
    assert.ok(changed !== source, 'the bundle should hold the version string');
    assert.equal(Buffer.byteLength(changed), Buffer.byteLength(source));
    writeFileSync(join(tmp.root, 'dist', 'fastchat.cjs'), changed);
    // No cache is offered at all (cachedDataRejected is then undefined), and the new code runs.
    assert.deepEqual(versionAndRejected(bin), { version: '9.1.0', rejected: 'undefined' });
  });

  it('ends quietly with exit 0 when its reader stops reading (fastchat --help | head -1)', async () => {
    const child = spawn(process.execPath, [FASTCHAT_BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Our end of the pipe is closed before the binary has started, so its help text meets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    assert.equal(stderr, '', 'nothing on stderr (it said "internal error: write EPIPE")');
    assert.equal(code, 0);
  });
});
