import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRelay } from '../testkit.js';
import { Blobs } from '../blobs/index.js';

async function setup(t: { after: (f: () => void) => void }, opts: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-blobtest-'));
  const r = await testRelay({ blobDir: join(dir, 'blobs'), ...opts });
  t.after(() => {
    r.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const alice = await r.signup('alice');
  const bob = await r.signup('bob');
  const carol = await r.signup('carol');
  const upload = (token: string, body: Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string>, query = '?to=bob') =>
    r.app.request(`/v1/blobs${query}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, ...headers }, body, duplex: 'half' } as RequestInit);
  const get = (token: string, id: string, headers: Record<string, string> = {}) =>
    r.app.request(`/v1/blobs/${id}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const del = (token: string, id: string) => r.app.request(`/v1/blobs/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  return { ...r, dir: join(dir, 'blobs'), alice, bob, carol, upload, get, del };
}

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);

/** A body that yields `n` bytes in pieces, then optionally errors (a connection that breaks). */
function streamOf(n: number, fail = false): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= n) {
        if (fail) c.error(new Error('connection reset'));
        else c.close();
        return;
      }
      const k = Math.min(1000, n - sent);
      c.enqueue(bytes(k));
      sent += k;
    },
  });
}

test('an uploaded blob is a file in the blob directory and streams back whole to its owner and recipients only', async (t) => {
  const r = await setup(t);
  const res = await r.upload(r.alice, bytes(5000), { 'content-length': '5000' });
  assert.equal(res.status, 201);
  const { id, size, expiresAt } = (await res.json()) as { id: string; size: number; expiresAt: string };
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(size, 5000);
  assert.ok(Date.parse(expiresAt) > Date.now());
  assert.deepEqual(readdirSync(r.dir), [id]);
  assert.deepEqual(new Uint8Array(readFileSync(join(r.dir, id))), bytes(5000));
  for (const who of [r.alice, r.bob]) {
    const g = await r.get(who, id);
    assert.equal(g.status, 200);
    assert.equal(g.headers.get('content-length'), '5000');
    assert.equal(g.headers.get('accept-ranges'), 'bytes');
    assert.deepEqual(new Uint8Array(await g.arrayBuffer()), bytes(5000));
  }
  const stranger = await r.get(r.carol, id);
  assert.equal(stranger.status, 404);
  assert.equal(((await stranger.json()) as any).error.code, 'not_found');
  assert.equal((await r.get(r.bob, 'A'.repeat(22))).status, 404);
});

test('a Range request resumes a download from any offset; a range outside the blob is 416', async (t) => {
  const r = await setup(t);
  const { id } = (await (await r.upload(r.alice, bytes(3000), { 'content-length': '3000' })).json()) as { id: string };
  const g = await r.get(r.bob, id, { range: 'bytes=1000-' });
  assert.equal(g.status, 206);
  assert.equal(g.headers.get('content-range'), 'bytes 1000-2999/3000');
  assert.deepEqual(new Uint8Array(await g.arrayBuffer()), bytes(3000).subarray(1000));
  const mid = await r.get(r.bob, id, { range: 'bytes=10-19' });
  assert.deepEqual(new Uint8Array(await mid.arrayBuffer()), bytes(3000).subarray(10, 20));
  const bad = await r.get(r.bob, id, { range: 'bytes=3000-' });
  assert.equal(bad.status, 416);
  assert.equal(((await bad.json()) as any).error.code, 'range_not_satisfiable');
  assert.equal((await r.get(r.bob, id, { range: 'bytes=0-1,5-6' })).status, 416);
});

test('an upload without Content-Length, over the size cap, or to nobody is refused and stores nothing', async (t) => {
  const r = await setup(t, { maxBlobBytes: 10_000 });
  const noLength = await r.upload(r.alice, streamOf(100), {});
  assert.equal(noLength.status, 411);
  assert.equal(((await noLength.json()) as any).error.code, 'length_required');
  const big = await r.upload(r.alice, streamOf(20_000), { 'content-length': '20000' });
  assert.equal(big.status, 413);
  assert.equal(((await big.json()) as any).error.code, 'payload_too_large');
  assert.equal((await r.upload(r.alice, bytes(10), { 'content-length': '10' }, '')).status, 400);
  const unknown = await r.upload(r.alice, bytes(10), { 'content-length': '10' }, '?to=nobody_here');
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as any).error.code, 'unknown_user');
  assert.deepEqual(readdirSync(r.dir), []);
});

test('a body shorter or longer than declared, or one that breaks off, leaves no file behind', async (t) => {
  const r = await setup(t);
  const short = await r.upload(r.alice, streamOf(900), { 'content-length': '1000' });
  assert.equal(short.status, 400);
  const long = await r.upload(r.alice, streamOf(1100), { 'content-length': '1000' });
  assert.equal(long.status, 400);
  const broken = await r.upload(r.alice, streamOf(5000, true), { 'content-length': '10000' });
  assert.ok(broken.status >= 400);
  assert.deepEqual(readdirSync(r.dir), []);
  assert.equal(await r.ctx.store.blobs.usage('alice'), 0);
});

test('the per-user quota counts stored and in-flight blobs and refuses with quota_exceeded', async (t) => {
  const r = await setup(t, { blobQuotaBytes: 10_000 });
  assert.equal((await r.upload(r.alice, bytes(6000), { 'content-length': '6000' })).status, 201);
  const over = await r.upload(r.alice, bytes(5000), { 'content-length': '5000' });
  assert.equal(over.status, 507);
  assert.equal(((await over.json()) as any).error.code, 'quota_exceeded');
  assert.equal((await r.upload(r.bob, bytes(5000), { 'content-length': '5000' }, '?to=alice')).status, 201, 'quota is per user');
  const release = await r.ctx.blobs.reserve('carol', 8000); // an upload in flight
  await assert.rejects(r.ctx.blobs.reserve('carol', 3000), (e: any) => e.code === 'quota_exceeded');
  release();
  (await r.ctx.blobs.reserve('carol', 3000))();
});

test('the blob is deleted when the last recipient acknowledges it, or at once by its owner', async (t) => {
  const r = await setup(t);
  const { id } = (await (await r.upload(r.alice, bytes(100), { 'content-length': '100' }, '?to=bob,carol')).json()) as { id: string };
  assert.equal((await r.del(r.bob, id)).status, 204);
  assert.ok(existsSync(join(r.dir, id)), 'carol has not fetched it yet');
  assert.equal((await r.get(r.bob, id)).status, 404, 'an acknowledged recipient cannot fetch it again');
  assert.equal((await r.del(r.carol, id)).status, 204);
  assert.ok(!existsSync(join(r.dir, id)));
  assert.equal((await r.get(r.alice, id)).status, 404);

  const second = (await (await r.upload(r.alice, bytes(100), { 'content-length': '100' })).json()) as { id: string };
  assert.equal((await r.del(r.carol, second.id)).status, 404, 'a stranger cannot delete it');
  assert.equal((await r.del(r.alice, second.id)).status, 204);
  assert.deepEqual(readdirSync(r.dir), []);
});

test('expired blobs, unfinished .part files and files without a row are swept', async (t) => {
  const r = await setup(t, { blobTtlMs: 60_000 });
  const { id } = (await (await r.upload(r.alice, bytes(100), { 'content-length': '100' })).json()) as { id: string };
  const keep = (await (await r.upload(r.alice, bytes(100), { 'content-length': '100' })).json()) as { id: string };
  writeFileSync(join(r.dir, 'B'.repeat(22) + '.part'), 'half an upload');
  writeFileSync(join(r.dir, 'C'.repeat(22)), 'a file whose row is gone');
  writeFileSync(join(r.dir, 'README'), 'not ours');
  await r.ctx.store.blobs.delete(keep.id); // as if the account was deleted (cascade)
  assert.equal(await r.ctx.blobs.sweep(Date.now() + 61_000), 1);
  assert.deepEqual(readdirSync(r.dir), ['README']);
  assert.equal(await r.ctx.store.blobs.get(id), undefined);

  // At start-up too (startRelay runs it): a relay restarted after a crash mid-upload.
  writeFileSync(join(r.dir, 'D'.repeat(22) + '.part'), 'crash');
  await new Blobs(r.ctx.cfg, r.ctx.store.blobs, r.ctx.log, Date.now).collectGarbage();
  assert.deepEqual(readdirSync(r.dir), ['README']);
});
