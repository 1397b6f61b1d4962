// The relay's checks of an uploaded device list, one module (the store and HTTP tests cover the rest).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deviceListHash } from '../crypto/device-list.js';
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
