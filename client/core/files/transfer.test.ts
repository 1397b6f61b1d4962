// The transfer seam with nothing of Node behind it: bytes in memory, a part in memory and a relay
// in memory (what the page runs, with fetch in place of the map). The CLI's side, files and
// node:http, is tested end to end (test/e2e-files.test.ts, test/hostile-relay-files.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concat } from '../../../crypto/encoding.js';
import { sodiumReady, systemRandom } from '../../../crypto/sodium.js';
import { bytesSource, downloadBlob, memoryPart, NO_PROGRESS, openBlob, uploadFile, type BlobAnswer, type BlobHttp } from './transfer.js';

await sodiumReady();

const t = { url: 'http://relay.invalid', token: 'tok' };

/** A relay that keeps one blob; `lie` changes what a download answers. */
function memoryRelay(lie: (blob: Uint8Array, from: number) => { status: number; headers: Record<string, string>; body: Uint8Array } = (b, from) => ({ status: from > 0 ? 206 : 200, headers: (from > 0 ? { 'content-range': `bytes ${from}-${b.length - 1}/${b.length}` } : {}) as Record<string, string>, body: b.subarray(from) })) {
  let stored: Uint8Array = new Uint8Array(0);
  const asked: string[] = [];
  const http: BlobHttp = {
    async upload(_t, path, length, body) {
      asked.push(`POST ${path}`);
      const parts: Uint8Array[] = [];
      for await (const c of body) parts.push(c.slice());
      stored = concat(...parts);
      assert.equal(stored.length, length, 'the announced length is the body\'s');
      return { status: 201, text: JSON.stringify({ id: 'blob-1' }) };
    },
    async download(_t, path, from) {
      asked.push(`GET ${path} from ${from}`);
      const a = lie(stored, from);
      const answer: BlobAnswer = {
        status: a.status,
        header: (n) => a.headers[n],
        body: (async function* () {
          for (let i = 0; i < a.body.length; i += 1000) yield a.body.subarray(i, i + 1000);
        })(),
        complete: () => true,
        cancel: () => {},
      };
      return answer;
    },
  };
  return { http, asked };
}

async function all(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return concat(...parts);
}

test('a file in memory goes up and comes back through the same protocol code, byte for byte', async () => {
  const relay = memoryRelay();
  const bytes = systemRandom()(200_000);
  const up = await uploadFile(t, relay.http, bytesSource('dir/photo.png', bytes), ['bob', 'carol'], systemRandom(), NO_PROGRESS);
  assert.deepEqual(relay.asked, ['POST /v1/blobs?to=bob,carol']);
  assert.equal(up.ref.name, 'photo.png');
  assert.equal(up.ref.mime, 'image/png');
  assert.equal(up.ref.size, bytes.length);
  const part = memoryPart();
  await downloadBlob(t, relay.http, up.ref.blob, up.blobSize, part, NO_PROGRESS);
  assert.deepEqual(await all(openBlob(part.read(), up.ref)), bytes);
});

test('a part in memory resumes with a range, and a relay that sends more than the blob is an integrity error', async () => {
  const relay = memoryRelay();
  const bytes = systemRandom()(100_000);
  const up = await uploadFile(t, relay.http, bytesSource('a.bin', bytes), ['bob'], systemRandom(), NO_PROGRESS);
  const part = memoryPart();
  const blob = await (async () => {
    const p = memoryPart();
    await downloadBlob(t, relay.http, up.ref.blob, up.blobSize, p, NO_PROGRESS);
    return p.bytes();
  })();
  await part.write((async function* () {
    yield blob.subarray(0, 5000);
  })(), false);
  relay.asked.length = 0;
  await downloadBlob(t, relay.http, up.ref.blob, up.blobSize, part, NO_PROGRESS);
  assert.deepEqual(relay.asked, ['GET /v1/blobs/blob-1 from 5000']);
  assert.deepEqual(await all(openBlob(part.read(), up.ref)), bytes);

  const liar = memoryRelay((b) => ({ status: 200, headers: {}, body: new Uint8Array([...b, ...b.subarray(0, 10)]) }));
  const up2 = await uploadFile(t, liar.http, bytesSource('b.bin', bytes), ['bob'], systemRandom(), NO_PROGRESS);
  await assert.rejects(downloadBlob(t, liar.http, up2.ref.blob, up2.blobSize, memoryPart(), NO_PROGRESS), (e: any) => e.code === 'integrity' && /sent more than/.test(e.message));
});

test('a blob altered on the relay does not open, and a source that yields another size is refused', async () => {
  const flip = memoryRelay((b) => {
    const c = b.slice();
    c[c.length - 3]! ^= 1;
    return { status: 200, headers: {}, body: c };
  });
  const bytes = systemRandom()(5000);
  const up = await uploadFile(t, flip.http, bytesSource('c.txt', bytes), ['bob'], systemRandom(), NO_PROGRESS);
  const part = memoryPart();
  await downloadBlob(t, flip.http, up.ref.blob, up.blobSize, part, NO_PROGRESS);
  await assert.rejects(all(openBlob(part.read(), up.ref)), (e: any) => e.code === 'integrity');

  const short = { ...bytesSource('d.txt', bytes), size: bytes.length + 1 };
  await assert.rejects(uploadFile(t, memoryRelay().http, short, ['bob'], systemRandom(), NO_PROGRESS), (e: any) => e.code === 'file_changed');
});
