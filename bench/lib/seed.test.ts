// The seeded accounts must be real ones to the relay: their tokens open a WebSocket, and their
// password logs in over HTTP (the bench would otherwise measure refusals).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startRelayProcess } from '../../test/util/relay-process.js';
import { seedAccounts } from './seed.js';
import { login } from './setup.js';

test('seeded accounts connect with their tokens and log in with the bench password at a relay on the same database', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-seed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  const tokens = await seedAccounts(db, ['seed_a', 'seed_b', 'seed_c']);
  assert.equal(new Set(tokens).size, 3);
  const relay = await startRelayProcess({ db });
  t.after(() => relay.stop());
  const firstFrame = (token: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(relay.wsUrl, { headers: { authorization: `Bearer ${token}` } });
      ws.once('message', (d) => {
        ws.terminate();
        resolve(String(d));
      });
      ws.once('unexpected-response', (_r, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  assert.match(await firstFrame(tokens[2]!), /^\{"type":"hello"/);
  assert.match(await firstFrame(tokens[0]!), /^\{"type":"hello"/);
  assert.match(await login(relay.url, 'seed_b'), /^[A-Za-z0-9_-]+$/);
  // The check can fail: a token the seed did not store is refused.
  assert.match(await firstFrame(`${tokens[1]!.slice(0, -2)}AA`), /"code":"unauthorized"/);
});
