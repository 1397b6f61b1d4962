// What a hostile relay can make with keys of its own: an identity that is validly self-signed
// under any username it serves, a bundle device entry for it, and first messages from it to any
// user whose bundle it holds. Used with test/util/hostile-relay.ts.
import { DELIVERY_RECEIPT_TEXT, encodePayload, type Payload } from '../../client/core/payload.js';
import { toBase64url } from '../../crypto/encoding.js';
import { generateIdentity, publicIdentity, type IdentityKeyPair } from '../../crypto/identity.js';
import { bundleFromJson, bundleToJson, generateSignedPreKey, publicSignedPreKey } from '../../crypto/prekeys.js';
import { encryptMessage, initiateSession } from '../../crypto/session.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { fakeId, type Addr, type MessageFrame } from './hostile-relay.js';

await sodiumReady();
const random = systemRandom();

export function mintIdentity(): IdentityKeyPair {
  return generateIdentity(random);
}

/** A `devices[]` entry of a key-directory answer for `identity` (no one-time prekey). */
export function deviceEntry(identity: IdentityKeyPair, deviceId: number, kind: 'bundle' | 'identity', createdAt = Date.now()): Record<string, unknown> {
  const spk = generateSignedPreKey(identity, 1, createdAt, random);
  const json = bundleToJson({ address: { user: 'placeholder', device: deviceId }, identity: publicIdentity(identity), signedPreKey: publicSignedPreKey(spk), oneTimePreKey: null });
  return kind === 'identity' ? { deviceId, identity: json.identity } : { deviceId, identity: json.identity, signedPreKey: json.signedPreKey, oneTimePreKey: null };
}

/** A first message (PreKeyMessage) from `as` with `identity` to the device of `device` (an entry of a key-directory answer for `to`). */
export function firstMessage(identity: IdentityKeyPair, as: Addr, to: string, device: any, payload: Parameters<typeof encodePayload>[0]): string {
  const bundle = bundleFromJson({ address: { user: to, device: device.deviceId }, identity: device.identity, signedPreKey: device.signedPreKey, oneTimePreKey: device.oneTimePreKey ?? null });
  const session = initiateSession(identity, as, bundle, random, Date.now());
  return toBase64url(encryptMessage(session, encodePayload(payload), random).envelope);
}

/** A receipt payload for message `id`, as the client writes it. */
export function receipt(id: string): Payload {
  return { v: 1, type: 'receipt', id, text: DELIVERY_RECEIPT_TEXT, sentAt: new Date().toISOString() };
}

/** A `message` frame the relay pushes, claiming `from`. */
export function messageFrame(from: Addr, body: string): MessageFrame {
  return { type: 'message', id: fakeId(), clientId: fakeId(), from, body, sentAt: new Date().toISOString() };
}
