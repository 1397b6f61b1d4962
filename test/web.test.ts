// The web client against a real relay process on 127.0.0.1: how the relay serves it (headers,
// content types, no path traversal, --no-web-client), and the page itself in headless Chromium
// (crypto/ in the browser reproduces docs/vectors, the vault, text rendering, the CSP in force).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { ROOT } from './util/paths.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { startBrowser, type BrowserHandle } from './util/browser.js';
import { RelayHttp } from './util/relay-client.js';
import { fingerprint, fromHex, parsePublicIdentity, sodiumReady } from '../crypto/index.js';

await sodiumReady();

// The callbacks given to page.evaluate run in Chromium; this Node program has no DOM types.
declare const window: any, document: any, MutationObserver: any, indexedDB: any, localStorage: any, sessionStorage: any;
type IDBDatabase = any;

const CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; connect-src 'self'; " +
  "img-src 'self' blob: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

let relay: RelayProcess;
let chromium: BrowserHandle;

before(async () => {
  [relay, chromium] = await Promise.all([startRelayProcess(), startBrowser()]);
});
after(async () => {
  await Promise.all([relay?.stop(), chromium?.stop()]);
});

/** A raw GET: node:http sends the path as given (fetch() would normalise `..` away first). */
function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function openPage(t: { after(fn: () => Promise<void>): void; diagnostic(m: string): void }): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await chromium.browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const started = Date.now();
  await page.goto(relay.url);
  await page.waitForSelector('#status[data-state="ready"]');
  // First load with an empty cache: the page fetched, libsodium compiled, IndexedDB asked.
  t.diagnostic(`first load to ready: ${Date.now() - started} ms`);
  return { context, page, errors };
}

/** Types the passphrase and submits; records every status the page shows meanwhile. */
async function submitPassphrase(page: Page, passphrase: string): Promise<{ state: string; text: string }[]> {
  await page.evaluate(() => {
    const w = window;
    w.statuses = [];
    const el = document.getElementById('status')!;
    new MutationObserver(() => w.statuses.push({ state: el.dataset.state ?? '', text: el.textContent ?? '' })).observe(el, { attributes: true, childList: true, characterData: true, subtree: true });
  });
  await page.fill('#passphrase', passphrase);
  await page.click('#unlock-button');
  // Done when the page has shown a new ready or error status (the one before the click does not count).
  await page.waitForFunction(() => window.statuses.some((s: { state: string }) => s.state === 'ready' || s.state === 'error'), undefined, { timeout: 30_000 });
  return page.evaluate(() => window.statuses);
}

/**
 * Loads the test-only bundle (dist/web-test/hooks.js) into the page. The relay never serves it: the
 * browser asks the page's own origin (so script-src 'self' allows it) and this route answers.
 */
async function loadHooks(page: Page): Promise<void> {
  await page.route('**/__test__/hooks.js', (route) => route.fulfill({ contentType: 'text/javascript', body: readFileSync(join(ROOT, 'dist/web-test/hooks.js'), 'utf8') }));
  await page.addScriptTag({ url: '/__test__/hooks.js' });
}

// The checks share one relay and one browser and are independent of each other (each page has a
// browser context of its own): run together, the file takes about its slowest check, not the sum.
describe('the web client served by a relay process, in Chromium', { concurrency: true }, () => {
  test('the relay serves the web client with the exact CSP, nosniff, no-referrer and the right content types', async () => {
    const types: Record<string, string> = {
      '/': 'text/html; charset=utf-8',
      '/index.html': 'text/html; charset=utf-8',
      '/app.js': 'text/javascript; charset=utf-8',
      '/kdf-worker.js': 'text/javascript; charset=utf-8',
      '/style.css': 'text/css; charset=utf-8',
    };
    for (const [path, type] of Object.entries(types)) {
      const res = await fetch(relay.url + path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-security-policy'), CSP, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
      assert.equal(res.headers.get('content-type'), type, path);
      const body = new Uint8Array(await res.arrayBuffer());
      assert.deepEqual(body, new Uint8Array(readFileSync(join(ROOT, 'dist/web', path === '/' ? 'index.html' : path.slice(1)))), path);
    }
    const html = await (await fetch(relay.url)).text();
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]|\son[a-z]+=/i, 'no inline script or handler in the page');
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, 'nothing from another origin');
    const again = await fetch(`${relay.url}/app.js`, { headers: { 'If-None-Match': (await fetch(`${relay.url}/app.js`)).headers.get('etag')! } });
    assert.equal(again.status, 304);
  });

  test('no request reaches a file outside the web directory (path traversal)', async () => {
    const attempts = [
      '/../package.json', '/../../package.json', '/../../../etc/passwd',
      '/%2e%2e/%2e%2e/package.json', '/%2E%2E/%2E%2E/package.json', '/..%2f..%2fpackage.json', '/%2e%2e%2f%2e%2e%2fpackage.json',
      '/app.js/../../../package.json', '/..%5c..%5cpackage.json', '/..\\..\\package.json', '//etc/passwd', '/%2fetc%2fpasswd',
      '/index.html%00.js', '/.%2e/.%2e/package.json', '/../web-test/hooks.js', '/%2e%2e/web-test/hooks.js',
    ];
    for (const path of attempts) {
      const res = await rawGet(relay.url, path);
      assert.ok(res.status === 404 || res.status === 400, `${path} answered ${res.status}`);
      assert.doesNotMatch(res.body, /"name": "fastchat"|root:x:0|fastchatTest/, `${path} leaked a file`);
    }
  });

  test('relay start --no-web-client serves the API only', async (t) => {
    const apiOnly = await startRelayProcess({ args: ['--no-web-client'] });
    t.after(() => apiOnly.stop());
    assert.equal((await fetch(apiOnly.url)).status, 404);
    assert.equal((await fetch(`${apiOnly.url}/app.js`)).status, 404);
    assert.equal((await fetch(`${apiOnly.url}/healthz`)).status, 200);
  });

  test('crypto/ running in Chromium regenerates every docs/vectors file byte for byte', async (t) => {
    const { page, errors } = await openPage(t);
    await loadHooks(page);
    const rendered: Record<string, string> = await page.evaluate(() => window.fastchatTest.renderVectors());
    const names = Object.keys(rendered);
    assert.ok(names.length >= 9, `only ${names.join(', ')}`);
    for (const name of names) assert.equal(rendered[name], readFileSync(join(ROOT, 'docs/vectors', `${name}.json`), 'utf8'), `docs/vectors/${name}.json differs in Chromium`);
    assert.deepEqual(errors, []);
  });

  test("the core's RelaySocket runs in Chromium over the browser's WebSocket: the token goes in the first frame, never the URL, and a bad one is refused", async (t) => {
    const { page, errors } = await openPage(t);
    await loadHooks(page);
    const http = new RelayHttp(relay.url);
    const token = await http.signup('webws');
    const sockets: { url: string; sent: string[] }[] = [];
    page.on('websocket', (ws) => {
      const s = { url: ws.url(), sent: [] as string[] };
      sockets.push(s);
      ws.on('framesent', (f) => s.sent.push(String(f.payload)));
    });
    const ok = await page.evaluate((tok) => window.fastchatTest.relaySocket(tok), token);
    assert.deepEqual(ok, { hello: { user: 'webws', device: 1 }, body: 'aGVsbG8' });
    assert.equal(sockets[0]!.url, `${relay.url.replace('http', 'ws')}/v1/ws`, 'nothing in the URL');
    assert.equal(sockets[0]!.sent[0], `{"type":"auth","token":"${token}"}`, 'the first frame is the auth frame, byte for byte');
    const refused = await page.evaluate(() => window.fastchatTest.relaySocket('A'.repeat(43)));
    assert.deepEqual(refused, { error: 'unauthorized' });
    assert.deepEqual(errors, []);
  });

  test('the vault refuses an empty passphrase, a second vault, a bad name, a moved or tampered blob, use after lock, and a planted header before argon2 runs', async (t) => {
    const { page } = await openPage(t);
    await loadHooks(page);
    const r: Record<string, string> = await page.evaluate(() => window.fastchatTest.vaultRefusals());
    const { hugeCostMs, ...codes } = r;
    assert.deepEqual(codes, {
      emptyPassphrase: 'bad_passphrase',
      openWithoutVault: 'no_vault',
      costBelowFloor: 'bad_vault',
      createOverExisting: 'vault_exists',
      badName: 'bad_name',
      movedBlob: 'bad_blob',
      tamperedBlob: 'bad_blob',
      honestBlob: '1,2,3',
      afterLock: 'locked',
      hugeCost: 'bad_vault',
      otherVersion: 'bad_vault',
    });
    // 4 GiB of argon2 would take seconds or fail for memory; refused from the header, it is instant.
    assert.ok(Number(hugeCostMs) < 1000, `the 4 GiB header took ${hugeCostMs} ms to refuse`);
  });

  test('the vault: argon2id in a worker with the page saying so, the fingerprint Node computes, a wrong passphrase refused, data kept across a reload, nothing readable in storage', async (t) => {
    const { page, errors } = await openPage(t);
    assert.equal(await page.textContent('#unlock-button'), 'Create vault');
    const statuses = await submitPassphrase(page, 'correct horse battery staple');
    assert.ok(statuses.some((s) => s.state === 'working' && /argon2id/.test(s.text)), `the page never said it was working: ${JSON.stringify(statuses)}`);
    await page.waitForSelector('#home:not([hidden])');

    const shownFingerprint = await page.textContent('#fingerprint');
    const publicHex = (await page.textContent('#identity-public'))!;
    assert.equal(shownFingerprint, fingerprint(parsePublicIdentity(fromHex(publicHex))), "the browser's fingerprint is not the one Node's crypto/ computes");

    const note = 'meet at the north gate 7:15';
    await page.fill('#note', note);
    await page.click('#note-save');
    await page.waitForSelector('#notes li');

    // Nothing secret outside IndexedDB, and nothing readable inside it.
    const stored = await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('fastchat-vault');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const all = await new Promise<unknown[]>((resolve) => {
        const r = db.transaction('blobs').objectStore('blobs').getAll();
        r.onsuccess = () => resolve(r.result);
      });
      db.close();
      return { local: localStorage.length, session: sessionStorage.length, cookies: document.cookie, blobs: all.map((b) => Array.from(b as Uint8Array)) };
    });
    assert.equal(stored.local, 0);
    assert.equal(stored.session, 0);
    assert.equal(stored.cookies, '');
    assert.equal(stored.blobs.length, 2);
    for (const b of stored.blobs) assert.equal(Buffer.from(b).indexOf(note), -1, 'the note is stored in the clear');

    await page.reload();
    await page.waitForSelector('#status[data-state="ready"]');
    assert.equal(await page.textContent('#unlock-button'), 'Unlock');
    await submitPassphrase(page, 'correct horse battery stapler');
    assert.equal(await page.getAttribute('#status', 'data-state'), 'error');
    assert.equal(await page.textContent('#status'), 'Wrong passphrase.');
    assert.equal(await page.isHidden('#home'), true);
    assert.equal(await page.textContent('#fingerprint'), '', 'nothing of the vault shown after a wrong passphrase');

    await submitPassphrase(page, 'correct horse battery staple');
    await page.waitForSelector('#home:not([hidden])');
    assert.equal(await page.textContent('#fingerprint'), shownFingerprint, 'the identity did not survive the reload');
    assert.deepEqual(await page.$$eval('#notes li', (els) => els.map((e) => e.textContent)), [note]);

    await page.click('#lock');
    await page.waitForSelector('#unlock:not([hidden])');
    assert.deepEqual(errors, []);
  });

  test('a note holding <script> and <img onerror> is shown as text, and the CSP stops inline script', async (t) => {
    const { page } = await openPage(t);
    await submitPassphrase(page, 'hunter2 hunter2');
    await page.waitForSelector('#home:not([hidden])');
    const hostile = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>`;
    await page.fill('#note', hostile);
    await page.click('#note-save');
    await page.waitForSelector('#notes li');
    assert.equal(await page.textContent('#notes li'), hostile);
    assert.equal(await page.locator('#notes img, #notes script, #notes b').count(), 0, 'the note was parsed as HTML');

    // An inline script and an inline handler, as an injection would add them: the CSP refuses both.
    const after = await page.evaluate(async () => {
      const violations: string[] = [];
      document.addEventListener('securitypolicyviolation', (e: { violatedDirective: string }) => violations.push(e.violatedDirective));
      const s = document.createElement('script');
      s.textContent = 'window.pwned = 3';
      document.body.append(s);
      const img = document.createElement('img');
      img.setAttribute('onerror', 'window.pwned = 4');
      img.src = 'data:,not-an-image';
      document.body.append(img);
      await new Promise((r) => setTimeout(r, 300));
      return { pwned: (window as unknown as { pwned?: number }).pwned ?? null, violations };
    });
    assert.equal(after.pwned, null, 'inline script ran');
    assert.ok(after.violations.some((v) => v.startsWith('script-src')), `no CSP violation reported: ${after.violations.join(', ')}`);
  });
});
