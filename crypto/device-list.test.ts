import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodium, sodiumReady } from './sodium.js';
import { seededRandom } from '../scripts/vectors/seeded.js';
import { rawDeviceList } from '../scripts/vectors/devices.js';
import { concat, lp, toHex, u32, u64, u8, utf8 } from './encoding.js';
import { isCryptoError, type CryptoErrorCode } from './errors.js';
import { DEVICE_ID_MAX, LABELS, MAX_DEVICES } from './consts.js';
import { generateAccountKey, type Account } from './account.js';
import { generateIdentity, sign, type IdentityKeyPair } from './identity.js';
import {
  acceptDeviceLists,
  deviceAccountMessage,
  deviceEntrySigned,
  deviceListVouches,
  isLegacyDeviceList,
  signDeviceEntry,
  deviceListHash,
  deviceListHeader,
  diffDeviceLists,
  firstDeviceList,
  nextDeviceList,
  parseDeviceList,
  signDeviceList,
  verifyDeviceList,
  type DeviceEntry,
  type DeviceList,
} from './device-list.js';

await sodiumReady();
const random = seededRandom('device list tests');
const acct = generateAccountKey(random);
const other = generateAccountKey(random);
const alice = { user: 'alice', accountKey: acct.publicKey };

/** Device identities are expensive enough to make once: a pool of 2 × MAX_DEVICES. */
const identities: IdentityKeyPair[] = Array.from({ length: 2 * MAX_DEVICES }, () => generateIdentity(random));
/** Identity i as device `device` of `account`, its entry signed by itself for that account. */
const entryOf = (i: number, device: number, addedAt: number, account: Account = alice): DeviceEntry => signDeviceEntry(identities[i]!, account, device, addedAt);
const pool: DeviceEntry[] = identities.map((_, i) => entryOf(i, i + 1, 1_767_225_600_000 + i * 1000));
const dev = (n: number): DeviceEntry => pool[n - 1]!;

function code(c: CryptoErrorCode) {
  return (e: unknown) => isCryptoError(e, c);
}

const rawList = rawDeviceList;

/** v1 {1}, v2 {1,2}, v3 {2,3}: a device linked, then the first one removed and another linked. */
function history(): { lists: DeviceList[]; bytes: Uint8Array[] } {
  const v1 = firstDeviceList(acct, 'alice', [dev(1)]);
  const v2 = nextDeviceList(acct, v1.list, [dev(1), dev(2)]);
  const v3 = nextDeviceList(acct, v2.list, [dev(3), dev(2)]);
  return { lists: [v1.list, v2.list, v3.list], bytes: [v1.bytes, v2.bytes, v3.bytes] };
}

test('a device list has the byte layout of PROTOCOL.md and parses back to what was signed', () => {
  const { list, bytes } = firstDeviceList(acct, 'alice', [dev(2), dev(1)]);
  const entry = (d: DeviceEntry) => concat(u32(d.device), d.dhPublic, d.signPublic, u64(d.addedAt), d.accountSignature);
  const body = concat(Uint8Array.of(2, 0x51), lp(utf8('alice')), acct.publicKey, u32(1), new Uint8Array(32), u8(2), entry(dev(1)), entry(dev(2)));
  assert.equal(toHex(bytes.subarray(0, body.length)), toHex(body));
  assert.equal(bytes.length, body.length + 64);
  assert.ok(sodium().crypto_sign_verify_detached(bytes.subarray(body.length), concat(utf8(LABELS.deviceListSignature), body), acct.publicKey));
  const parsed = parseDeviceList(bytes);
  assert.deepEqual(parsed, list);
  assert.deepEqual(parsed.devices.map((d) => d.device), [1, 2], 'entries are sorted by device id');
  assert.equal(toHex(deviceListHash(parsed)), toHex(sodium().crypto_generichash(32, concat(utf8(LABELS.deviceListHash), body), null)));
  assert.equal(toHex(signDeviceList(acct, { user: 'alice', version: 1, prevHash: new Uint8Array(32), devices: parsed.devices })), toHex(bytes));
  // Each entry's signature: by the device's own identity, over label || account key || lp(user) || u32(id) || dhPublic.
  for (const n of [1, 2]) {
    const statement = concat(utf8(LABELS.deviceAccount), acct.publicKey, lp(utf8('alice')), u32(n), dev(n).dhPublic);
    assert.equal(toHex(deviceAccountMessage(alice, n, dev(n).dhPublic)), toHex(statement));
    assert.ok(sodium().crypto_sign_verify_detached(parsed.devices[n - 1]!.accountSignature, statement, dev(n).signPublic), `device ${n}`);
  }
});

test('refuses an entry its device did not sign for this account: another key, none, another account key, user, device id or X25519 key', () => {
  const v1 = firstDeviceList(acct, 'alice', [dev(1)]);
  const withSecond = (accountSignature: Uint8Array) => rawList(acct, { listVersion: 2, prevHash: deviceListHash(v1.list), entries: [dev(1), { ...dev(2), accountSignature }] });
  const statement = deviceAccountMessage(alice, 2, dev(2).dhPublic);
  const cases: [string, Uint8Array][] = [
    ['signed by another device', sign(identities[5]!, statement)],
    ['signed by the account key itself', sodium().crypto_sign_detached(statement, acct.privateKey)],
    ['no signature (zeros)', new Uint8Array(64)],
    ['for another account key', sign(identities[1]!, deviceAccountMessage({ user: 'alice', accountKey: other.publicKey }, 2, dev(2).dhPublic))],
    ['for another user', sign(identities[1]!, deviceAccountMessage({ user: 'bob', accountKey: acct.publicKey }, 2, dev(2).dhPublic))],
    ['for another device id', sign(identities[1]!, deviceAccountMessage(alice, 3, dev(2).dhPublic))],
    ['over another X25519 key', sign(identities[1]!, deviceAccountMessage(alice, 2, dev(3).dhPublic))],
    ['without the label', sign(identities[1]!, statement.subarray(utf8(LABELS.deviceAccount).length))],
  ];
  assert.ok(deviceEntrySigned(alice, dev(2)));
  for (const [what, sig] of cases) {
    assert.equal(deviceEntrySigned(alice, { ...dev(2), accountSignature: sig }), false, what);
    assert.throws(() => verifyDeviceList(alice, withSecond(sig)), code('bad_signature'), what);
    assert.throws(() => acceptDeviceLists(alice, v1.list, [withSecond(sig)]), code('bad_signature'), what);
    assert.throws(() => acceptDeviceLists(alice, null, [v1.bytes, withSecond(sig)]), code('bad_signature'), what);
    // Nor is such a list made: the makers check what contacts will check.
    assert.throws(() => nextDeviceList(acct, v1.list, [dev(1), { ...dev(2), accountSignature: sig }]), code('bad_signature'), what);
  }
  assert.throws(() => firstDeviceList(acct, 'alice', [{ ...dev(1), accountSignature: new Uint8Array(64) }]), code('bad_signature'));
});

test("an account key of someone else's cannot list a real identity: its own first list is refused, so nothing can vouch for it", () => {
  // The relay (or mallory) makes its own account key and lists alice's device 1 — with alice's
  // entry signature, which is for alice's key, or one of its own making.
  const mallory = { user: 'alice', accountKey: other.publicKey };
  for (const accountSignature of [dev(1).accountSignature, sign(identities[9]!, deviceAccountMessage(mallory, 1, dev(1).dhPublic))]) {
    const theirs = rawList(other, { entries: [{ ...dev(1), accountSignature }] });
    assert.throws(() => acceptDeviceLists(mallory, null, [theirs]), code('bad_signature'));
  }
  // Only alice's device itself could make one for mallory's key.
  const vouched = signDeviceEntry(identities[0]!, mallory, 1, dev(1).addedAt);
  assert.equal(acceptDeviceLists(mallory, null, [rawList(other, { entries: [vouched] })]).list.devices.length, 1);
});

test('an entry is signed once and carried forward: the same bytes in every later version, and deviceListVouches finds it', () => {
  const { lists } = history();
  assert.equal(toHex(lists[1]!.devices[1]!.accountSignature), toHex(lists[2]!.devices[0]!.accountSignature), 'device 2 in versions 2 and 3');
  assert.ok(deviceListVouches(lists[2]!, { dhPublic: dev(2).dhPublic, signPublic: dev(2).signPublic }));
  assert.equal(deviceListVouches(lists[2]!, { dhPublic: dev(1).dhPublic, signPublic: dev(1).signPublic }), false, 'removed in version 3');
  assert.equal(deviceListVouches(lists[2]!, { dhPublic: dev(2).dhPublic, signPublic: dev(3).signPublic }), false, 'both keys must match one entry');
  // A list that was never verified (bytes from storage): a bad entry signature vouches for nothing.
  const unchecked = parseDeviceList(rawList(acct, { entries: [{ ...dev(1), accountSignature: new Uint8Array(64) }] }));
  assert.equal(deviceListVouches(unchecked, { dhPublic: dev(1).dhPublic, signPublic: dev(1).signPublic }), false);
});

test('a version-1 list (entries without signatures) is refused as unsupported_version and recognised as one from before', () => {
  const legacy = rawList(acct, { version: 1, entries: [dev(1)], legacyEntries: true });
  assert.throws(() => parseDeviceList(legacy), code('unsupported_version'));
  assert.throws(() => acceptDeviceLists(alice, null, [legacy]), code('unsupported_version'));
  assert.ok(isLegacyDeviceList(legacy));
  assert.equal(isLegacyDeviceList(firstDeviceList(acct, 'alice', [dev(1)]).bytes), false);
  assert.equal(isLegacyDeviceList(Uint8Array.of(1, 0x50)), false, 'another structure of version 1');
  assert.throws(() => parseDeviceList(rawList(acct, { version: 3, entries: [dev(1)] })), code('unsupported_version'));
});

test('the parser refuses another version, another tag, truncation and trailing bytes with typed errors', () => {
  const { bytes } = firstDeviceList(acct, 'alice', [dev(1)]);
  assert.throws(() => parseDeviceList(rawList(acct, { version: 1, entries: [dev(1)] })), code('unsupported_version'));
  assert.throws(() => parseDeviceList(rawList(acct, { tag: 0x50, entries: [dev(1)] })), code('malformed'));
  assert.throws(() => parseDeviceList(rawList(acct, { user: 'Alice', entries: [dev(1)] })), code('malformed'));
  assert.throws(() => parseDeviceList(rawList(acct, { listVersion: 0, entries: [dev(1)] })), code('malformed'));
  for (let n = 0; n < bytes.length; n++) assert.throws(() => parseDeviceList(bytes.subarray(0, n)), code('malformed'), `cut at ${n}`);
  assert.throws(() => parseDeviceList(concat(bytes, new Uint8Array(1))), code('malformed'));
  assert.throws(() => parseDeviceList(rawList(acct, { count: 2, entries: [dev(1)] })), code('malformed'));
});

test(`refuses a validly signed list of more than MAX_DEVICES (${MAX_DEVICES}) devices, and of none`, () => {
  const full = pool.slice(0, MAX_DEVICES);
  assert.equal(verifyDeviceList(alice, rawList(acct, { entries: full })).devices.length, MAX_DEVICES);
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { entries: pool.slice(0, MAX_DEVICES + 1) })), code('malformed'));
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { entries: [] })), code('malformed'));
  // A count byte of 255 is refused before any entry is read.
  assert.throws(() => parseDeviceList(rawList(acct, { count: 255, entries: [dev(1)] })), /255 devices/);
  assert.throws(() => firstDeviceList(acct, 'alice', pool.slice(0, MAX_DEVICES + 1)), code('invalid_argument'));
});

test('refuses a validly signed list that names a device id twice, out of order, or one identity on two ids', () => {
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { entries: [dev(1), dev(1)] })), code('malformed'));
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { entries: [dev(1), { ...dev(2), device: 1 }] })), /listed twice/);
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { entries: [dev(2), dev(1)] })), code('malformed'));
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { entries: [dev(1), { ...dev(1), device: 2 }] })), /identity key/);
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { entries: [dev(1), { ...dev(2), signPublic: dev(1).signPublic }] })), /identity key/);
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { entries: [{ ...dev(1), device: 0 }] })), code('malformed'));
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { entries: [{ ...dev(1), device: DEVICE_ID_MAX + 1 }] })), code('malformed'));
  assert.throws(() => firstDeviceList(acct, 'alice', [dev(1), dev(1)]), code('invalid_argument'));
});

test('refuses a list not signed by the pinned account key, or for another account', () => {
  const mine = rawList(acct, { entries: [dev(1)] });
  verifyDeviceList(alice, mine);
  // The relay makes its own key and signs a list with a device of its own under it.
  assert.throws(() => verifyDeviceList(alice, rawList(other, { entries: [dev(1), dev(9)] })), code('account_key_changed'));
  // It names the pinned key but cannot sign with it.
  assert.throws(() => verifyDeviceList(alice, rawList(other, { accountKey: acct.publicKey, entries: [dev(1), dev(9)] })), code('bad_signature'));
  // It serves bob's genuine list as alice's.
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { user: 'bob', entries: [dev(1)] })), code('wrong_account'));
  assert.throws(() => verifyDeviceList({ user: 'bob', accountKey: acct.publicKey }, mine), code('wrong_account'));
});

test('a version-1 list must start the chain: a previous hash there is a broken chain', () => {
  assert.throws(() => verifyDeviceList(alice, rawList(acct, { prevHash: new Uint8Array(32).fill(7), entries: [dev(1)] })), code('broken_chain'));
  verifyDeviceList(alice, rawList(acct, { listVersion: 2, prevHash: new Uint8Array(32).fill(7), entries: [dev(1)] }));
});

test('accepting the next version says which devices were added and removed', () => {
  const { lists, bytes } = history();
  const step2 = acceptDeviceLists(alice, lists[0]!, [bytes[1]!]);
  assert.deepEqual(step2.diff, { added: [dev(2)], removed: [], changed: [] });
  const step3 = acceptDeviceLists(alice, step2.list, [bytes[2]!]);
  assert.deepEqual(step3.diff, { added: [dev(3)], removed: [dev(1)], changed: [] });
  assert.deepEqual(acceptDeviceLists(alice, null, [bytes[2]!]).diff, { added: [dev(2), dev(3)], removed: [], changed: [] });
  assert.deepEqual(acceptDeviceLists(alice, lists[0]!, [bytes[1]!, bytes[2]!]).diff, { added: [dev(2), dev(3)], removed: [dev(1)], changed: [] });
});

test('a device that keeps its id under new keys is reported as changed, not silently kept', () => {
  const { lists } = history();
  const rekeyed = entryOf(3, 2, dev(4).addedAt);
  const next = nextDeviceList(acct, lists[2]!, [dev(3), rekeyed]);
  assert.deepEqual(diffDeviceLists(lists[2]!, next.list), { added: [], removed: [], changed: [{ before: dev(2), after: rekeyed }] });
});

test('refuses a list older than the last accepted (a rollback to before a removal)', () => {
  const { lists, bytes } = history();
  assert.throws(() => acceptDeviceLists(alice, lists[2]!, [bytes[1]!]), code('stale_device_list'));
  assert.throws(() => acceptDeviceLists(alice, lists[2]!, [bytes[0]!]), code('stale_device_list'));
  assert.throws(() => acceptDeviceLists(alice, lists[0]!, [bytes[1]!, bytes[0]!]), code('stale_device_list'));
});

test('the same list again is no change; another list of the same version is a fork', () => {
  const { lists, bytes } = history();
  assert.deepEqual(acceptDeviceLists(alice, lists[1]!, [bytes[1]!]).diff, { added: [], removed: [], changed: [] });
  // Two devices each linked a device at version 2.
  const sibling = nextDeviceList(acct, lists[0]!, [dev(1), dev(5)]);
  assert.throws(() => acceptDeviceLists(alice, lists[1]!, [sibling.bytes]), code('fork'));
  assert.throws(() => acceptDeviceLists(alice, lists[0]!, [bytes[1]!, sibling.bytes]), code('fork'));
});

test('refuses a skipped version and a previous hash that is not the last list\'s', () => {
  const { lists, bytes } = history();
  assert.throws(() => acceptDeviceLists(alice, lists[0]!, [bytes[2]!]), code('broken_chain'));
  // The version, not the hash alone: a list that links to version 1 but calls itself version 3.
  const leap = rawList(acct, { listVersion: 3, prevHash: deviceListHash(lists[0]!), entries: [dev(1), dev(2)] });
  assert.throws(() => acceptDeviceLists(alice, lists[0]!, [leap]), /versions 2\.\.2 are missing/);
  const sibling = nextDeviceList(acct, lists[0]!, [dev(1), dev(5)]);
  const onSibling = nextDeviceList(acct, sibling.list, [dev(5)]);
  assert.throws(() => acceptDeviceLists(alice, lists[1]!, [onSibling.bytes]), code('broken_chain'));
  // The hash chain, not the version alone: a version-3 list whose prevHash is anything else.
  const forged = rawList(acct, { listVersion: 3, prevHash: deviceListHash(lists[0]!), entries: [dev(2), dev(3)] });
  assert.throws(() => acceptDeviceLists(alice, lists[1]!, [forged]), code('broken_chain'));
});

test('accepting is all or nothing and never changes the last list held', () => {
  const { lists, bytes } = history();
  const before = toHex(lists[0]!.body);
  assert.throws(() => acceptDeviceLists(alice, lists[0]!, [bytes[1]!, rawList(other, { listVersion: 3, entries: [dev(1)] })]), code('account_key_changed'));
  assert.equal(toHex(lists[0]!.body), before);
  assert.throws(() => acceptDeviceLists(alice, lists[0]!, []), code('invalid_argument'));
  assert.throws(() => acceptDeviceLists({ user: 'alice', accountKey: other.publicKey }, lists[0]!, [bytes[1]!]), code('invalid_argument'));
});

// ---- properties -------------------------------------------------------------------------------

const entries = fc
  .uniqueArray(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: MAX_DEVICES })
  .chain((picks) =>
    fc.tuple(
      fc.uniqueArray(fc.integer({ min: 1, max: DEVICE_ID_MAX }), { minLength: picks.length, maxLength: picks.length }),
      fc.array(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { minLength: picks.length, maxLength: picks.length }),
    ).map(([ids, times]) => picks.map((p, i) => entryOf(p, ids[i]!, times[i]!))),
  );

test('property: any valid list encodes, parses and re-encodes to the same bytes', () => {
  fc.assert(
    fc.property(entries, fc.integer({ min: 1, max: 0xffffffff }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (devices, version, prevHash) => {
      const bytes = signDeviceList(acct, { user: 'alice', version, prevHash: version === 1 ? new Uint8Array(32) : prevHash, devices });
      const list = verifyDeviceList(alice, bytes);
      assert.equal(list.version, version);
      assert.deepEqual(list.devices, [...devices].sort((a, b) => a.device - b.device));
      assert.equal(toHex(signDeviceList(acct, { user: list.user, version, prevHash: list.prevHash, devices: list.devices })), toHex(bytes));
    }),
    { numRuns: 150 },
  );
});

test('every single-byte change of a signed list is refused, alone and as the next version', () => {
  const { lists, bytes } = history();
  const target = bytes[2]!;
  let refused = 0;
  for (let at = 0; at < target.length; at++) {
    for (const flip of [0x01, 0x80, 0xff]) {
      const bad = target.slice();
      bad[at]! ^= flip;
      assert.throws(() => verifyDeviceList(alice, bad), (e) => isCryptoError(e), `byte ${at} ^ ${flip}`);
      assert.throws(() => acceptDeviceLists(alice, lists[1]!, [bad]), (e) => isCryptoError(e), `byte ${at} ^ ${flip}`);
      refused++;
    }
  }
  assert.equal(refused, 3 * target.length);
});

test('property: a random byte changed to a random value in a random list is refused with a typed error', () => {
  fc.assert(
    fc.property(entries, fc.nat(), fc.integer({ min: 1, max: 255 }), (devices, pos, delta) => {
      const bytes = signDeviceList(acct, { user: 'alice', version: 1, prevHash: new Uint8Array(32), devices });
      const bad = bytes.slice();
      const at = pos % bad.length;
      bad[at] = (bad[at]! + delta) & 0xff;
      assert.throws(() => verifyDeviceList(alice, bad), (e) => isCryptoError(e));
    }),
    { numRuns: 300 },
  );
});

test('property: parsing random bytes, bare or behind a device-list header, throws only typed errors', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 900 }), (b) => {
      for (const input of [b, concat(Uint8Array.of(1, 0x51), b), concat(Uint8Array.of(2, 0x51), b)]) {
        try {
          verifyDeviceList(alice, input);
        } catch (e) {
          assert.ok(isCryptoError(e), String(e));
        }
      }
    }),
    { numRuns: 500 },
  );
});

/** A random history of adds and removes, each step a whole new device set of 1..MAX_DEVICES. */
const histories = fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: pool.length })), { minLength: 1, maxLength: 12 }).map((ops) => {
  const sets: number[][] = [[1]];
  for (const [add, n] of ops) {
    const cur = sets[sets.length - 1]!;
    let next: number[];
    if (add && !cur.includes(n) && cur.length < MAX_DEVICES) next = [...cur, n];
    else if (!add && cur.includes(n) && cur.length > 1) next = cur.filter((x) => x !== n);
    else continue;
    sets.push(next);
  }
  return sets;
});

function build(sets: number[][]): { lists: DeviceList[]; bytes: Uint8Array[] } {
  const first = firstDeviceList(acct, 'alice', sets[0]!.map(dev));
  const lists = [first.list];
  const bytes = [first.bytes];
  for (const set of sets.slice(1)) {
    const next = nextDeviceList(acct, lists[lists.length - 1]!, set.map(dev));
    lists.push(next.list);
    bytes.push(next.bytes);
  }
  return { lists, bytes };
}

test('property: over random add/remove histories the chain is accepted from any point, the diff matches the sets, and rollbacks, gaps and forks are refused', () => {
  fc.assert(
    fc.property(histories, fc.nat(), fc.nat(), (sets, i0, j0) => {
      const { lists, bytes } = build(sets);
      const n = lists.length;
      const i = i0 % n;
      const j = j0 % n;
      // From any accepted list, the rest of the chain leads to the newest, diff = set difference.
      const from = i === n - 1 ? null : lists[i]!;
      const { list, diff } = acceptDeviceLists(alice, from, bytes.slice(from === null ? i : i + 1));
      assert.equal(list.version, n);
      const before = new Set(from === null ? [] : sets[i]!);
      const after = new Set(sets[n - 1]!);
      assert.deepEqual(diff.added.map((d) => d.device).sort((a, b) => a - b), [...after].filter((x) => !before.has(x)).sort((a, b) => a - b));
      assert.deepEqual(diff.removed.map((d) => d.device).sort((a, b) => a - b), [...before].filter((x) => !after.has(x)).sort((a, b) => a - b));
      assert.deepEqual(diff.changed, []);
      // Anything older than the held list is a rollback.
      if (j < i) assert.throws(() => acceptDeviceLists(alice, lists[i]!, [bytes[j]!]), code('stale_device_list'));
      // Skipping a version is a broken chain.
      if (j > i + 1) assert.throws(() => acceptDeviceLists(alice, lists[i]!, [bytes[j]!]), code('broken_chain'));
      // Another list for the next version, signed by the account key, is a fork once one was accepted.
      if (i + 1 < n) {
        const spare = pool.findIndex((d) => !sets[i]!.includes(d.device)) + 1;
        const set = sets[i]!.length < MAX_DEVICES ? [...sets[i]!, spare] : sets[i]!.slice(1);
        const sibling = nextDeviceList(acct, lists[i]!, set.map(dev));
        if (toHex(sibling.list.body) !== toHex(lists[i + 1]!.body)) {
          assert.throws(() => acceptDeviceLists(alice, lists[i + 1]!, [sibling.bytes]), code('fork'));
        }
      }
    }),
    { numRuns: 60 },
  );
});

test('property: an entry signature verifies for exactly the account key, user, device id and X25519 key it was made for', () => {
  const user = fc.stringMatching(/^[a-z0-9_]{3,32}$/);
  fc.assert(
    fc.property(fc.nat(pool.length - 1), user, user, fc.integer({ min: 1, max: DEVICE_ID_MAX }), fc.integer({ min: 1, max: DEVICE_ID_MAX }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (i, u1, u2, d1, d2, key) => {
      const account = { user: u1, accountKey: key };
      const entry = entryOf(i, d1, 1, account);
      assert.ok(deviceEntrySigned(account, entry));
      if (u2 !== u1) assert.equal(deviceEntrySigned({ user: u2, accountKey: key }, entry), false);
      if (d2 !== d1) assert.equal(deviceEntrySigned(account, { ...entry, device: d2 }), false);
      assert.equal(deviceEntrySigned({ user: u1, accountKey: acct.publicKey }, entry), false);
      assert.equal(deviceEntrySigned(account, { ...entry, dhPublic: identities[(i + 1) % identities.length]!.dh.publicKey }), false);
      // Any list made of it round-trips with its signature.
      const bytes = signDeviceList({ publicKey: key, privateKey: acct.privateKey }, { user: u1, version: 1, prevHash: new Uint8Array(32), devices: [entry] });
      assert.equal(toHex(parseDeviceList(bytes).devices[0]!.accountSignature), toHex(entry.accountSignature));
    }),
    { numRuns: 100 },
  );
});

test('deviceListHeader reads the user and account key of a list of either format, and nothing else', () => {
  const current = firstDeviceList(acct, 'alice', [dev(1)]).bytes;
  const legacy = rawList(other, { version: 1, user: 'alice', entries: [dev(1)], legacyEntries: true });
  assert.deepEqual(deviceListHeader(current), { user: 'alice', accountKey: acct.publicKey });
  assert.deepEqual(deviceListHeader(legacy), { user: 'alice', accountKey: other.publicKey });
  assert.throws(() => deviceListHeader(rawList(acct, { version: 3, entries: [dev(1)] })), code('unsupported_version'));
  assert.throws(() => deviceListHeader(rawList(acct, { tag: 0x50, entries: [dev(1)] })), code('malformed'));
  assert.throws(() => deviceListHeader(rawList(acct, { user: 'Not A Name', entries: [dev(1)] })), code('malformed'));
  assert.throws(() => deviceListHeader(current.subarray(0, 20)), code('malformed'));
});
