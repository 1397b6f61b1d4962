import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWebFiles, webRoutes, WEB_CSP } from './index.js';

function webDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-web-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(join(dir, 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, '.env'), 'SECRET=1');
  writeFileSync(join(dir, '.hidden.js'), 'x');
  writeFileSync(join(dir, 'relay.db'), 'not served: no content type for .db');
  writeFileSync(join(dir, 'evil name.js'), 'x');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'inner.js'), 'x');
  return dir;
}

test('loads only plain files of a known type at the top of the directory, and / as index.html', (t) => {
  const files = loadWebFiles(webDir(t))!;
  assert.deepEqual([...files.keys()].sort(), ['/', '/app.js', '/index.html']);
  assert.equal(files.get('/'), files.get('/index.html'));
});

test('a missing directory is null (the relay then serves the API only)', () => {
  assert.equal(loadWebFiles(join(tmpdir(), 'fastchat-web-does-not-exist')), null);
});

test('answers each file with its type and the web headers, 304 for a matching ETag, 404 for anything else', async (t) => {
  const app = webRoutes(loadWebFiles(webDir(t))!);
  const res = await app.request('/app.js');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(res.headers.get('content-security-policy'), WEB_CSP);
  assert.equal(await res.text(), 'console.log(1)');
  assert.equal((await app.request('/app.js', { headers: { 'If-None-Match': res.headers.get('etag')! } })).status, 304);
  for (const path of ['/.env', '/.hidden.js', '/relay.db', '/sub/inner.js', '/evil%20name.js', '/sub%2finner.js']) {
    assert.equal((await app.request(path)).status, 404, path);
  }
});
