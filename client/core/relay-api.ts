// Typed calls of the relay's HTTP API. Answers are validated before use: the relay is not trusted
// with anything that matters (a bad bundle fails its signatures in verifyBundle), but a malformed
// answer should be a clear error, not a TypeError somewhere later.
import * as z from 'zod/mini';
import { verifyIdentity, type PublicIdentity } from '../../crypto/identity.js';
import { bundleFromJson, identityFromJson, verifyBundle, type PreKeyBundle, type PublicOneTimePreKeyJson, type PublicSignedPreKeyJson, type PublicIdentityJson } from '../../crypto/prekeys.js';
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { isLegacyDeviceList } from '../../crypto/device-list.js';
import { CliError } from '../errors.js';
import { request, RelayError, type RelayTarget } from './relay-http.js';

// zod/mini (zod's tree-shakable API): the web page bundles this file.
const int = () => z.number().check(z.int());
const SessionAnswer = z.object({ token: z.string().check(z.minLength(1)), expiresAt: z.string(), username: z.string(), deviceId: int() });
const KeysAnswer = z.object({
  username: z.string(),
  devices: z.array(z.object({ deviceId: int(), identity: z.unknown(), signedPreKey: z.unknown(), oneTimePreKey: z.unknown() })),
});

const DeviceListsAnswer = z.object({
  username: z.string(),
  lists: z.array(z.object({ version: int().check(z.positive()), list: z.string().check(z.maxLength(8192)) })).check(z.maxLength(1000)),
  more: z.boolean(),
});

/** Pages of device lists one fetch follows at most: 200 × 64 lists covers the relay's 10,000 versions. */
const MAX_DEVICE_LIST_PAGES = 200;

/**
 * Every device list of `username` after version `since`, oldest first, as bytes (nothing checked
 * but the encoding: crypto/device-list.ts acceptDeviceLists decides what they are worth).
 */
export async function fetchDeviceLists(t: RelayTarget, username: string, since: number, opts: { firstFormat?: boolean } = {}): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let after = since;
  for (let page = 0; page < MAX_DEVICE_LIST_PAGES; page++) {
    let raw: unknown;
    try {
      raw = await request(t, 'GET', `/v1/devices/${encodeURIComponent(username)}?since=${after}`);
    } catch (e) {
      if (e instanceof RelayError && e.code === 'unknown_user') throw new CliError('unknown_user', `unknown user @${username} on this relay`);
      // A relay from before device lists has no such route: nobody there has a list.
      if (e instanceof RelayError && e.code === 'not_found') return [];
      throw e;
    }
    const a = parse(DeviceListsAnswer, raw, 'device list');
    for (const l of a.lists) {
      // A relay serving a page out of order or going back would loop us: each page must go forward.
      if (l.version <= after) throw new CliError('bad_response', 'the relay sent device lists out of order');
      after = l.version;
      try {
        const bytes = fromBase64url(l.list);
        // A list from before entry signatures is no list (PROTOCOL.md D.7): it vouches for nobody,
        // and the account's next upload replaces it on the relay.
        if (opts.firstFormat || !isLegacyDeviceList(bytes)) out.push(bytes);
      } catch {
        throw new CliError('bad_response', 'the relay sent a device list that is not base64url');
      }
    }
    if (!a.more || a.lists.length === 0) return out;
  }
  throw new CliError('bad_response', `the relay sent more than ${MAX_DEVICE_LIST_PAGES} pages of device lists`);
}

/** Stores our account's next device list (or, `replace`, a new version 1 in place of all). */
export async function putDeviceList(t: RelayTarget, list: Uint8Array, replace = false): Promise<void> {
  await request(t, 'PUT', '/v1/devices', { list: toBase64url(list), ...(replace ? { replace: true } : {}) });
}

const IdentitiesAnswer = z.object({ username: z.string(), devices: z.array(z.object({ deviceId: int(), identity: z.unknown() })) });

function parse<T>(schema: z.ZodMiniType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new CliError('bad_response', `the relay sent a malformed ${what} answer`);
  return r.data;
}

export async function createAccount(t: RelayTarget, username: string, password: string): Promise<void> {
  await request(t, 'POST', '/v1/accounts', { username, password });
}

export async function createSession(t: RelayTarget, username: string, password: string, deviceId: number): Promise<z.infer<typeof SessionAnswer>> {
  return parse(SessionAnswer, await request(t, 'POST', '/v1/sessions', { username, password, deviceId }), 'login');
}

export async function deleteSession(t: RelayTarget): Promise<void> {
  await request(t, 'DELETE', '/v1/sessions');
}

const RevokedAnswer = z.object({ revoked: int().check(z.nonnegative()) });

/** Revokes every token of the account (this one too); returns how many there were. */
export async function deleteAllSessions(t: RelayTarget): Promise<number> {
  return parse(RevokedAnswer, await request(t, 'DELETE', '/v1/sessions/all'), 'logout').revoked;
}

const PasswordAnswer = z.extend(SessionAnswer, { revoked: int().check(z.nonnegative()) });

/** Changes the password; every token is revoked and the answer carries this device's new one. */
export async function changePassword(t: RelayTarget, oldPassword: string, newPassword: string): Promise<z.infer<typeof PasswordAnswer>> {
  return parse(PasswordAnswer, await request(t, 'POST', '/v1/password', { oldPassword, newPassword }), 'password change');
}

export interface KeyUpload {
  identity: PublicIdentityJson;
  signedPreKey: PublicSignedPreKeyJson;
  oneTimePreKeys: PublicOneTimePreKeyJson[];
}

export async function putKeys(t: RelayTarget, keys: KeyUpload): Promise<void> {
  await request(t, 'PUT', '/v1/keys', keys);
}

export async function addOneTimePreKeys(t: RelayTarget, oneTimePreKeys: PublicOneTimePreKeyJson[]): Promise<number> {
  const r = (await request(t, 'POST', '/v1/keys/one-time', { oneTimePreKeys })) as { oneTimePreKeys?: unknown };
  return typeof r.oneTimePreKeys === 'number' ? r.oneTimePreKeys : -1;
}

export async function putSignedPreKey(t: RelayTarget, signedPreKey: PublicSignedPreKeyJson): Promise<void> {
  await request(t, 'PUT', '/v1/keys/signed', { signedPreKey });
}

export async function oneTimePreKeyCount(t: RelayTarget): Promise<number> {
  const r = (await request(t, 'GET', '/v1/keys/count')) as { oneTimePreKeys?: unknown };
  return typeof r.oneTimePreKeys === 'number' ? r.oneTimePreKeys : 0;
}

async function keyDirectory(t: RelayTarget, username: string, suffix: string): Promise<unknown> {
  try {
    return await request(t, 'GET', `/v1/keys/${encodeURIComponent(username)}${suffix}`);
  } catch (e) {
    if (e instanceof RelayError && (e.code === 'unknown_user' || e.status === 404)) {
      throw new CliError('unknown_user', `unknown user @${username} on this relay`, { hint: 'check the spelling; `fastchat who` lists who is online' });
    }
    throw e;
  }
}

function noKeys(username: string): CliError {
  return new CliError('no_keys_published', `@${username} has not published keys yet`);
}

/**
 * Every device's public identity of `username`, signatures verified, consuming no one-time
 * prekey: what `send` checks for a changed key when sessions already exist.
 */
export async function fetchIdentities(t: RelayTarget, username: string): Promise<{ address: { user: string; device: number }; identity: PublicIdentity }[]> {
  const a = parse(IdentitiesAnswer, await keyDirectory(t, username, '/identity'), 'key directory');
  if (a.devices.length === 0) throw noKeys(username);
  return a.devices.map((d) => {
    const identity = identityFromJson(d.identity);
    verifyIdentity(identity);
    return { address: { user: username, device: d.deviceId }, identity };
  });
}

/**
 * The identity the relay publishes for one device of `username`, or null when that device has
 * published none. Only compared with our own (login), so the signature is not what matters here.
 */
export async function publishedIdentity(t: RelayTarget, username: string, deviceId: number): Promise<PublicIdentity | null> {
  const a = parse(IdentitiesAnswer, await keyDirectory(t, username, '/identity'), 'key directory');
  const d = a.devices.find((x) => x.deviceId === deviceId);
  return d ? identityFromJson(d.identity) : null;
}

/** Every device's bundle of `username`, each with both signatures verified (takes one-time prekeys). */
export async function fetchBundles(t: RelayTarget, username: string): Promise<PreKeyBundle[]> {
  const a = parse(KeysAnswer, await keyDirectory(t, username, ''), 'key directory');
  if (a.devices.length === 0) throw noKeys(username);
  return a.devices.map((d) => {
    const b = bundleFromJson({ address: { user: username, device: d.deviceId }, identity: d.identity, signedPreKey: d.signedPreKey, oneTimePreKey: d.oneTimePreKey ?? null });
    verifyBundle(b);
    return b;
  });
}

/**
 * `synced`: for a group message, that we ran a receive pass and still want it stored though the
 * relay has seen a newer epoch of the group (its stale_epoch fence; docs/RELAY.md).
 */
export async function postMessage(t: RelayTarget, id: string, to: { user: string; device: number }[], body: string, opts: { synced?: boolean } = {}): Promise<{ storedAt: string }> {
  // Idempotent: the relay stores a client id once and answers a resubmission like the first
  // submission, so a retry after a dropped connection cannot deliver a message twice.
  const r = (await request(t, 'POST', '/v1/messages', { id, to, body, ...(opts.synced ? { synced: true } : {}) }, { idempotent: true })) as { storedAt?: unknown };
  return { storedAt: typeof r.storedAt === 'string' ? r.storedAt : new Date().toISOString() };
}

export async function presence(t: RelayTarget): Promise<string[]> {
  const r = parse(z.object({ online: z.array(z.string()) }), await request(t, 'GET', '/v1/presence'), 'presence');
  return r.online;
}
