// Our prekeys on the relay: publish the whole bundle, top one-time prekeys up when the relay runs
// low, and rotate the signed prekey on a schedule (old ones are kept for a grace period).
import {
  generateOneTimePreKeys,
  generateSignedPreKey,
  identityToJson,
  oneTimePreKeyToJson,
  publicOneTimePreKey,
  publicSignedPreKey,
  signedPreKeyToJson,
} from '../../crypto/prekeys.js';
import { publicIdentity } from '../../crypto/identity.js';
import { CliError } from '../errors.js';
import type { Client } from './context.js';
import { tx } from './db.js';
import {
  allOneTimePreKeys,
  currentSignedPreKey,
  ONE_TIME_PREKEY_BATCH,
  ONE_TIME_PREKEY_LOW,
  pruneSignedPreKeys,
  reserveIds,
  saveOneTimePreKeys,
  saveSignedPreKey,
  SIGNED_PREKEY_ROTATE_MS,
} from './prekey-store.js';
import { addOneTimePreKeys, oneTimePreKeyCount, putKeys, putSignedPreKey } from './relay-api.js';
import type { RelayTarget } from './relay-http.js';

/** Makes the first signed prekey and a batch of one-time prekeys (keygen). */
export function createInitialPreKeys(c: Client): void {
  tx(c.db, () => {
    const spk = generateSignedPreKey(c.secrets.identity, reserveIds(c.db, 'next_signed_id', 1), c.now(), c.random);
    saveSignedPreKey(c.db, c.sealer, spk);
    const first = reserveIds(c.db, 'next_one_time_id', ONE_TIME_PREKEY_BATCH);
    saveOneTimePreKeys(c.db, c.sealer, generateOneTimePreKeys(first, ONE_TIME_PREKEY_BATCH, c.random));
  });
}

/** Replaces our bundle on the relay with the identity, current signed prekey and every unused one-time prekey. */
export async function publishKeys(c: Client, t: RelayTarget): Promise<number> {
  const spk = currentSignedPreKey(c.db, c.sealer);
  if (!spk) throw new CliError('no_prekeys', 'this home has no signed prekey', { hint: 'run `fastchat keygen --force`' });
  let otks = allOneTimePreKeys(c.db, c.sealer);
  if (otks.length < ONE_TIME_PREKEY_LOW) {
    topUpLocal(c);
    otks = allOneTimePreKeys(c.db, c.sealer);
  }
  await putKeys(t, {
    identity: identityToJson(publicIdentity(c.secrets.identity)),
    signedPreKey: signedPreKeyToJson(publicSignedPreKey(spk)),
    oneTimePreKeys: otks.map((k) => oneTimePreKeyToJson(publicOneTimePreKey(k))),
  });
  return otks.length;
}

function topUpLocal(c: Client): ReturnType<typeof generateOneTimePreKeys> {
  return tx(c.db, () => {
    const first = reserveIds(c.db, 'next_one_time_id', ONE_TIME_PREKEY_BATCH);
    const keys = generateOneTimePreKeys(first, ONE_TIME_PREKEY_BATCH, c.random);
    saveOneTimePreKeys(c.db, c.sealer, keys);
    return keys;
  });
}

/** Uploads a fresh batch when the relay holds fewer than ONE_TIME_PREKEY_LOW (count from hello/prekeys_low, or asked). */
export async function topUpIfLow(c: Client, t: RelayTarget, relayCount?: number): Promise<boolean> {
  const n = relayCount ?? (await oneTimePreKeyCount(t));
  if (n >= ONE_TIME_PREKEY_LOW) return false;
  const keys = topUpLocal(c);
  await addOneTimePreKeys(t, keys.map((k) => oneTimePreKeyToJson(publicOneTimePreKey(k))));
  return true;
}

/** Rotates the signed prekey when it is older than SIGNED_PREKEY_ROTATE_MS and prunes expired ones. */
export async function rotateIfDue(c: Client, t: RelayTarget): Promise<boolean> {
  const current = currentSignedPreKey(c.db, c.sealer);
  const now = c.now();
  if (current && now - current.createdAt < SIGNED_PREKEY_ROTATE_MS) return false;
  const spk = generateSignedPreKey(c.secrets.identity, reserveIds(c.db, 'next_signed_id', 1), now, c.random);
  // Upload first: if the relay is unreachable the old key stays current and we try next time.
  await putSignedPreKey(t, signedPreKeyToJson(publicSignedPreKey(spk)));
  tx(c.db, () => {
    saveSignedPreKey(c.db, c.sealer, spk);
    pruneSignedPreKeys(c.db, now);
  });
  return true;
}
