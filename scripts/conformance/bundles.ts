// Bundle cases: a bundle as JSON (§6.3, with `address`), the initiator's keys, and what X3DH does
// with it (§7.2): the shared secret and AD, or malformed / bad_signature / bad_key.
import { generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { bundleToJson, generateOneTimePreKeys, generateSignedPreKey, publicOneTimePreKey, signedPreKeySignatureMessage, type PreKeyBundle } from '../../crypto/prekeys.js';
import { SIGNED_PREKEY_MAX_AGE_MS } from '../../crypto/consts.js';
import { sodium } from '../../crypto/sodium.js';
import { toBase64url } from '../../crypto/encoding.js';
import { x3dhInitiate } from '../../crypto/x3dh.js';
import { seededRandom } from '../vectors/seeded.js';
import type { Case } from './index.js';
import { ALICE, BOB, CREATED_AT } from './fixture.js';

/** Low-order X25519 points: every scalar maps them to the all-zero output (§2). */
const LOW_ORDER = {
  zero: new Uint8Array(32),
  one: Uint8Array.of(1, ...new Uint8Array(31)),
  order8: Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'),
};

export function bundleCases(): { shared: Record<string, unknown>; cases: Case[] } {
  const aRandom = seededRandom('conformance/bundles/alice');
  const alice = generateIdentity(aRandom);
  const bRandom = seededRandom('conformance/bundles/bob');
  const bob = generateIdentity(bRandom);
  const spk = generateSignedPreKey(bob, 1, CREATED_AT, bRandom);
  const opk = generateOneTimePreKeys(1000, 1, bRandom)[0]!;
  const good: PreKeyBundle = { address: BOB, identity: publicIdentity(bob), signedPreKey: { id: spk.id, createdAt: spk.createdAt, publicKey: spk.keyPair.publicKey, signature: spk.signature }, oneTimePreKey: publicOneTimePreKey(opk) };
  const ephemeralSeed = 'conformance/bundles/ephemeral';
  const signSpk = (id: number, createdAt: number, publicKey: Uint8Array) => sodium().crypto_sign_detached(signedPreKeySignatureMessage(id, createdAt, publicKey), bob.signPrivate);
  const withSpk = (publicKey: Uint8Array): PreKeyBundle => ({ ...good, signedPreKey: { id: 1, createdAt: CREATED_AT, publicKey, signature: signSpk(1, CREATED_AT, publicKey) } });
  // `now`: the initiator's clock (§6.1); a case without it is checked at the signed prekey's createdAt.
  const accept = (name: string, about: string, b: PreKeyBundle, now?: number): Case => {
    const x = x3dhInitiate(alice, ALICE, b, seededRandom(ephemeralSeed), now ?? b.signedPreKey.createdAt);
    return { name, about, input: { bundle: bundleToJson(b), ...(now !== undefined ? { now } : {}) }, expect: 'accept', output: { sharedSecret: x.sharedSecret, associatedData: x.associatedData } };
  };
  const refuse = (name: string, about: string, bundle: unknown, error: string, now?: number): Case => ({ name, about, input: { bundle, ...(now !== undefined ? { now } : {}) }, expect: 'refuse', error });
  const json = bundleToJson(good) as unknown as Record<string, Record<string, unknown>>;
  const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
  // Our own low-order identity: a bundle whose identity DH key is low-order, signed by its owner.
  const lowIdentity = { ...publicIdentity(bob), dhPublic: LOW_ORDER.one };
  lowIdentity.signature = sodium().crypto_sign_detached(Uint8Array.from([...Buffer.from('fastchat/v1/identity-signature'), ...LOW_ORDER.one]), bob.signPrivate);
  return {
    shared: {
      initiator: { address: ALICE, dhPrivate: alice.dh.privateKey, signSeed: alice.signPrivate.subarray(0, 32) },
      ephemeralSeed,
      note: 'the initiator draws its ephemeral key (32 bytes) from the seed stream ephemeralSeed (PROTOCOL.md §14)',
    },
    cases: [
      accept('valid_with_one_time_prekey', 'a good bundle (§6.3, §7.2)', good),
      accept('valid_without_one_time_prekey', 'oneTimePreKey null: three DHs (§7.2)', { ...good, oneTimePreKey: null }),
      refuse('identity_signature_flipped', 'the identity signature does not verify (§4.1)', { ...json, identity: { ...json.identity, signature: flip(json.identity!.signature as string) } }, 'bad_signature'),
      refuse('signed_prekey_swapped', 'another key under the signed prekey\'s signature (§6.1)', { ...json, signedPreKey: { ...json.signedPreKey, publicKey: toBase64url(opk.keyPair.publicKey) } }, 'bad_signature'),
      refuse('signed_prekey_id_changed', 'the id is signed with the key (§6.1)', { ...json, signedPreKey: { ...json.signedPreKey, id: 2 } }, 'bad_signature'),
      refuse('signed_prekey_date_changed', 'createdAt is signed with the key: an old key cannot be re-dated (§6.1)', { ...json, signedPreKey: { ...json.signedPreKey, createdAt: CREATED_AT + 86_400_000 } }, 'bad_signature'),
      refuse('signed_prekey_low_order_zero', 'a validly signed all-zero signed prekey: DH1 is all zero (§2)', bundleToJson(withSpk(LOW_ORDER.zero)), 'bad_key'),
      refuse('signed_prekey_low_order_one', 'a validly signed signed prekey u = 1 (§2)', bundleToJson(withSpk(LOW_ORDER.one)), 'bad_key'),
      refuse('signed_prekey_low_order_8', 'a validly signed signed prekey of order 8 (§2)', bundleToJson(withSpk(LOW_ORDER.order8)), 'bad_key'),
      refuse('one_time_prekey_low_order', 'a low-order one-time prekey (unsigned, §2)', bundleToJson({ ...good, oneTimePreKey: { id: 1000, publicKey: LOW_ORDER.zero } }), 'bad_key'),
      refuse('identity_low_order', 'a validly self-signed low-order identity DH key: DH2 is all zero (§2)', bundleToJson({ ...good, identity: lowIdentity, signedPreKey: good.signedPreKey }), 'bad_key'),
      accept('signed_prekey_at_max_age', 'a signed prekey exactly SIGNED_PREKEY_MAX_AGE_MS old is still taken (§6.1)', good, CREATED_AT + SIGNED_PREKEY_MAX_AGE_MS),
      refuse('signed_prekey_stale', 'a signed prekey one ms older than SIGNED_PREKEY_MAX_AGE_MS is stale (§6.1)', bundleToJson(good), 'stale_prekey', CREATED_AT + SIGNED_PREKEY_MAX_AGE_MS + 1),
      accept('signed_prekey_from_the_future', 'a signed prekey dated after the initiator\'s clock is not refused (§6.1)', good, CREATED_AT - 86_400_000),
      refuse('extra_field', 'no field beyond those listed (§6.3)', { ...json, relay: 'x' }, 'malformed'),
      refuse('missing_address', 'the §6.3 form has address (the relay\'s answer does not: §13)', { identity: json.identity, signedPreKey: json.signedPreKey, oneTimePreKey: json.oneTimePreKey }, 'malformed'),
      refuse('padded_base64', 'byte fields are base64url without padding (§1)', { ...json, signedPreKey: { ...json.signedPreKey, publicKey: `${json.signedPreKey!.publicKey as string}=` } }, 'malformed'),
      refuse('short_key', 'byte fields decode to exactly their length (§6.3)', { ...json, signedPreKey: { ...json.signedPreKey, publicKey: (json.signedPreKey!.publicKey as string).slice(0, 42) } }, 'malformed'),
      refuse('id_out_of_range', 'ids are u32 (§6.3)', { ...json, oneTimePreKey: { ...json.oneTimePreKey, id: 2 ** 32 } }, 'malformed'),
      refuse('bad_username', 'the address user matches [a-z0-9_]{3,32} (§4.2)', { ...json, address: { user: 'Bob', device: 1 } }, 'malformed'),
    ],
  };
}
