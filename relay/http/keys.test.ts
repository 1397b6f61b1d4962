import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testRelay } from '../testkit.js';
import { makeBundle } from '../../test/util/relay-client.js';

test('publishes a bundle with valid signatures and hands each one-time prekey out at most once', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  const bob = await r.signup('bob');
  const alice = await r.signup('alice');
  const { body } = await makeBundle({ oneTimePreKeys: 3 });
  const put = await r.call('PUT', '/v1/keys', body, bob);
  assert.equal(put.status, 200);
  assert.deepEqual(put.body, { oneTimePreKeys: 3 });
  const seen: (number | null)[] = [];
  for (let i = 0; i < 4; i++) {
    const f = await r.call('GET', '/v1/keys/BOB', undefined, alice);
    assert.equal(f.status, 200);
    assert.equal(f.body.username, 'bob');
    assert.equal(f.body.devices.length, 1);
    const d = f.body.devices[0];
    assert.equal(d.deviceId, 1);
    assert.deepEqual(d.identity, body.identity);
    assert.deepEqual(d.signedPreKey, body.signedPreKey);
    seen.push(d.oneTimePreKey?.id ?? null);
    if (d.oneTimePreKey) assert.deepEqual(d.oneTimePreKey, body.oneTimePreKeys.find((k: any) => k.id === d.oneTimePreKey.id));
  }
  assert.deepEqual(seen, [1, 2, 3, null]);
  assert.deepEqual((await r.call('GET', '/v1/keys/count', undefined, bob)).body, { oneTimePreKeys: 0 });
});

test('100 concurrent fetches against 50 one-time prekeys hand out 50 distinct keys and 50 bundles without one', async (t) => {
  // Atomicity is under test here, not the fetch limits (test/relay-prekey-drain.test.ts has those).
  const r = await testRelay({ rateLimitBundlesPerTarget: { burst: 1000, perHour: 1000 } });
  t.after(r.close);
  const bob = await r.signup('bob');
  const alice = await r.signup('alice');
  const { body } = await makeBundle({ oneTimePreKeys: 50 });
  await r.call('PUT', '/v1/keys', body, bob);
  const res = await Promise.all(Array.from({ length: 100 }, () => r.call('GET', '/v1/keys/bob', undefined, alice)));
  const ids = res.map((x) => x.body.devices[0].oneTimePreKey?.id).filter((x) => x !== undefined);
  assert.equal(ids.length, 50);
  assert.equal(new Set(ids).size, 50);
});

test('refuses a bundle whose identity or signed-prekey signature does not verify with bad_signature', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  const bob = await r.signup('bob');
  const { body } = await makeBundle({ oneTimePreKeys: 1 });
  const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
  const badId = { ...body, identity: { ...body.identity, signature: flip(body.identity.signature) } };
  const badSpk = { ...body, signedPreKey: { ...body.signedPreKey, signature: flip(body.signedPreKey.signature) } };
  const otherSpk = { ...body, signedPreKey: (await makeBundle({ oneTimePreKeys: 0 })).body.signedPreKey };
  for (const b of [badId, badSpk, otherSpk]) {
    const res = await r.call('PUT', '/v1/keys', b, bob);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'bad_signature');
  }
  assert.equal(await r.ctx.store.hasBundle('bob', 1), false);
});

test('refuses keys of the wrong size, bad base64url or extra fields with bad_request', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  const bob = await r.signup('bob');
  const { body } = await makeBundle({ oneTimePreKeys: 1 });
  const cases = [
    { ...body, identity: { ...body.identity, dhPublic: body.identity.dhPublic.slice(0, 40) } },
    { ...body, oneTimePreKeys: [{ id: 1, publicKey: 'not base64url!' }] },
    { ...body, oneTimePreKeys: [{ id: 1, publicKey: body.oneTimePreKeys[0].publicKey, extra: true }] },
    { ...body, signedPreKey: { ...body.signedPreKey, id: -1 } },
    { ...body, oneTimePreKeys: 'nope' },
  ];
  for (const c of cases) {
    const res = await r.call('PUT', '/v1/keys', c, bob);
    assert.equal(res.status, 400, JSON.stringify(c).slice(0, 80));
    assert.equal(res.body.error.code, 'bad_request');
  }
});

test('tops up one-time prekeys, refuses more than the per-device cap, and rotates the signed prekey only with a valid signature', async (t) => {
  const r = await testRelay({ maxOneTimePreKeys: 5 });
  t.after(r.close);
  const bob = await r.signup('bob');
  const kb = await makeBundle({ oneTimePreKeys: 2 });
  await r.call('PUT', '/v1/keys', kb.body, bob);
  const more = (await makeBundle({ oneTimePreKeys: 2, firstId: 10 })).body.oneTimePreKeys;
  assert.deepEqual((await r.call('POST', '/v1/keys/one-time', { oneTimePreKeys: more }, bob)).body, { oneTimePreKeys: 4 });
  const tooMany = (await makeBundle({ oneTimePreKeys: 2, firstId: 20 })).body.oneTimePreKeys;
  const refused = await r.call('POST', '/v1/keys/one-time', { oneTimePreKeys: tooMany }, bob);
  assert.equal(refused.status, 400);
  assert.deepEqual((await r.call('GET', '/v1/keys/count', undefined, bob)).body, { oneTimePreKeys: 4 });

  const foreign = (await makeBundle({ oneTimePreKeys: 0 })).body.signedPreKey;
  assert.equal((await r.call('PUT', '/v1/keys/signed', { signedPreKey: foreign }, bob)).body.error.code, 'bad_signature');
  const { generateSignedPreKey } = await import('../../crypto/prekeys.js');
  const { systemRandom } = await import('../../crypto/sodium.js');
  const { toBase64url } = await import('../../crypto/encoding.js');
  const spk = generateSignedPreKey(kb.identity, 2, Date.now(), systemRandom());
  const json = { id: spk.id, createdAt: spk.createdAt, publicKey: toBase64url(spk.keyPair.publicKey), signature: toBase64url(spk.signature) };
  assert.equal((await r.call('PUT', '/v1/keys/signed', { signedPreKey: json }, bob)).status, 200);
  const alice = await r.signup('alice');
  assert.deepEqual((await r.call('GET', '/v1/keys/bob', undefined, alice)).body.devices[0].signedPreKey, json);
});

test('fetching an unknown user is 404 unknown_user; a user without a bundle has no devices', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  const alice = await r.signup('alice');
  await r.signup('nokeys');
  const res = await r.call('GET', '/v1/keys/ghost', undefined, alice);
  assert.equal(res.status, 404);
  assert.equal(res.body.error.code, 'unknown_user');
  assert.deepEqual((await r.call('GET', '/v1/keys/nokeys', undefined, alice)).body, { username: 'nokeys', devices: [] });
});

test('tells the owner on the bus when a fetch leaves fewer one-time prekeys than the threshold', async (t) => {
  const r = await testRelay({ preKeysLowThreshold: 2 });
  t.after(r.close);
  const bob = await r.signup('bob');
  const alice = await r.signup('alice');
  await r.call('PUT', '/v1/keys', (await makeBundle({ oneTimePreKeys: 3 })).body, bob);
  const events: any[] = [];
  r.ctx.bus.subscribe((e) => events.push(e));
  await r.call('GET', '/v1/keys/bob', undefined, alice);
  assert.deepEqual(events, []);
  await r.call('GET', '/v1/keys/bob', undefined, alice);
  assert.deepEqual(events, [{ kind: 'prekeys_low', user: 'bob', device: 1, count: 1 }]);
});

test('an identity lookup returns every device identity and consumes no one-time prekey', async (t) => {
  const r = await testRelay();
  t.after(r.close);
  const bob = await r.signup('bob');
  const alice = await r.signup('alice');
  const { body } = await makeBundle({ oneTimePreKeys: 2 });
  await r.call('PUT', '/v1/keys', body, bob);
  for (let i = 0; i < 3; i++) {
    const f = await r.call('GET', '/v1/keys/Bob/identity', undefined, alice);
    assert.equal(f.status, 200);
    assert.deepEqual(f.body, { username: 'bob', devices: [{ deviceId: 1, identity: body.identity }] });
  }
  assert.deepEqual((await r.call('GET', '/v1/keys/count', undefined, bob)).body, { oneTimePreKeys: 2 });
  const unknown = await r.call('GET', '/v1/keys/nobody/identity', undefined, alice);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'unknown_user');
  assert.equal((await r.call('GET', '/v1/keys/bob/identity')).status, 401);
});
