// Device lists as a real account's devices sign them (crypto/device-list.ts), for the relay's
// store and HTTP tests: a chain of versions under one account key, and the hostile variants.
import { generateAccountKey, type AccountKeyPair } from '../../crypto/account.js';
import { firstDeviceList, nextDeviceList, signDeviceList, type DeviceEntry, type DeviceList } from '../../crypto/device-list.js';
import { generateIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';

export interface Chain {
  key: AccountKeyPair;
  /** Version i + 1 at index i. */
  lists: { list: DeviceList; bytes: Uint8Array }[];
}

/** Device `n` with fresh identity keys. */
export function device(n: number): DeviceEntry {
  const id = generateIdentity(systemRandom());
  return { device: n, dhPublic: id.dh.publicKey, signPublic: id.signPublic, addedAt: 1_767_225_600_000 + n };
}

/**
 * `user`'s lists: version 1 names devices 1..first, and each later version adds the next device
 * id (version k names devices 1..first + k - 1), so every version keeps device 1.
 */
export async function chain(user: string, versions: number, first = 1, key?: AccountKeyPair): Promise<Chain> {
  await sodiumReady();
  const k = key ?? generateAccountKey(systemRandom());
  const devices = Array.from({ length: first }, (_, i) => device(i + 1));
  const lists = [firstDeviceList(k, user, devices)];
  for (let v = 2; v <= versions; v++) {
    devices.push(device(devices.length + 1));
    lists.push(nextDeviceList(k, lists[lists.length - 1]!.list, devices));
  }
  return { key: k, lists };
}

/** A list signed by `key` with any fields, none of them checked against anything. */
export function forged(key: AccountKeyPair, fields: { user: string; version: number; prevHash: Uint8Array; devices: DeviceEntry[] }): Uint8Array {
  return signDeviceList(key, fields);
}
