// One-time prekeys are handed out at most once, atomically, even when 100 fetches race each other
// from two processes writing one database file: a relay process answering HTTP fetches, and this
// test process taking bundles straight from the store on the same file (the way a second node on
// shared storage, or the admin tool, writes beside the relay). Two relays on one file are refused
// (test/faults.test.ts), so the second writer is not a relay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../relay/store/index.js';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, RelayWs, makeBundle } from './util/relay-client.js';
import { RELAY_TEST_ARGS, within } from './util/fault.js';

const ONE_TIME_KEYS = 50;
const FETCHES = 100;

test('100 concurrent bundle fetches against 50 one-time prekeys hand out 50 distinct keys and then none', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-prekeys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  const relayA = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  t.after(() => relayA.stop());
  const second = openSqliteStore(db);
  t.after(() => second.close());

  const bob = new RelayHttp(relayA.url);
  const bobToken = await bob.signup('bob');
  const bundle = await makeBundle({ oneTimePreKeys: ONE_TIME_KEYS, firstId: 1 });
  const put = await bob.putKeys(bundle.body);
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal(put.body.oneTimePreKeys, ONE_TIME_KEYS);
  const published = new Map<number, string>(bundle.body.oneTimePreKeys.map((k: { id: number; publicKey: string }) => [k.id, k.publicKey]));
  const bobWs = await RelayWs.connect(relayA.wsUrl, bobToken);
  t.after(() => bobWs.terminate());
  await bobWs.next('hello');

  const fetchers: { token: string }[] = [];
  for (let i = 0; i < 5; i++) fetchers.push({ token: await new RelayHttp(relayA.url).signup(`fetcher${i}`) });

  // Half the fetches over HTTP to the relay process, in flight together...
  const overHttp = Promise.all(
    Array.from({ length: FETCHES / 2 }, async (_, i) => {
      const res = await fetch(`${relayA.url}/v1/keys/bob`, { headers: { authorization: `Bearer ${fetchers[i % fetchers.length]!.token}` } });
      return { status: res.status, body: (await res.json()) as any };
    }),
  );
  // ...and half from this process, on its own connection to the file, while those run.
  const direct: { status: number; body: any }[] = [];
  for (let i = 0; i < FETCHES / 2; i++) {
    const b = (await second.takeBundles('bob'))!;
    const key = (u: Uint8Array): string => Buffer.from(u).toString('base64url');
    direct.push({
      status: 200,
      body: {
        devices: b.map((d) => ({
          identity: { dhPublic: key(d.identity.dhPublic), signPublic: key(d.identity.signPublic), signature: key(d.identity.signature) },
          signedPreKey: { id: d.signedPreKey.id, createdAt: d.signedPreKey.createdAt, publicKey: key(d.signedPreKey.publicKey), signature: key(d.signedPreKey.signature) },
          oneTimePreKey: d.oneTimePreKey && { id: d.oneTimePreKey.id, publicKey: key(d.oneTimePreKey.publicKey) },
        })),
      },
    });
    await new Promise((r) => setImmediate(r));
  }
  const results = [...(await within(overHttp, 30_000, `${FETCHES / 2} concurrent fetches`)), ...direct];

  const handedOut: number[] = [];
  let without = 0;
  for (const r of results) {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.devices.length, 1);
    const d = r.body.devices[0];
    assert.deepEqual(d.identity, bundle.body.identity);
    assert.deepEqual(d.signedPreKey, bundle.body.signedPreKey);
    if (d.oneTimePreKey === null) {
      without++;
      continue;
    }
    handedOut.push(d.oneTimePreKey.id);
    assert.equal(d.oneTimePreKey.publicKey, published.get(d.oneTimePreKey.id), `key ${d.oneTimePreKey.id} is the one bob published`);
  }
  const distinct = new Set(handedOut);
  assert.equal(distinct.size, handedOut.length, `a one-time prekey was handed out twice: ${handedOut.sort((a, b) => a - b).join(',')}`);
  assert.equal(handedOut.length, ONE_TIME_KEYS, 'every one-time prekey was handed out');
  assert.equal(without, FETCHES - ONE_TIME_KEYS, 'the other fetches got a bundle without one');
  assert.deepEqual([...distinct].sort((a, b) => a - b), [...published.keys()].sort((a, b) => a - b));

  const count = await bob.request('GET', '/v1/keys/count');
  assert.deepEqual(count.body, { oneTimePreKeys: 0 });
  // Bob (connected to relay A) heard that he is running low.
  const low = await bobWs.next('prekeys_low');
  assert.ok(low.oneTimePreKeys < ONE_TIME_KEYS);
});
