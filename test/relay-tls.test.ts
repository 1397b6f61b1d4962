// `fastchat relay cert` makes a usable self-signed certificate (key 0600), and `relay start` with
// it serves https and wss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { FASTCHAT_BIN } from './util/paths.js';
import { startRelayProcess } from './util/relay-process.js';

test('relay cert writes a 0600 key and a certificate the relay then serves https and wss with', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-cert-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = JSON.parse(execFileSync(process.execPath, [FASTCHAT_BIN, 'relay', 'cert', '--host', '127.0.0.1', '--out', dir, '--json'], { encoding: 'utf8' }));
  assert.equal(statSync(out.key).mode & 0o777, 0o600);
  assert.match(out.fingerprint, /^[0-9A-F:]{95}$/);
  // A second run refuses to overwrite the key.
  assert.throws(() => execFileSync(process.execPath, [FASTCHAT_BIN, 'relay', 'cert', '--host', '127.0.0.1', '--out', dir], { stdio: 'pipe' }));

  const relay = await startRelayProcess({ args: ['--tls-cert', out.cert, '--tls-key', out.key] });
  t.after(() => relay.stop());
  assert.match(relay.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const ca = readFileSync(out.cert);
  const body = await new Promise<string>((resolve, reject) => {
    get(`${relay.url}/healthz`, { ca }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => resolve(s));
    }).on('error', reject);
  });
  assert.equal(JSON.parse(body).ok, true);
  const ws = new WebSocket(relay.wsUrl, { ca });
  const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
  assert.equal(code, 4001); // reached the relay over TLS; no token
});
