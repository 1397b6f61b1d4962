// What the relay checks of an uploaded device list (docs/RELAY.md "Device lists") before storing
// it after the account's last one. The relay cannot sign a list; these checks only keep it from
// storing a history that no contact would accept, and tell the uploading device why at once.
import type { DeviceList } from '../crypto/device-list.js';
import { acceptDeviceLists, isLegacyDeviceList, parseDeviceList } from '../crypto/device-list.js';
import { equalBytes } from '../crypto/encoding.js';
import { isFastchatError } from '../crypto/errors.js';
import { RelayError } from './errors.js';
import type { Address } from './store/types.js';

/**
 * The most versions of one account's device list the relay keeps (versions run 1, 2, … with no
 * gap, so this bounds its rows): far more than a lifetime of linking and removing devices, and at
 * ~800 bytes a list, at most ~8 MB an account can make the relay keep this way.
 */
export const MAX_DEVICE_LIST_VERSIONS = 10_000;

/**
 * `bytes`, uploaded by `caller`, against `last` (the account's newest stored list, or null): it
 * parses, names the caller's device and at most `maxDevices` devices, and is `last` again byte for
 * byte (duplicate: a retried upload) or, for the caller's account, its successor under the same
 * account key (acceptDeviceLists). The first list of an account is any version-1 list. Sodium
 * must be ready. `replace` (a device of the account starts a new history, e.g. under a new account
 * key): any valid version-1 list of the caller's account, stored in place of every earlier one.
 * `removed`: the devices `last` held that the new list does not (docs/RELAY.md
 * "Device lists": the store revokes their tokens and drops their queues in the same transaction).
 * A `last` from before entry signatures (device list version 1) counts as none, and the upload
 * replaces it; nobody is removed, since such a list is no one's word any more. `replaces`: the
 * store deletes every earlier list of the account before it stores this one.
 */
export function checkDeviceListUpload(
  caller: Address,
  stored: Uint8Array | null,
  bytes: Uint8Array,
  maxDevices: number,
  replace = false,
): { list: DeviceList; duplicate: boolean; removed: number[]; replaces: boolean } {
  const legacy = stored !== null && isLegacyDeviceList(stored);
  const last = legacy ? null : stored;
  replace ||= legacy;
  const list = parsed(bytes);
  if (list.devices.length > maxDevices) throw new RelayError('too_many_devices', `a device list names at most ${maxDevices} devices on this relay, not ${list.devices.length}`);
  if (list.version > MAX_DEVICE_LIST_VERSIONS) throw new RelayError('quota_exceeded', `the relay keeps at most ${MAX_DEVICE_LIST_VERSIONS} versions of an account's device list`);
  if (!list.devices.some((d) => d.device === caller.device)) throw new RelayError('bad_device_list', `the uploading device ${caller.device} is not in the list`);
  if (last !== null && equalBytes(last, bytes)) return { list, duplicate: true, removed: [], replaces: false };
  if ((last === null || replace) && list.version !== 1) throw new RelayError('bad_device_list', `a first device list (or one that replaces the account's lists) is version 1, not ${list.version}`);
  const previous = last === null ? null : parsed(last);
  if (replace) {
    // A new history (keygen --force, login --replace-keys): any account key, checked as a first list.
    try {
      acceptDeviceLists({ user: caller.user, accountKey: list.accountKey }, null, [bytes]);
    } catch (e) {
      if (!isFastchatError(e)) throw e;
      throw new RelayError('bad_device_list', e.message);
    }
    return { list, duplicate: false, removed: removedFrom(previous, list), replaces: true };
  }
  try {
    // For the caller's account: another account's list is refused here (wrong_account).
    acceptDeviceLists({ user: caller.user, accountKey: previous?.accountKey ?? list.accountKey }, previous, [bytes]);
  } catch (e) {
    if (!isFastchatError(e)) throw e;
    if (e.code === 'stale_device_list' || e.code === 'fork') {
      throw new RelayError('device_list_conflict', `the relay holds version ${previous!.version} of the device list already: fetch it and sign the next version`);
    }
    throw new RelayError('bad_device_list', e.message);
  }
  return { list, duplicate: false, removed: removedFrom(previous, list), replaces: false };
}

/**
 * The device ids a stored list names; null for a list from before entry signatures (no one's word
 * any more, D.7). The relay checked the list when it stored it: parsed here, not verified again.
 */
export function devicesNamed(stored: Uint8Array): Set<number> | null {
  if (isLegacyDeviceList(stored)) return null;
  return new Set(parsed(stored).devices.map((d) => d.device));
}

function removedFrom(previous: DeviceList | null, list: DeviceList): number[] {
  const kept = new Set(list.devices.map((d) => d.device));
  return (previous?.devices ?? []).map((d) => d.device).filter((d) => !kept.has(d));
}

function parsed(bytes: Uint8Array): DeviceList {
  try {
    return parseDeviceList(bytes);
  } catch (e) {
    if (isFastchatError(e)) throw new RelayError('bad_device_list', e.message);
    throw e;
  }
}
