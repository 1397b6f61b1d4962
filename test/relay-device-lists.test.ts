// Signed device lists on a real relay process (docs/RELAY.md "Device lists"): a chain uploaded
// version by version by the account's devices and read back with since=, and what the relay
// refuses to store whoever asks: another account's list, a list that does not follow the stored
// one, two lists of one version, more devices than --max-devices.
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { toBase64url } from '../crypto/encoding.js';
import { deviceListHash, firstDeviceList, parseDeviceList } from '../crypto/device-list.js';
import { startRelayProcess } from './util/relay-process.js';
import { makeBundle, RelayHttp, RelayWs } from './util/relay-client.js';
import { fakeTimeEnv, RELAY_TEST_ARGS } from './util/fault.js';
import { chain, device, forged } from './util/device-lists.js';

const PASSWORD = 'correct horse battery';
const put = (h: RelayHttp, bytes: Uint8Array) => h.request('PUT', '/v1/devices', { list: toBase64url(bytes) });

test('a chain of device lists is stored version by version and read back after any version, a page at a time', { timeout: 120_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--max-devices', '3'] });
  t.after(() => relay.stop());
  const alice = new RelayHttp(relay.url);
  await alice.signup('alice', PASSWORD, 1);
  const bob = new RelayHttp(relay.url);
  await bob.signup('bob');
  const a = await chain('alice', 70);
  for (const [i, l] of a.lists.entries()) {
    const r = await put(alice, l.bytes);
    assert.deepEqual([r.status, r.body], [200, { version: i + 1, duplicate: false }], `version ${i + 1}`);
  }
  // A retried upload of the newest list is stored once.
  assert.deepEqual((await put(alice, a.lists[69]!.bytes)).body, { version: 70, duplicate: true });

  const read = async (since?: number) => {
    const r = await bob.request('GET', `/v1/devices/ALICE${since === undefined ? '' : `?since=${since}`}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { username: string; lists: { version: number; list: string }[]; more: boolean };
  };
  const first = await read();
  assert.equal(first.username, 'alice');
  assert.deepEqual(first.lists.map((l) => l.version), Array.from({ length: 64 }, (_, i) => i + 1));
  assert.equal(first.more, true);
  const rest = await read(64);
  assert.deepEqual(rest.lists, a.lists.slice(64).map((l, i) => ({ version: 65 + i, list: toBase64url(l.bytes) })));
  assert.equal(rest.more, false);
  assert.deepEqual(await read(70), { username: 'alice', lists: [], more: false });
  assert.deepEqual(first.lists[0], { version: 1, list: toBase64url(a.lists[0]!.bytes) });

  assert.equal((await bob.request('GET', '/v1/devices/alice', undefined, { token: null })).status, 401);
  assert.equal((await bob.request('GET', '/v1/devices/nobody')).body.error.code, 'unknown_user');
  assert.equal((await bob.request('GET', '/v1/devices/alice?since=-1')).body.error.code, 'bad_request');
  assert.deepEqual((await read(0)).lists.length, 64);
});

test('a stranger account cannot store a device list for another account, not even one the account signed', { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: RELAY_TEST_ARGS });
  t.after(() => relay.stop());
  const alice = new RelayHttp(relay.url);
  await alice.signup('alice', PASSWORD, 1);
  const mallory = new RelayHttp(relay.url);
  await mallory.signup('mallory');
  const a = await chain('alice', 2);
  const m = await chain('alice', 1); // mallory's own key, in alice's name
  // Before alice has any list, and after: neither alice's real lists nor one under mallory's key.
  for (const bytes of [a.lists[0]!.bytes, m.lists[0]!.bytes]) {
    const r = await put(mallory, bytes);
    assert.deepEqual([r.status, r.body.error?.code], [400, 'bad_device_list']);
  }
  assert.equal((await put(alice, a.lists[0]!.bytes)).status, 200);
  for (const bytes of [a.lists[1]!.bytes, forged(m.key, { user: 'alice', version: 2, prevHash: deviceListHash(a.lists[0]!.list), devices: [...a.lists[0]!.list.devices, device(2)] })]) {
    const r = await put(mallory, bytes);
    assert.deepEqual([r.status, r.body.error?.code], [400, 'bad_device_list']);
  }
  const lists = (await mallory.request('GET', '/v1/devices/alice')).body.lists as unknown[];
  assert.deepEqual(lists, [{ version: 1, list: toBase64url(a.lists[0]!.bytes) }]);
  assert.deepEqual((await mallory.request('GET', '/v1/devices/mallory')).body.lists, []);
});

test("the account's own devices: a list not following the stored one, two of one version at once, and more devices than --max-devices are refused", { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--max-devices', '3'] });
  t.after(() => relay.stop());
  const d1 = new RelayHttp(relay.url);
  await d1.signup('alice', PASSWORD, 1);
  const d2 = new RelayHttp(relay.url);
  await d2.login('alice', PASSWORD, 2);
  const a = await chain('alice', 1, 2);
  assert.equal((await put(d1, a.lists[0]!.bytes)).status, 200);
  const v1 = a.lists[0]!.list;
  const next = (devices = [...v1.devices, device(3)], prevHash = deviceListHash(v1)) => forged(a.key, { user: 'alice', version: 2, prevHash, devices });

  const wrongPrev = await put(d1, next(undefined, new Uint8Array(32).fill(7)));
  assert.deepEqual([wrongPrev.status, wrongPrev.body.error?.code], [400, 'bad_device_list']);
  const tooMany = await put(d1, next([...v1.devices, device(3), device(4)]));
  assert.deepEqual([tooMany.status, tooMany.body.error?.code], [403, 'too_many_devices']);
  const withoutMe = await put(d2, next([v1.devices[0]!, device(3)]));
  assert.deepEqual([withoutMe.status, withoutMe.body.error?.code], [400, 'bad_device_list']);
  const garbage = await d1.request('PUT', '/v1/devices', { list: 'AAAA' });
  assert.deepEqual([garbage.status, garbage.body.error?.code], [400, 'bad_device_list']);
  assert.equal((await d1.request('PUT', '/v1/devices', { list: 'not base64!' })).body.error?.code, 'bad_request');

  // Both devices add a device of their own to version 1 at the same moment.
  const [r1, r2] = await Promise.all([put(d1, next()), put(d2, next())]);
  assert.deepEqual([r1.status, r2.status].sort(), [200, 409]);
  assert.equal((r1.status === 409 ? r1 : r2).body.error.code, 'device_list_conflict');
  const stored = (await d2.request('GET', '/v1/devices/alice?since=1')).body.lists as unknown[];
  assert.equal(stored.length, 1);
});

/** Resolves with the close, or rejects after `ms` (a socket the relay should have closed at once). */
async function closedWithin(ws: RelayWs, ms: number): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([ws.closed, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test('a device the new list leaves out is cut off at once: its socket closes, its queue and bundle are gone, and it cannot log in again until a list holds it', { timeout: 120_000 }, async (t) => {
  // The periodic re-check an hour away: only the removal itself can close the socket in time.
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--auth-recheck-seconds', '3600'] });
  t.after(() => relay.stop());
  const d1 = new RelayHttp(relay.url);
  await d1.signup('alice', PASSWORD, 1);
  const d2 = new RelayHttp(relay.url);
  const token2 = await d2.login('alice', PASSWORD, 2);
  const bob = new RelayHttp(relay.url);
  await bob.signup('bob');
  assert.equal((await d2.request('PUT', '/v1/keys', (await makeBundle()).body)).status, 200);
  const a = await chain('alice', 1, 2);
  const v1 = a.lists[0]!.list;
  assert.equal((await put(d1, a.lists[0]!.bytes)).status, 200);

  // Device 2 is online and has been pushed a message it has not acknowledged yet (still queued).
  const ws = await RelayWs.connect(relay.wsUrl, token2);
  t.after(() => ws.terminate());
  assert.equal((await bob.request('POST', '/v1/messages', { id: 'm1', to: [{ user: 'alice', device: 2 }], body: 'aGk' })).status, 200);
  assert.equal((await ws.next('message', 10_000)).clientId, 'm1');

  const v2 = forged(a.key, { user: 'alice', version: 2, prevHash: deviceListHash(v1), devices: [v1.devices[0]!] });
  assert.equal((await put(d1, v2)).status, 200);
  assert.equal((await closedWithin(ws, 20_000)).code, 4001);
  assert.equal((await d2.request('GET', '/v1/presence')).status, 401, "device 2's token is revoked");
  const keys = await bob.request('GET', '/v1/keys/alice');
  assert.deepEqual(keys.body.devices.map((d: { deviceId: number }) => d.deviceId), [], 'no bundle of device 2 is served');
  const again = await new RelayHttp(relay.url).request('POST', '/v1/sessions', { username: 'alice', password: PASSWORD, deviceId: 2 });
  assert.deepEqual([again.status, again.body.error?.code], [403, 'device_removed']);
  assert.equal((await bob.request('POST', '/v1/messages', { id: 'm2', to: [{ user: 'alice', device: 2 }], body: 'aGk' })).body.error?.code, 'unknown_device');

  // The account adds device 2 back (a new version naming it): it logs in, and finds its old queue empty.
  const v3 = forged(a.key, { user: 'alice', version: 3, prevHash: deviceListHash(parseDeviceList(v2)), devices: v1.devices });
  assert.equal((await put(d1, v3)).status, 200);
  const back = await d2.login('alice', PASSWORD, 2);
  assert.equal((await bob.request('POST', '/v1/messages', { id: 'm3', to: [{ user: 'alice', device: 2 }], body: 'aGk' })).status, 200);
  const ws2 = await RelayWs.connect(relay.wsUrl, back);
  t.after(() => ws2.terminate());
  assert.equal((await ws2.next('message', 10_000)).clientId, 'm3', 'the message queued before the removal was dropped');
});

test('device list uploads are limited per account (--rate-limit-device-lists): over it 429, nothing stored', { timeout: 60_000 }, async (t) => {
  const relay = await startRelayProcess({ args: [...RELAY_TEST_ARGS, '--rate-limit-device-lists', '3'] });
  t.after(() => relay.stop());
  const d1 = new RelayHttp(relay.url);
  await d1.signup('alice', PASSWORD, 1);
  const d2 = new RelayHttp(relay.url);
  await d2.login('alice', PASSWORD, 2);
  const a = await chain('alice', 4, 2);
  for (const v of [1, 2, 3]) assert.equal((await put(v === 2 ? d2 : d1, a.lists[v - 1]!.bytes)).status, 200, `version ${v}`);
  // The account's fourth upload in the hour, from either of its devices, even a retry.
  for (const [h, bytes] of [[d1, a.lists[3]!.bytes], [d2, a.lists[2]!.bytes]] as const) {
    const r = await put(h, bytes);
    assert.deepEqual([r.status, r.body.error?.code], [429, 'rate_limited']);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
  }
  const stored = (await d1.request('GET', '/v1/devices/alice')).body.lists as unknown[];
  assert.equal(stored.length, 3);
  // Another account is not affected.
  const bob = new RelayHttp(relay.url);
  await bob.signup('bob');
  assert.equal((await put(bob, (await chain('bob', 1)).lists[0]!.bytes)).status, 200);
});

test("a stolen token cannot replace the account's device lists: only a password login of the last minutes can", { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-replace-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  let relay = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  t.after(() => relay.stop());
  const d1 = new RelayHttp(relay.url);
  await d1.signup('alice', PASSWORD, 1);
  const d2 = new RelayHttp(relay.url);
  const token2 = await d2.login('alice', PASSWORD, 2);
  const a = await chain('alice', 1, 2);
  assert.equal((await put(d1, a.lists[0]!.bytes)).status, 200);
  // The thief's own account key, starting a new history in alice's name that leaves device 2 out.
  const theirs = await chain('alice', 1);
  const replace = (h: RelayHttp, token: string) => h.request('PUT', '/v1/devices', { list: toBase64url(theirs.lists[0]!.bytes), replace: true }, { token });

  // A device ticket's login (what a linked device has) is fresh but no password was typed for it.
  const ticket = await d1.request('POST', '/v1/devices/tickets');
  assert.equal(ticket.status, 201);
  const redeemed = await d1.request('POST', '/v1/sessions/ticket', { ticket: ticket.body.ticket }, { token: null });
  assert.equal(redeemed.status, 200);
  const ticketList = firstDeviceList(theirs.key, 'alice', [device(redeemed.body.deviceId)]).bytes;
  const byTicket = await d1.request('PUT', '/v1/devices', { list: toBase64url(ticketList), replace: true }, { token: redeemed.body.token });
  assert.deepEqual([byTicket.status, byTicket.body.error?.code], [403, 'password_login_required'], "a device ticket's login");

  // Device 1's token, stolen and used ten minutes after its login (the relay's clock moved on).
  const stolen = d1.token!;
  await relay.stop();
  relay = await startRelayProcess({ db, args: RELAY_TEST_ARGS, env: fakeTimeEnv('+10m') });
  const thief = new RelayHttp(relay.url);
  const byThief = await replace(thief, stolen);
  assert.deepEqual([byThief.status, byThief.body.error?.code], [403, 'password_login_required'], 'a token whose password login is 10 minutes old');
  // Nothing changed: alice's list stands and device 2 still works.
  assert.deepEqual((await thief.request('GET', '/v1/devices/alice', undefined, { token: stolen })).body.lists, [{ version: 1, list: toBase64url(a.lists[0]!.bytes) }]);
  assert.equal((await thief.request('GET', '/v1/devices/alice', undefined, { token: token2 })).status, 200, "device 2's token");

  // The owner, who knows the password, can: a login just now, then the replacing upload.
  const owner = new RelayHttp(relay.url);
  const fresh = await owner.login('alice', PASSWORD, 1);
  const r = await replace(owner, fresh);
  assert.deepEqual([r.status, r.body], [200, { version: 1, duplicate: false }]);
  assert.equal((await thief.request('GET', '/v1/devices/alice', undefined, { token: token2 })).status, 401, 'device 2 is cut off by the replacement');
});
