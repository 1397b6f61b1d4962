// Linking a device (crypto/provision.ts) from fixed seeds: a pairing code and its code key, the new
// device's link request (body, signature, MAC), the provisioning message plaintext and the envelope
// sealed to the request, and what a new device or approver must refuse, with the error code.
import { LABELS } from '../../crypto/consts.js';
import { utf8 } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import { generateAccountKey } from '../../crypto/account.js';
import { firstDeviceList } from '../../crypto/device-list.js';
import { generateKeyPair } from '../../crypto/dh.js';
import { generateIdentity, publicIdentity, writePublicIdentity } from '../../crypto/identity.js';
import {
  encodeProvisionMessage,
  formatPairingCode,
  generatePairingCode,
  linkRequestHash,
  makeLinkRequest,
  openLinkRequest,
  openProvisionMessage,
  pairingCodeKey,
  parsePairingCode,
  sealProvisionMessage,
  type ProvisionMessage,
} from '../../crypto/provision.js';
import { vectorDevice } from './devices.js';
import { seededRandom } from './seeded.js';

export const description =
  'Linking a device: the code is 10 bytes drawn from "provision/code" as 16 base32 characters; the new device (alice, device 2) has the identity drawn from "provision/new-device" and the ephemeral X25519 key drawn from "provision/new-device-ephemeral"; the approver holds alice\'s account key ("devices/alice/account") and device list version 1 naming device 1 of the devices vectors; the envelope\'s ephemeral key then nonce are drawn from "provision/approver"; contact bob\'s identity from "provision/contact-bob". Refused inputs carry the error code each side must give.';

export const CREATED_AT = 1_767_225_600_000;
export const TICKET = 'dGlja2V0LWZvci1kZXZpY2UtdHdvLW9mLWFsaWNlLTA';

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isCryptoError(e)) return e.code;
    throw e;
  }
  throw new Error('vector input was accepted');
}

export function generate(): unknown {
  const code = generatePairingCode(seededRandom('provision/code'));
  const newDevice = generateIdentity(seededRandom('provision/new-device'));
  const ephemeral = generateKeyPair(seededRandom('provision/new-device-ephemeral'));
  const account = generateAccountKey(seededRandom('devices/alice/account'));
  const list = firstDeviceList(account, 'alice', [vectorDevice(1, account.publicKey)]);
  const bob = publicIdentity(generateIdentity(seededRandom('provision/contact-bob')));
  const request = makeLinkRequest(newDevice, ephemeral, { user: 'alice', createdAt: CREATED_AT, code });
  const opened = openLinkRequest(code, request);
  const message: ProvisionMessage = {
    user: 'alice',
    accountKey: account,
    deviceList: list.bytes,
    device: 2,
    ticket: TICKET,
    contacts: [{ user: 'bob', trust: 'verified', identity: bob, pendingIdentity: null }],
  };
  const plaintext = encodeProvisionMessage(message);
  const envelope = sealProvisionMessage(code, opened, message, seededRandom('provision/approver'));
  openProvisionMessage(code, request, ephemeral.privateKey, envelope, 'alice'); // it opens

  const otherCode = parsePairingCode(code.code.slice(0, 15) + (code.code[15] === '0' ? '1' : '0'));
  const flipped = envelope.slice();
  flipped[envelope.length - 1]! ^= 1;
  const bobAccount = generateAccountKey(seededRandom('devices/bob/account'));
  const forBob = sealProvisionMessage(code, opened, { ...message, user: 'bob', accountKey: bobAccount, deviceList: null }, seededRandom('provision/approver'));
  const relayRequest = makeLinkRequest(generateIdentity(seededRandom('provision/relay-identity')), generateKeyPair(seededRandom('provision/relay-ephemeral')), {
    user: 'alice',
    createdAt: CREATED_AT,
    code: generatePairingCode(seededRandom('provision/relay-code')),
  });

  return {
    labels: {
      provisionCode: utf8(LABELS.provisionCode),
      provisionRequestSignature: utf8(LABELS.provisionRequestSignature),
      provisionRequestHash: utf8(LABELS.provisionRequestHash),
      provisionMessage: utf8(LABELS.provisionMessage),
    },
    code: { code: code.code, shown: formatPairingCode(code), channel: code.channel, codeKey: pairingCodeKey(code) },
    newDevice: { user: 'alice', createdAt: CREATED_AT, identity: writePublicIdentity(publicIdentity(newDevice)), ephemeralPublic: ephemeral.publicKey, ephemeralPrivate: ephemeral.privateKey },
    request: { encoded: request, hash: linkRequestHash(request) },
    message: { deviceList: list.bytes, device: 2, ticket: TICKET, contactBob: writePublicIdentity(bob), plaintext },
    envelope,
    refused: {
      requestUnderAnotherCode: { code: otherCode.code, expect: refusal(() => openLinkRequest(otherCode, request)) },
      requestMadeByTheRelay: { request: relayRequest, expect: refusal(() => openLinkRequest(code, relayRequest)) },
      envelopeLastByteFlipped: { envelope: flipped, expect: refusal(() => openProvisionMessage(code, request, ephemeral.privateKey, flipped, 'alice')) },
      envelopeForAnotherAccount: { envelope: forBob, expect: refusal(() => openProvisionMessage(code, request, ephemeral.privateKey, forBob, 'alice')) },
    },
  };
}
