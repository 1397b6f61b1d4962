// The relay's checks of an uploaded device list, one module (the store and HTTP tests cover the rest).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deviceListHash } from '../crypto/device-list.js';
import { rawDeviceList } from '../scripts/vectors/devices.js';
import { chain, forged } from '../test/util/device-lists.js';
import { checkDeviceListUpload, MAX_DEVICE_LIST_VERSIONS } from './device-lists.js';
import { isRelayError } from './errors.js';

test('a version past MAX_DEVICE_LIST_VERSIONS is refused as quota_exceeded: one account cannot make the relay keep lists without end', async () => {
  const c = await chain('alice', 1);
  const first = c.lists[0]!;
  const at = (version: number): Uint8Array => forged(c.key, { user: 'alice', version, prevHash: deviceListHash(first.list), devices: first.list.devices });
  assert.throws(
    () => checkDeviceListUpload({ user: 'alice', device: 1 }, first.bytes, at(MAX_DEVICE_LIST_VERSIONS + 1), 8),
    (e: unknown) => isRelayError(e) && e.code === 'quota_exceeded',
  );
  // Below the cap the same list is judged by the chain rules instead (here: a skipped version).
  assert.throws(
    () => checkDeviceListUpload({ user: 'alice', device: 1 }, first.bytes, at(MAX_DEVICE_LIST_VERSIONS), 8),
    (e: unknown) => isRelayError(e) && e.code === 'bad_device_list',
  );
});

test('a stored list of the first format (no entry signatures) counts as none: the next upload is a version 1 that replaces it, and first-format uploads are refused', async () => {
  const c = await chain('alice', 2, 2);
  const first = c.lists[0]!.list;
  // What a relay stored before entry signatures: version byte 1, 76-byte entries.
  const legacy = rawDeviceList(c.key, { version: 1, entries: first.devices, legacyEntries: true });
  const caller = { user: 'alice', device: 1 };
  const r = checkDeviceListUpload(caller, legacy, c.lists[0]!.bytes, 8);
  assert.deepEqual([r.list.version, r.duplicate, r.removed, r.replaces], [1, false, [], true]);
  // Only a version 1 can take its place: a chain does not continue from an unsigned list.
  assert.throws(() => checkDeviceListUpload(caller, legacy, c.lists[1]!.bytes, 8), (e: unknown) => isRelayError(e) && e.code === 'bad_device_list');
  // A first-format list is refused, over nothing, over itself and over a new-format list.
  for (const last of [null, legacy, c.lists[0]!.bytes]) {
    assert.throws(() => checkDeviceListUpload(caller, last, legacy, 8), (e: unknown) => isRelayError(e) && e.code === 'bad_device_list' && /unsupported version 1/.test(e.message));
  }
  // A new-format list stored: the chain rules as ever, nothing replaced.
  assert.equal(checkDeviceListUpload(caller, c.lists[0]!.bytes, c.lists[1]!.bytes, 8).replaces, false);
});
