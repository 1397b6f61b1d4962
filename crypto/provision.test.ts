import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumReady } from './sodium.js';
import { seededRandom } from '../scripts/vectors/seeded.js';
import { isCryptoError, type CryptoErrorCode } from './errors.js';
import { PAIRING_CODE_ALPHABET, PROVISION_MAX_CONTACTS } from './consts.js';
import { generateAccountKey } from './account.js';
import { firstDeviceList, signDeviceEntry } from './device-list.js';
import { generateKeyPair } from './dh.js';
import { generateIdentity, publicIdentity } from './identity.js';
import {
  encodeProvisionMessage,
  formatPairingCode,
  generatePairingCode,
  makeLinkRequest,
  openLinkRequest,
  openProvisionMessage,
  parsePairingCode,
  parseProvisionMessage,
  sealProvisionMessage,
  type ProvisionMessage,
} from './provision.js';

await sodiumReady();
const random = seededRandom('provision tests');
const acct = generateAccountKey(random);
const approver = generateIdentity(random);
const newDevice = generateIdentity(random);
const bob = publicIdentity(generateIdentity(random));
const bob2 = publicIdentity(generateIdentity(random));
const TICKET = 'A'.repeat(43);

function code(c: CryptoErrorCode) {
  return (e: unknown) => isCryptoError(e, c);
}

function setup() {
  const pairing = generatePairingCode(random);
  const eph = generateKeyPair(random);
  const request = makeLinkRequest(newDevice, eph, { user: 'alice', createdAt: 1_767_225_600_000, code: pairing });
  return { pairing, eph, request };
}

function message(): ProvisionMessage {
  const { bytes } = firstDeviceList(acct, 'alice', [signDeviceEntry(approver, { user: 'alice', accountKey: acct.publicKey }, 1, 1)]);
  return {
    user: 'alice',
    accountKey: acct,
    deviceList: bytes,
    device: 2,
    ticket: TICKET,
    contacts: [
      { user: 'bob', trust: 'verified', identity: bob, pendingIdentity: null },
      { user: 'carol', trust: 'changed', identity: bob, pendingIdentity: bob2 },
    ],
  };
}

test('a pairing code is 16 characters of the alphabet, shown in groups of four and read back however typed', () => {
  const c = generatePairingCode(random);
  assert.equal(c.code.length, 16);
  assert.ok([...c.code].every((ch) => PAIRING_CODE_ALPHABET.includes(ch)));
  const shown = formatPairingCode(c);
  assert.match(shown, /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
  assert.deepEqual(parsePairingCode(shown.toUpperCase()), c);
  assert.deepEqual(parsePairingCode(` ${shown.replace(/-/g, ' ')} `), c);
  assert.equal(parsePairingCode('oooo-iiii-llll-0000').code, '0000111111110000');
});

test('property: every code drawn is read back from its shown form, in any case, and names its channel', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 10, maxLength: 10 }), fc.boolean(), (bytes, upper) => {
      const c = generatePairingCode(() => bytes.slice());
      const shown = formatPairingCode(c);
      assert.deepEqual(parsePairingCode(upper ? shown.toUpperCase() : shown), c);
      assert.equal(c.channel, c.code.slice(0, 6));
    }),
    { numRuns: 300 },
  );
});

test('property: a request under any other code is wrong_code', () => {
  const { pairing, request } = setup();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 10, maxLength: 10 }), (bytes) => {
      const other = generatePairingCode(() => bytes.slice());
      fc.pre(other.code !== pairing.code);
      assert.throws(() => openLinkRequest(other, request), code('wrong_code'));
    }),
    { numRuns: 100 },
  );
});

test('a pairing code of the wrong length or with other characters is bad_code', () => {
  for (const bad of ['', 'abcd-efgh-jkmn-pqr', 'abcd-efgh-jkmn-pqrst', 'abcd-efgh-jkmn-pqru', 'abcd_efgh_jkmn_pqrs', 'x'.repeat(65)]) {
    assert.throws(() => parsePairingCode(bad), code('bad_code'), bad);
  }
});

test('the approver opens the request under the code and sees the new device identity and key', () => {
  const { pairing, eph, request } = setup();
  const r = openLinkRequest(pairing, request);
  assert.equal(r.user, 'alice');
  assert.deepEqual(r.identity, publicIdentity(newDevice));
  assert.deepEqual(r.ephemeralPublic, eph.publicKey);
});

test('a request under another code is wrong_code, even one differing only in the secret part', () => {
  const { pairing, request } = setup();
  const last = pairing.code[15] === '0' ? '1' : '0';
  const other = parsePairingCode(pairing.code.slice(0, 15) + last);
  assert.equal(other.channel, pairing.channel);
  assert.throws(() => openLinkRequest(other, request), code('wrong_code'));
});

test('a relay that swaps the ephemeral key and re-signs with its own identity cannot make the MAC', () => {
  const { pairing, request } = setup();
  const relayId = generateIdentity(random);
  const forged = makeLinkRequest(relayId, generateKeyPair(random), { user: 'alice', createdAt: 1, code: generatePairingCode(random) });
  assert.throws(() => openLinkRequest(pairing, forged), code('wrong_code'));
  assert.ok(openLinkRequest(pairing, request));
});

test('every single-byte change of a link request is refused', () => {
  const { pairing, request } = setup();
  for (let i = 0; i < request.length; i++) {
    const b = request.slice();
    b[i]! ^= 0x01;
    assert.throws(() => openLinkRequest(pairing, b), (e: unknown) => isCryptoError(e), `byte ${i}`);
  }
});

test('the provisioning message round-trips sealed to the request and opens only with its key and code', () => {
  const { pairing, eph, request } = setup();
  const m = message();
  const sealed = sealProvisionMessage(pairing, openLinkRequest(pairing, request), m, random);
  const opened = openProvisionMessage(pairing, request, eph.privateKey, sealed, 'alice');
  assert.deepEqual(opened, m);
  assert.throws(() => openProvisionMessage(pairing, request, generateKeyPair(random).privateKey, sealed, 'alice'), code('decrypt_failed'));
  const other = parsePairingCode(pairing.code.slice(0, 15) + (pairing.code[15] === '0' ? '1' : '0'));
  assert.throws(() => openProvisionMessage(other, request, eph.privateKey, sealed, 'alice'), code('decrypt_failed'));
});

test('a message sealed by someone without the code (a relay holding only the public request) is refused', () => {
  const { pairing, eph, request } = setup();
  const guess = generatePairingCode(random);
  const forged = sealProvisionMessage(guess, { ...openLinkRequest(pairing, request) }, message(), random);
  assert.throws(() => openProvisionMessage(pairing, request, eph.privateKey, forged, 'alice'), code('decrypt_failed'));
});

test('a message for another account is wrong_account', () => {
  const { pairing, eph, request } = setup();
  const bobAcct = generateAccountKey(random);
  const m: ProvisionMessage = { ...message(), user: 'bob', accountKey: bobAcct, deviceList: null };
  const sealed = sealProvisionMessage(pairing, openLinkRequest(pairing, request), m, random);
  assert.throws(() => openProvisionMessage(pairing, request, eph.privateKey, sealed, 'alice'), code('wrong_account'));
});

test('every single-byte change of a sealed message is refused with a typed error', () => {
  const { pairing, eph, request } = setup();
  const sealed = sealProvisionMessage(pairing, openLinkRequest(pairing, request), message(), random);
  for (let i = 0; i < sealed.length; i++) {
    const b = sealed.slice();
    b[i]! ^= 0x80;
    assert.throws(() => openProvisionMessage(pairing, request, eph.privateKey, b, 'alice'), (e: unknown) => isCryptoError(e), `byte ${i}`);
  }
});

const contacts = fc.uniqueArray(
  fc.record({
    user: fc.stringMatching(/^[a-z0-9_]{3,32}$/),
    trust: fc.constantFrom('unverified' as const, 'verified' as const, 'changed' as const),
  }),
  { selector: (c) => c.user, maxLength: 20 },
);

test('property: any message round-trips through encode and parse', () => {
  fc.assert(
    fc.property(contacts, fc.integer({ min: 1, max: 0x7fffffff }), fc.boolean(), (cs, device, withList) => {
      const m: ProvisionMessage = {
        ...message(),
        device,
        deviceList: withList ? message().deviceList : null,
        contacts: cs.map((c) => ({ ...c, identity: bob, pendingIdentity: c.trust === 'changed' ? bob2 : null })),
      };
      assert.deepEqual(parseProvisionMessage(encodeProvisionMessage(m)), m);
    }),
    { numRuns: 100 },
  );
});

test('property: random bytes and random changes of a message only ever throw typed errors', () => {
  const good = encodeProvisionMessage(message());
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.uint8Array({ maxLength: 400 }), (pos, delta, junk) => {
      const b = good.slice();
      b[pos % b.length] = (b[pos % b.length]! + delta) & 0xff;
      for (const input of [b, junk]) {
        try {
          parseProvisionMessage(input);
        } catch (e) {
          assert.ok(isCryptoError(e), String(e));
        }
      }
    }),
    { numRuns: 500 },
  );
});

test('more than the most contacts is refused by the encoder', () => {
  const m = { ...message(), contacts: Array.from({ length: PROVISION_MAX_CONTACTS + 1 }, (_, i) => ({ user: `u${String(i).padStart(4, '0')}`, trust: 'unverified' as const, identity: bob, pendingIdentity: null })) };
  assert.throws(() => encodeProvisionMessage(m), code('invalid_argument'));
});
