import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRelay } from '../testkit.js';

test('registers a user, case-folding the name, and refuses the same name in another case with 409', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  const a = await r.call('POST', '/v1/accounts', { username: 'Alice_1', password: 'password123' });
  assert.equal(a.status, 201);
  assert.deepEqual(a.body, { username: 'alice_1' });
  const b = await r.call('POST', '/v1/accounts', { username: 'ALICE_1', password: 'password456' });
  assert.equal(b.status, 409);
  assert.equal(b.body.error.code, 'username_taken');
});

test('refuses usernames outside [a-z0-9_]{3,32} with invalid_username', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  for (const username of ['ab', 'a'.repeat(33), 'bad-name', 'émile', 'sp ace', 'count']) {
    const res = await r.call('POST', '/v1/accounts', { username, password: 'password123' });
    assert.equal(res.status, 400, username);
    assert.equal(res.body.error.code, 'invalid_username', username);
  }
});

test('answers malformed and mistyped bodies with 400 bad_request in the error envelope', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  for (const body of ['{not json', JSON.stringify({ username: 5, password: 'password123' }), JSON.stringify({ username: 'abc' }), JSON.stringify({ username: 'abc', password: 'password123', extra: 1 }), '[]']) {
    const res = await r.call('POST', '/v1/accounts', body);
    assert.equal(res.status, 400, body);
    assert.equal(res.body.error.code, 'bad_request', body);
    assert.equal(typeof res.body.error.message, 'string');
  }
  const short = await r.call('POST', '/v1/accounts', { username: 'abcd', password: 'short' });
  assert.equal(short.body.error.code, 'bad_request');
});

test('refuses a body over the cap from its Content-Length and while streaming, with 413', async (t) => {
  const r = await testRelay({ maxBodyBytes: 1024 });
  t.after(r.close);
  const declared = await r.call('POST', '/v1/accounts', '{}', undefined, { 'content-length': '999999' });
  assert.equal(declared.status, 413);
  assert.equal(declared.body.error.code, 'payload_too_large');
  const big = JSON.stringify({ username: 'abcd', password: 'x'.repeat(5000) });
  const streamed = await r.app.request('/v1/accounts', {
    method: 'POST',
    body: new ReadableStream({
      start(c) {
        for (let i = 0; i < big.length; i += 100) c.enqueue(new TextEncoder().encode(big.slice(i, i + 100)));
        c.close();
      },
    }),
    duplex: 'half', // node's fetch needs it for stream bodies
  } as RequestInit);
  assert.equal(streamed.status, 413);
});

test('logs in with the right password only, and the token works until logout revokes it', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  await r.call('POST', '/v1/accounts', { username: 'bob', password: 'password123' });
  const bad = await r.call('POST', '/v1/sessions', { username: 'bob', password: 'wrong-password' });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.error.code, 'bad_credentials');
  const nobody = await r.call('POST', '/v1/sessions', { username: 'nobody', password: 'password123' });
  assert.equal(nobody.body.error.code, 'bad_credentials');
  const ok = await r.call('POST', '/v1/sessions', { username: 'BOB', password: 'password123', deviceId: 2 });
  assert.equal(ok.status, 200);
  assert.match(ok.body.token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(ok.body.username, 'bob');
  assert.equal(ok.body.deviceId, 2);
  assert.ok(Date.parse(ok.body.expiresAt) > Date.now());
  const token = ok.body.token as string;
  assert.equal((await r.call('GET', '/v1/keys/count', undefined, token)).status, 200);
  assert.equal((await r.call('DELETE', '/v1/sessions', undefined, token)).status, 204);
  const after = await r.call('GET', '/v1/keys/count', undefined, token);
  assert.equal(after.status, 401);
  assert.equal(after.body.error.code, 'unauthorized');
});

test('stores only a hash of the token and an argon2id hash of the password', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  const token = await r.signup('carol');
  const u = (await r.ctx.store.getUser('carol'))!;
  assert.match(u.passwordHash, /^\$argon2id\$/);
  assert.ok(!u.passwordHash.includes('password123'));
  const db = (r.ctx.store as any).db;
  const rows = db.prepare('SELECT token_hash FROM sessions').all();
  assert.equal(rows.length, 1);
  assert.notEqual(Buffer.from(rows[0].token_hash).toString(), token);
  assert.equal(rows[0].token_hash.length, 32);
});

test('a banned account cannot log in (403) and its existing token stops working at once', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  const token = await r.signup('dave');
  await r.ctx.store.setBanned('dave', Date.now());
  const used = await r.call('GET', '/v1/keys/count', undefined, token);
  assert.equal(used.status, 403);
  assert.equal(used.body.error.code, 'banned');
  const login = await r.call('POST', '/v1/sessions', { username: 'dave', password: 'password123' });
  assert.equal(login.status, 403);
});

test('rate-limits login attempts per account with 429 and Retry-After', async (t) => {
  const r = await testRelay({ rateLimitPerAccount: { burst: 3, perMinute: 1 }, rateLimitPerAddress: { burst: 100, perMinute: 100 } });
  t.after(r.close);
  await r.call('POST', '/v1/accounts', { username: 'erin', password: 'password123' });
  const codes: number[] = [];
  let last;
  for (let i = 0; i < 5; i++) {
    last = await r.call('POST', '/v1/sessions', { username: 'erin', password: 'wrong-password' });
    codes.push(last.status);
  }
  assert.deepEqual(codes, [401, 401, 401, 429, 429]);
  assert.equal(last!.body.error.code, 'rate_limited');
  assert.ok(Number(last!.headers.get('retry-after')) >= 1);
});

test('rate-limits registrations per client address', async (t) => {
  const r = await testRelay({ rateLimitPerAddress: { burst: 2, perMinute: 1 } });
  t.after(r.close);
  const s: number[] = [];
  for (const u of ['fa1', 'fa2', 'fa3']) s.push((await r.call('POST', '/v1/accounts', { username: u, password: 'password123' })).status);
  assert.deepEqual(s, [201, 201, 429]);
});

test('requests without a valid bearer token get 401 unauthorized; unknown routes get not_found', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  for (const token of [undefined, 'x', 'A'.repeat(43)]) {
    const res = await r.call('GET', '/v1/presence', undefined, token);
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, 'unauthorized');
  }
  const nf = await r.call('GET', '/v2/nothing');
  assert.equal(nf.status, 404);
  assert.equal(nf.body.error.code, 'not_found');
  const health = await r.call('GET', '/healthz');
  assert.equal(health.body.ok, true);
  assert.equal(health.body.relayId, r.ctx.store.relayId);
  const m = await r.call('GET', '/metrics');
  assert.match(m.body, /fastchat_ws_connections/);
});
