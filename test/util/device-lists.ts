// Device lists as a real account's devices sign them (crypto/device-list.ts), for the relay's
// store and HTTP tests: a chain of versions under one account key, and the hostile variants.
import { generateAccountKey, type AccountKeyPair } from '../../crypto/account.js';
import { firstDeviceList, nextDeviceList, signDeviceEntry, signDeviceList, type DeviceEntry, type DeviceList } from '../../crypto/device-list.js';
import { generateIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';

export interface Chain {
  key: AccountKeyPair;
  /** Version i + 1 at index i. */
  lists: { list: DeviceList; bytes: Uint8Array }[];
}

/** Device `n` of `user` with fresh identity keys, its entry signed by itself for `key` (D.3). */
export function device(n: number, user: string, key: AccountKeyPair): DeviceEntry {
  return signDeviceEntry(generateIdentity(systemRandom()), { user, accountKey: key.publicKey }, n, 1_767_225_600_000 + n);
}

/**
 * `user`'s lists: version 1 names devices 1..first, and each later version k those and one more,
 * device first + k − 1 (which replaces the one version k − 1 added), so any number of versions
 * stays within MAX_DEVICES and every version keeps devices 1..first.
 */
export async function chain(user: string, versions: number, first = 1, key?: AccountKeyPair): Promise<Chain> {
  await sodiumReady();
  const k = key ?? generateAccountKey(systemRandom());
  const base = Array.from({ length: first }, (_, i) => device(i + 1, user, k));
  const lists = [firstDeviceList(k, user, base)];
  for (let v = 2; v <= versions; v++) lists.push(nextDeviceList(k, lists[lists.length - 1]!.list, [...base, device(first + v - 1, user, k)]));
  return { key: k, lists };
}

/** A list signed by `key` with any fields, none of them checked against anything. */
export function forged(key: AccountKeyPair, fields: { user: string; version: number; prevHash: Uint8Array; devices: DeviceEntry[] }): Uint8Array {
  return signDeviceList(key, fields);
}
