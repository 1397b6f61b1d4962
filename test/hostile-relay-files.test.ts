// Downloads from a hostile relay (docs/THREAT_MODEL.md, docs/CLI.md "send-file"): the message names
// the file's size, so the client knows the blob's exact size before the first byte, and a relay
// that streams more, announces another length or range, or ends the file early gets an integrity
// error — never a full disk, never "relay unreachable", never a saved file.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attachmentBlobSize } from '../crypto/attachment.js';
import { jsonLines, type TestHome } from './util/fastchat-cli.js';
import { startHostileWorld, type BlobAnswer, type BlobContext, type HostileRelay } from './util/hostile-relay.js';

const CHUNK = 64 * 1024;
/** How much the endless blob may stream at most: far more than the client may take. */
const ENDLESS_CHUNKS = 1024; // 64 MiB

describe('downloading a file from a hostile relay', () => {
  let hostile: HostileRelay;
  let stop: () => Promise<void>;
  let alice: TestHome;
  let bob: TestHome;
  let dir: string;

  before(async () => {
    let home: (name: string) => Promise<TestHome>;
    ({ hostile, home, stop } = await startHostileWorld('fastchat-hostile-files-'));
    [alice, bob] = await Promise.all([home('alice'), home('bob')]);
    dir = join(alice.dir, 'outgoing');
    mkdirSync(dir);
  });
  after(async () => {
    await stop?.();
  });

  /** alice sends a file of `size` bytes; bob's inbox runs with `hook` serving the blob. */
  async function receiveWith(name: string, size: number, hook: (ctx: BlobContext) => BlobAnswer | void, prepare?: (blobId: string) => void): Promise<{ line: any; stderr: string; blobSize: number }> {
    const p = join(dir, name);
    writeFileSync(p, Buffer.alloc(size, 0x61));
    const sent = JSON.parse((await alice.ok(['send-file', '@bob', p, '--json'])).stdout);
    prepare?.(sent.file.blob);
    const off = hostile.onBlob(hook);
    const r = await bob.ok(['inbox', '--json']);
    off();
    const line = jsonLines(r.stdout).find((m) => m.file?.name === name);
    assert.ok(line, r.stdout);
    return { line, stderr: r.stderr, blobSize: attachmentBlobSize(size) };
  }

  function assertNothingKept(name: string): void {
    assert.ok(!readdirSync(join(bob.dir, 'files')).some((n) => n.includes(name.split('.')[0]!)), 'no file saved');
    assert.deepEqual(readdirSync(join(bob.dir, 'files', '.partial')), [], 'no partial blob kept');
  }

  it('stops at the blob size when the relay streams without end, and reports an integrity error', async () => {
    let made = 0;
    let biggest = 0;
    const partial = join(bob.dir, 'files', '.partial');
    const { line, stderr, blobSize } = await receiveWith('endless.txt', 10_000, (ctx) => ({
      headers: { 'content-length': null },
      body: (async function* () {
        yield ctx.body;
        for (; made < ENDLESS_CHUNKS; made++) {
          for (const f of existsSync(partial) ? readdirSync(partial) : []) biggest = Math.max(biggest, statSync(join(partial, f)).size);
          yield Buffer.alloc(CHUNK, made & 0xff);
        }
      })(),
    }));
    assert.equal(line.error?.code, 'integrity', JSON.stringify(line));
    assert.match(stderr, /the relay sent more than the \d+ bytes of the file's blob/);
    assert.ok(made < ENDLESS_CHUNKS, `the client kept reading: ${made} extra chunks were sent`);
    assert.ok(biggest <= blobSize, `the partial file grew to ${biggest} bytes (blob ${blobSize})`);
    assertNothingKept('endless.txt');
  });

  it('refuses a resumed download answered with another range than it asked for', async () => {
    const ranges: string[] = [];
    const { line, stderr } = await receiveWith(
      'ranged.txt',
      10_000,
      (ctx): BlobAnswer => {
        ranges.push(ctx.range ?? 'none');
        return { status: 206, headers: { 'content-range': `bytes 0-${ctx.body.length - 1}/${ctx.body.length}` } };
      },
      // An earlier attempt broke off after 1000 bytes (which ones does not matter here).
      (blob) => writeFileSync(join(bob.dir, 'files', '.partial', `${blob}.blob`), Buffer.alloc(1000)),
    );
    assert.deepEqual(ranges, ['bytes=1000-']);
    assert.equal(line.error?.code, 'integrity', JSON.stringify(line));
    assert.match(stderr, /answered the range/);
    assertNothingKept('ranged.txt');
  });

  it('refuses a blob that ends early as if complete, or announces another length than the file has', async () => {
    const short = await receiveWith('short.txt', 10_000, (ctx) => ({ headers: { 'content-length': null }, body: ctx.body.subarray(0, ctx.body.length - 100) }));
    assert.equal(short.line.error?.code, 'integrity', JSON.stringify(short.line));
    assert.match(short.stderr, /ended the file's blob after \d+ of its \d+ bytes/);
    const long = await receiveWith('long.txt', 10_000, (ctx) => ({ body: Buffer.concat([ctx.body, Buffer.alloc(10)]) }));
    assert.equal(long.line.error?.code, 'integrity', JSON.stringify(long.line));
    assert.match(long.stderr, /announced \d+ bytes where the rest of the file's blob is/);
    assertNothingKept('short.txt');
    assertNothingKept('long.txt');
  });

  it('refuses a blob with one byte changed in transit', async () => {
    const { line } = await receiveWith('flipped.txt', 10_000, (ctx) => {
      const b = Buffer.from(ctx.body);
      b[5000]! ^= 1;
      return { body: b };
    });
    assert.equal(line.error?.code, 'integrity', JSON.stringify(line));
    assertNothingKept('flipped.txt');
    // And an honest relay still delivers.
    const ok = await receiveWith('honest.txt', 10_000, () => undefined);
    assert.equal(ok.line.error, undefined);
    assert.equal(statSync(ok.line.file.path).size, 10_000);
  });
});
