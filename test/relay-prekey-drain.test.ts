// A stranger account trying to empty a victim's one-time prekeys, against a real relay process
// with the default bundle-fetch limits (docs/RELAY.md: 6 per hour per requester and target; per
// requester a burst of 1,000 — one group of the largest size — then 200 an hour). Every bundle fetch hands out one of the victim's one-time prekeys, so
// without a limit a few dozen fetches empty the supply and the victim's next first messages lack
// the one-time prekey's forward secrecy. Over a limit the fetch is refused and hands out nothing.
import { test } from 'node:test';
import { MAX_GROUP_MEMBERS } from '../crypto/consts.js';
import assert from 'node:assert/strict';
import { startRelayProcess } from './util/relay-process.js';
import { RelayHttp, makeBundle } from './util/relay-client.js';

/** Logins only: the relay's bundle limits stay at their defaults. */
const LOGIN_ARGS = ['--rate-limit-address', '100000', '--rate-limit-account', '100000'];
const SUPPLY = 100;
const ATTEMPTS = 60;
const PER_TARGET_DEFAULT = 6;

test("a stranger account cannot drain a victim's one-time prekeys: fetches beyond the per-target limit are refused and hand out nothing", { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: LOGIN_ARGS });
  t.after(() => relay.stop());
  const victim = new RelayHttp(relay.url);
  await victim.signup('victim');
  const bundle = await makeBundle({ oneTimePreKeys: SUPPLY });
  assert.equal((await victim.putKeys(bundle.body)).status, 200);

  // The attacker uses two devices of its account: the limit is per account, not per device.
  const mallory1 = new RelayHttp(relay.url);
  await mallory1.signup('mallory', 'mallory password', 1);
  const mallory2 = new RelayHttp(relay.url);
  await mallory2.login('mallory', 'mallory password', 2);

  const handedOut = new Set<number>();
  const statuses: number[] = [];
  let refusal: { status: number; body: any; headers: Headers } | null = null;
  for (let i = 0; i < ATTEMPTS; i++) {
    const r = await (i % 2 === 0 ? mallory1 : mallory2).fetchKeys('victim');
    statuses.push(r.status);
    if (r.status === 200) {
      const k = r.body.devices[0].oneTimePreKey;
      if (k) handedOut.add(k.id);
    } else refusal ??= r;
  }
  assert.equal(handedOut.size, PER_TARGET_DEFAULT, `one-time prekeys handed to the attacker: ${handedOut.size}`);
  assert.deepEqual(statuses.slice(0, PER_TARGET_DEFAULT), new Array(PER_TARGET_DEFAULT).fill(200));
  assert.ok(statuses.slice(PER_TARGET_DEFAULT).every((s) => s === 429), `after the limit: ${statuses.slice(PER_TARGET_DEFAULT).join(',')}`);
  assert.equal(refusal!.body.error.code, 'rate_limited');
  assert.ok(Number(refusal!.headers.get('retry-after')) >= 1);
  assert.equal((await victim.request('GET', '/v1/keys/count')).body.oneTimePreKeys, SUPPLY - PER_TARGET_DEFAULT);

  // The identity lookup (consumes nothing) stays open to the attacker, and an honest first contact
  // still gets a one-time prekey: the limit is per (requester, target), not per target.
  assert.equal((await mallory1.request('GET', '/v1/keys/victim/identity')).status, 200);
  const alice = new RelayHttp(relay.url);
  await alice.signup('alice');
  const honest = await alice.fetchKeys('victim');
  assert.equal(honest.status, 200);
  assert.notEqual(honest.body.devices[0].oneTimePreKey, null);
});

test('one account fetching the bundles of many targets is stopped by the per-requester limit', { timeout: 60_000 }, async (t) => {
  const TOTAL = 10;
  const relay = await startRelayProcess({ args: [...LOGIN_ARGS, '--rate-limit-bundles', String(TOTAL), '--rate-limit-bundles-burst', String(TOTAL)] });
  t.after(() => relay.stop());
  const targets: string[] = [];
  for (let i = 0; i < TOTAL + 3; i++) {
    const v = new RelayHttp(relay.url);
    await v.signup(`target${i}`);
    assert.equal((await v.putKeys((await makeBundle({ oneTimePreKeys: 2 })).body)).status, 200);
    targets.push(`target${i}`);
  }
  const mallory = new RelayHttp(relay.url);
  await mallory.signup('mallory');
  const statuses: number[] = [];
  for (const name of targets) statuses.push((await mallory.fetchKeys(name)).status);
  assert.deepEqual(statuses, [...new Array(TOTAL).fill(200), 429, 429, 429]);
  // The refused targets kept both their keys.
  for (const name of targets.slice(TOTAL)) {
    const owner = new RelayHttp(relay.url);
    await owner.login(name, 'correct horse battery');
    assert.equal((await owner.request('GET', '/v1/keys/count')).body.oneTimePreKeys, 2, name);
  }
});

test('an admin with no sessions fetches one bundle per member to create a group of the largest size at once at the default limits, and a next group waits', { timeout: 240_000 }, async (t) => {
  const relay = await startRelayProcess({ args: LOGIN_ARGS });
  t.after(() => relay.stop());
  // The admin's MAX_GROUP_MEMBERS - 1 members, and one more (the first of a next group).
  const names = Array.from({ length: MAX_GROUP_MEMBERS }, (_, i) => `member${String(i).padStart(4, '0')}`);
  const registrar = new RelayHttp(relay.url);
  for (let i = 0; i < names.length; i += 16) {
    const statuses = await Promise.all(names.slice(i, i + 16).map(async (n) => (await registrar.register(n, 'correct horse battery')).status));
    assert.ok(statuses.every((s) => s === 201), `registrations: ${statuses.join(',')}`);
  }
  const someone = new RelayHttp(relay.url);
  await someone.login(names[0]!, 'correct horse battery');
  assert.equal((await someone.putKeys((await makeBundle({ oneTimePreKeys: 5 })).body)).status, 200);

  const admin = new RelayHttp(relay.url);
  await admin.signup('admin');
  const members = names.slice(0, MAX_GROUP_MEMBERS - 1);
  const statuses: number[] = [];
  for (const n of members) statuses.push((await admin.fetchKeys(n)).status);
  const refusedAt = statuses.findIndex((s) => s !== 200);
  assert.equal(refusedAt, -1, `refused after ${refusedAt} of ${members.length} fetches`);
  assert.equal((await someone.request('GET', '/v1/keys/count')).body.oneTimePreKeys, 4, 'the fetch handed out a one-time prekey');
  // The burst is one group: one fetch more, then one every 18 s (200 an hour), and the refusal says when.
  assert.equal((await admin.fetchKeys(names.at(-1)!)).status, 200);
  const next = await admin.fetchKeys(names[1]!);
  assert.equal(next.status, 429);
  assert.equal(next.body.error.code, 'rate_limited');
  const wait = Number(next.headers.get('retry-after'));
  assert.ok(wait >= 1 && wait <= 18, `retry-after ${wait}`);
});
