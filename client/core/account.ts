// The relay account of a home: register (create + log in + publish keys), log in again (which
// also re-publishes our bundle, e.g. after `keygen --force`), log out (here or everywhere), change
// the password.
import { equalBytes } from '../../crypto/encoding.js';
import { encodePublicIdentity, fingerprint, publicIdentity } from '../../crypto/identity.js';
import { foldUsername } from '../format.js';
import { CliError, usageError } from '../errors.js';
import { clearToken, loadToken, saveConfig, saveToken } from './config.js';
import { relayTarget, type Client, type PublicHome } from './context.js';
import { AccountKeyDiffers, assertOwnAccountKey, publishDeviceList } from './device-lists.js';
import { publishKeys } from './prekeys.js';
import { getNewPassword, getPassword, passwordHint, passwordProblem } from './prompt.js';
import { changePassword as changePasswordOnRelay, createAccount, createSession, deleteAllSessions, deleteSession, publishedIdentity } from './relay-api.js';
import { relayIdSeen, RelayError, request, type RelayTarget } from './relay-http.js';

export function checkUsername(username: string): string {
  const u = foldUsername(username);
  if (u === undefined) throw usageError(`invalid username "${username}"`, 'usernames are 3 to 32 characters: a-z, 0-9 and _ (capitals are folded to lower case)');
  return u;
}

export function checkRelayUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw usageError(`invalid relay URL "${url}"`, 'for example http://127.0.0.1:8443 or https://chat.example.org');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usageError(`the relay URL must be http or https, got "${url}"`);
  return u.origin;
}

export interface AccountResult {
  username: string;
  relay: string;
  deviceId: number;
  oneTimePreKeys: number;
}

/**
 * The relay id this home expects at `url`: the one it registered on, unless the user says the
 * relay there is a new one (`--new-relay`) or names another URL.
 */
function expectedRelay(c: Client, url: string, newRelay: boolean): { relayId?: string } {
  return !newRelay && c.config.relayId && url === c.config.relay ? { relayId: c.config.relayId } : {};
}

/**
 * Before register or login (which change state on the relay), asks which relay answers: a reset
 * or replaced relay is named as such, instead of "wrong password" or a fresh account made there.
 */
async function checkSameRelay(t: RelayTarget): Promise<void> {
  if (!t.relayId) return;
  try {
    await request(t, 'GET', '/healthz');
  } catch (e) {
    if (e instanceof RelayError) return; // e.g. 503 storage full: the id was checked before the status
    throw e;
  }
}

/**
 * Until an account can have several devices that each keep their own keys, one home's login must
 * not silently replace the keys another home published for the same device: every contact would
 * see a changed identity, and both homes would go on working with different keys. Unless told to
 * replace them, a login whose device already has other keys on the relay is refused, and the
 * token it was given is handed back.
 */
async function refuseOtherKeys(c: Client, t: RelayTarget, username: string, deviceId: number): Promise<void> {
  const theirs = await publishedIdentity(t, username, deviceId);
  const ours = publicIdentity(c.secrets.identity);
  if (theirs === null || equalBytes(encodePublicIdentity(theirs), encodePublicIdentity(ours))) return;
  // Best effort: the refusal is the answer either way, and an unused token expires by itself.
  await deleteSession(t).catch(() => undefined);
  const short = (fp: string): string => fp.split(' ').slice(0, 4).join(' ');
  throw new CliError(
    'keys_differ',
    `the relay has other keys for @${username} (device ${deviceId}, fingerprint ${short(fingerprint(theirs))} …) than this home (${short(fingerprint(ours))} …): another home published them; nothing was changed`,
    {
      hint: `logging in here would replace them, and every contact would see a changed key and have to verify it again. Use the home that has them (FASTCHAT_HOME), or run \`fastchat login ${username} --replace-keys\` to make this home's keys the account's`,
    },
  );
}

/** As refuseOtherKeys, for the account key: lists signed by another home's account key stay. */
async function refuseOtherAccountKey(c: Client, t: RelayTarget, username: string): Promise<void> {
  try {
    await assertOwnAccountKey(c, t, username);
  } catch (e) {
    if (e instanceof AccountKeyDiffers) await deleteSession(t).catch(() => undefined);
    throw e;
  }
}

async function logInAndPublish(c: Client, t: RelayTarget, username: string, password: string, replaceKeys: boolean): Promise<AccountResult> {
  const deviceId = c.config.username === username ? (c.config.deviceId ?? 1) : 1;
  let s;
  try {
    s = await createSession(t, username, password, deviceId);
  } catch (e) {
    if (e instanceof RelayError && e.code === 'bad_credentials') {
      throw new CliError('bad_credentials', `wrong username or password for @${username}`, { hint: passwordHint() });
    }
    if (e instanceof RelayError && e.code === 'device_removed') {
      throw new CliError('device_removed', `this home is device ${deviceId} of @${username}, which another device of the account removed: it cannot log in as that device again`, {
        hint: `to use this computer for @${username} again, make a new home and link it: FASTCHAT_HOME=<new dir> fastchat device link --relay ${t.url} --user ${username}`,
      });
    }
    throw e;
  }
  if (!replaceKeys) {
    await refuseOtherKeys(c, { ...t, token: s.token }, username, s.deviceId);
    await refuseOtherAccountKey(c, { ...t, token: s.token }, username);
  }
  saveToken(c.home, { token: s.token, expiresAt: s.expiresAt });
  const relayId = relayIdSeen(t.url);
  c.config = { ...c.config, relay: t.url, username, deviceId: s.deviceId, ...(t.ca ? { ca: t.ca } : {}), ...(relayId ? { relayId } : {}) };
  if (!t.ca) delete c.config.ca;
  if (!relayId) delete c.config.relayId;
  saveConfig(c.home, c.config);
  const n = await publishKeys(c, { ...t, token: s.token });
  // Our device in our account's signed list (version 1 on a new account); --replace-keys starts a
  // new list under this home's account key.
  await publishDeviceList(c, { ...t, token: s.token }, username, s.deviceId, { replace: replaceKeys });
  return { username, relay: t.url, deviceId: s.deviceId, oneTimePreKeys: n };
}

/** `password`: given by a caller that asked for it already (the page's form); else from the prompt. */
export async function register(c: Client, username: string, relay: string, ca: string | undefined, newRelay = false, password?: string): Promise<AccountResult> {
  if (c.config.username && c.config.username !== username && loadToken(c.home)) {
    throw new CliError('already_registered', `this home is already logged in as @${c.config.username}`, {
      hint: 'use another FASTCHAT_HOME for a second account, or `fastchat logout` first',
    });
  }
  const t: RelayTarget = { url: relay, ...(ca ? { ca } : {}), ...expectedRelay(c, relay, newRelay) };
  await checkSameRelay(t);
  if (password !== undefined) {
    const problem = passwordProblem(password);
    if (problem) throw usageError(`the relay password is ${problem}`);
  } else password = await getPassword({ fresh: true });
  try {
    await createAccount(t, username, password);
  } catch (e) {
    if (e instanceof RelayError && e.code === 'username_taken') {
      throw new CliError('username_taken', `the username @${username} is already taken on ${relay}`, {
        hint: `if it is yours, run \`fastchat login ${username} --relay ${relay}\`; otherwise pick another name`,
      });
    }
    if (e instanceof RelayError && e.code === 'invalid_username') throw usageError(`the relay refuses the username "${username}": ${e.message}`);
    throw e;
  }
  // A new account has no keys published yet; the same check as login guards a race for the name.
  return logInAndPublish(c, t, username, password, false);
}

/** `password`: given by a caller that asked for it already (the page's "log in again" form); else from the prompt. */
export async function login(c: Client, username: string, relay: string | undefined, ca: string | undefined, replaceKeys = false, newRelay = false, password?: string): Promise<AccountResult> {
  const url = relay ?? c.config.relay;
  if (!url) throw usageError('no relay URL', 'pass --relay URL (it is remembered afterwards)');
  const t: RelayTarget = { url, ...((ca ?? (relay ? undefined : c.config.ca)) ? { ca: (ca ?? c.config.ca)! } : {}), ...expectedRelay(c, url, newRelay) };
  await checkSameRelay(t);
  if (password !== undefined && password.length === 0) throw usageError('the relay password is empty');
  return logInAndPublish(c, t, username, password ?? (await getPassword()), replaceKeys);
}

/** Revokes the token on the relay (best effort) and forgets it locally. */
export async function logout(c: { home: Client['home']; config: Client['config'] }): Promise<{ revoked: boolean }> {
  const token = loadToken(c.home);
  let revoked = false;
  if (token && c.config.relay) {
    try {
      await deleteSession({ url: c.config.relay, token: token.token, ...(c.config.ca ? { ca: c.config.ca } : {}) });
      revoked = true;
    } catch {
      // The relay is down or the token already expired: forgetting it locally is what matters.
    }
  }
  clearToken(c.home);
  return { revoked };
}

/**
 * Logs every device of the account out (the relay revokes every token and closes their sockets),
 * then forgets this home's token. Unlike `logout`, a relay that cannot be told is an error: the
 * other devices would still be logged in, so the token is kept for a retry.
 */
export async function logoutEverywhere(c: PublicHome): Promise<{ revoked: number }> {
  const revoked = await deleteAllSessions(relayTarget(c));
  clearToken(c.home);
  return { revoked };
}

/**
 * Changes the account password (the current one from FASTCHAT_PASSWORD or a prompt, the new one
 * from FASTCHAT_NEW_PASSWORD or a prompt asked twice). The relay revokes every token of the account
 * and closes their sockets; this home keeps working with the new token it is given.
 */
/** `revoked` counts every token the relay revoked, this home's old one included. */
export async function changePassword(c: PublicHome): Promise<{ username: string; revoked: number }> {
  const t = relayTarget(c);
  const username = c.config.username!;
  const oldPassword = await getPassword();
  const newPassword = await getNewPassword();
  let r;
  try {
    r = await changePasswordOnRelay(t, oldPassword, newPassword);
  } catch (e) {
    if (e instanceof RelayError && e.code === 'bad_credentials') {
      throw new CliError('bad_credentials', `wrong current password for @${username}; nothing was changed`, { hint: passwordHint() });
    }
    throw e;
  }
  saveToken(c.home, { token: r.token, expiresAt: r.expiresAt });
  return { username, revoked: r.revoked };
}
