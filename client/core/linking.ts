// Linking a device to an account (docs/PROTOCOL.md D.8–D.12, docs/CLI.md "device"): the new
// device's side (`device link`: open a channel, wait, receive, log in with the ticket, publish its
// keys and the next device list) and an existing device's side (`device approve CODE`: fetch the
// request, confirm its fingerprint, get a device ticket, seal and send the provisioning message);
// `device list` and `device remove N` (sign the next list without N).
// The protocol rules are crypto/provision.ts; this file is the order of the steps and the relay.
import { codeOfLinkAddress, isLinkAddress, linkAddress } from './link-address.js';
import * as z from 'zod/mini';
import type { AccountKeyPair } from '../../crypto/account.js';
import { acceptDeviceLists, firstDeviceList, isLegacyDeviceList, nextDeviceList, signDeviceEntry, verifyDeviceList, type DeviceList } from '../../crypto/device-list.js';
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import { fingerprint, publicIdentity, type PublicIdentity } from '../../crypto/identity.js';
import { generateKeyPair } from '../../crypto/dh.js';
import { PROVISION_MAX_CONTACTS } from '../../crypto/consts.js';
import {
  formatPairingCode,
  generatePairingCode,
  makeLinkRequest,
  openLinkRequest,
  openProvisionMessage,
  parsePairingCode,
  sealProvisionMessage,
  type PairingCode,
  type ProvisionContact,
  type ProvisionMessage,
} from '../../crypto/provision.js';
import { CliError, usageError } from '../errors.js';
import { saveConfig, saveToken } from './config.js';
import { listContacts, writeContact } from './contacts.js';
import type { Client } from './context.js';
import { refreshOwnList } from './fanout.js';
import { relayTarget } from './context.js';
import { tx } from './db.js';
import { AccountKeyDiffers, publishDeviceList } from './device-lists.js';
import { accountKeyOf } from './secrets.js';
import { publishKeys } from './prekeys.js';
import { isUnreachable, relayIdSeen, RelayError, request, REQUEST_TIMEOUT_MS, type RelayTarget } from './relay-http.js';

/** How often the new device asks the relay whether its channel was answered. */
const POLL_MS = 1000;
/** How many channel names the new device tries when the relay says one is taken. */
const OPEN_TRIES = 3;
/**
 * The wait before asking again after a failure that may pass (isTransient): 1 s, doubled up to
 * 5 s. Short, because a person is watching the new device; the take is cheap for the relay.
 */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 5000;
/** How often the approver sends its answer when the relay's reply does not come (waits 1+2+4 s). */
const ANSWER_TRIES = 4;

// zod/mini (zod's tree-shakable API): the web page bundles this file.
const pattern = (re: RegExp) => z.string().check(z.regex(re));
const int = () => z.number().check(z.int());
const OpenAnswer = z.object({ secret: pattern(/^[A-Za-z0-9_-]{43}$/), expiresAt: z.string() });
const TakeAnswer = z.union([z.object({ waiting: z.literal(true) }), z.object({ message: pattern(/^[A-Za-z0-9_-]+$/) })]);
const RequestAnswer = z.object({ request: pattern(/^[A-Za-z0-9_-]+$/) });
const TicketAnswer = z.object({ ticket: pattern(/^[A-Za-z0-9_-]{43}$/), device: int().check(z.minimum(1)), expiresAt: z.string() });
const SessionAnswer = z.object({ token: z.string().check(z.minLength(1)), expiresAt: z.string(), username: z.string(), deviceId: int().check(z.minimum(1)) });
const ListsAnswer = z.object({ lists: z.array(z.object({ version: int(), list: z.string() })), more: z.boolean() });

function parse<T>(schema: z.ZodMiniType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new CliError('bad_response', `the relay sent a malformed ${what} answer`);
  return r.data;
}

const isRelayCode = (e: unknown, code: string): boolean => e instanceof RelayError && e.code === code;

/**
 * A failure that may pass if asked again: the relay unreachable (down, a connection reset, or a
 * request timed out: a laptop that slept in the middle of one wakes to its timeout), overloaded,
 * or failing inside (5xx). Every other refusal is the relay's definite answer.
 */
function isTransient(e: unknown): boolean {
  return isUnreachable(e) || (e instanceof RelayError && (e.status === 429 || e.status >= 500));
}

/** The wait before try `attempt + 1`: the backoff, or longer when the relay asked for it (Retry-After). */
function retryDelayMs(attempt: number, e: unknown): number {
  const backoff = Math.min(RETRY_FIRST_MS * 2 ** (attempt - 1), RETRY_MAX_MS);
  const asked = e instanceof RelayError && e.retryAfter !== undefined ? e.retryAfter * 1000 : 0;
  return Math.max(backoff, asked);
}

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/**
 * What the person at the terminal hears while a step is asked again (the command prints it on
 * stderr): once when the relay stops answering, with what failed and until when it is asked
 * again (ms since the epoch), and once when it answers again. Without it a relay that is down
 * looks like a link waiting for its approval, for up to the code's 10 minutes.
 */
export interface RetryNotices {
  retrying(why: string, until: number): void;
  through(): void;
}

/** A run of transient failures: `notices` hears once when it starts and once when it ends. */
interface Outage {
  failed(e: unknown, until: number): void;
  answered(): void;
}

function outage(notices: RetryNotices | undefined): Outage {
  let down = false;
  return {
    failed(e, until) {
      if (down) return;
      down = true;
      notices?.retrying(failureOf(e), until);
    },
    answered() {
      if (!down) return;
      down = false;
      notices?.through();
    },
  };
}

const SOCKET_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * A transient failure in a few words. Built from the error's code and status only, never its
 * message: a message can quote a URL, and the path of a linking request holds part of the code.
 */
function failureOf(e: unknown): string {
  if (e instanceof RelayError) return /^[a-z0-9_]{1,40}$/.test(e.code) ? `HTTP ${e.status} ${e.code}` : `HTTP ${e.status}`;
  const cause = e instanceof Error ? e.cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code;
  const known = typeof code === 'string' ? SOCKET_FAILURES[code] : undefined;
  if (known) return known;
  if (cause instanceof Error && cause.message === 'timed out') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  return 'unreachable';
}

// ---- device lists on the relay (what both sides need) -------------------------------------------

/** Every list of `user` the relay holds, oldest first (pages of 64). */
async function fetchDeviceLists(t: RelayTarget, user: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let page = 0; page < 200; page++) {
    const r = parse(ListsAnswer, await request(t, 'GET', `/v1/devices/${encodeURIComponent(user)}?since=${out.length}`), 'device list');
    out.push(...r.lists.map((l) => fromBase64url(l.list)));
    if (!r.more || r.lists.length === 0) return out;
  }
  return out;
}

/** The account's newest list, checked from version 1 under our account key; null when there is none. */
async function currentDeviceList(t: RelayTarget, user: string, accountKey: Uint8Array): Promise<{ list: DeviceList; bytes: Uint8Array } | null> {
  // Lists from before entry signatures are no list (D.7): the relay replaces them with the next upload.
  const lists = (await fetchDeviceLists(t, user)).filter((b) => !isLegacyDeviceList(b));
  if (lists.length === 0) return null;
  try {
    const { list } = acceptDeviceLists({ user, accountKey }, null, lists);
    return { list, bytes: lists[lists.length - 1]! };
  } catch (e) {
    if (isCryptoError(e, 'account_key_changed')) {
      throw new CliError('not_account_holder', `the device list of @${user} is signed by another account key than this home holds: this home cannot add devices to it`, {
        hint: 'approve from a device of the account that holds its account key (one linked with `fastchat device link`, or the first)',
      });
    }
    throw new CliError('bad_device_list', `the relay serves a device list of @${user} that does not verify: ${(e as Error).message}`);
  }
}

async function putDeviceList(t: RelayTarget, bytes: Uint8Array): Promise<void> {
  await request(t, 'PUT', '/v1/devices', { list: toBase64url(bytes) });
}

// ---- the existing device: device approve ----------------------------------------------------------

export interface LinkCandidate {
  user: string;
  fingerprint: string;
}

export interface ApproveResult {
  user: string;
  device: number;
  fingerprint: string;
  contacts: number;
}

/**
 * Approves the new device waiting with `typed`. `confirm` is shown the new device's fingerprint and
 * decides: the user compares it with what the new device prints, which is what stops a relay that
 * passes off a request of its own (docs/THREAT_MODEL.md). Nothing is sent before it says yes.
 */
export async function approveDevice(c: Client, typed: string, confirm: (who: LinkCandidate) => Promise<boolean>, notices?: RetryNotices): Promise<ApproveResult> {
  let code: PairingCode;
  if (isLinkAddress(typed)) typed = codeOfLinkAddress(typed, { relay: c.config.relay!, user: c.config.username! });
  try {
    code = parsePairingCode(typed);
  } catch {
    throw usageError(`"${typed.slice(0, 40)}" is not a pairing code`, 'a code is 16 characters in four groups, as `fastchat device link` shows it, e.g. abcd-efgh-jkmn-pqrs');
  }
  const t = relayTarget(c);
  const user = c.config.username!;
  const ours = c.config.deviceId ?? 1;
  let raw: string;
  try {
    raw = parse(RequestAnswer, await request(t, 'GET', `/v1/link/${code.channel}`), 'link request').request;
  } catch (e) {
    if (isRelayCode(e, 'link_conflict')) throw linkUsed();
    if (isRelayCode(e, 'link_not_found')) {
      throw new CliError('link_not_found', `no device of @${user} is waiting with this code: it expired, was used already, or is mistyped`, {
        hint: 'run `fastchat device link` on the new device again and type the code it shows',
      });
    }
    throw e;
  }
  let req;
  try {
    req = openLinkRequest(code, fromBase64url(raw));
  } catch (e) {
    if (isCryptoError(e, 'wrong_code')) {
      throw new CliError('wrong_code', 'the waiting device does not match this code: it is mistyped, or the relay served another request; nothing was sent', {
        hint: 'type the code again exactly as the new device shows it',
      });
    }
    throw new CliError('bad_link_request', `the waiting device's request does not verify (${isCryptoError(e) ? e.code : 'error'}); nothing was sent`);
  }
  if (req.user !== user) {
    throw new CliError('wrong_account', `the waiting device asks to join @${req.user}, but this home is @${user}; nothing was sent`, {
      hint: `approve it from a device of @${req.user}`,
    });
  }
  const fp = fingerprint(req.identity);
  if (!(await confirm({ user: req.user, fingerprint: fp }))) {
    throw new CliError('not_confirmed', 'not approved: nothing was sent', { hint: 'approve only a device whose fingerprint matches the one it shows' });
  }

  const account = accountKeyOf(c.secrets);
  let current = await currentDeviceList(t, user, account.publicKey);
  if (current === null) {
    // The account has no list yet (every device so far logged in with the password): this device
    // starts it, so the new one has a list to add itself to.
    current = firstDeviceList(account, user, [signDeviceEntry(c.secrets.identity, { user, accountKey: account.publicKey }, ours, c.now())]);
    await putDeviceList(t, current.bytes);
  } else if (!current.list.devices.some((d) => d.device === ours)) {
    throw new CliError('not_account_holder', `this home (device ${ours}) is not in the device list of @${user}: it cannot add devices`);
  }
  let ticket;
  try {
    ticket = parse(TicketAnswer, await request(t, 'POST', '/v1/devices/tickets', undefined, { idempotent: false }), 'device ticket');
  } catch (e) {
    if (isRelayCode(e, 'too_many_devices')) throw new CliError('too_many_devices', `@${user} has as many devices as the relay allows; remove one first`);
    throw e;
  }
  const contacts = contactsToSend(c);
  const message: ProvisionMessage = { user, accountKey: account, deviceList: current.bytes, device: ticket.device, ticket: ticket.ticket, contacts };
  const sealed = sealProvisionMessage(code, req, message, c.random);
  try {
    await answerChannel(t, code.channel, toBase64url(sealed), outage(notices));
  } catch (e) {
    if (isRelayCode(e, 'link_conflict')) throw linkUsed();
    if (isRelayCode(e, 'link_not_found')) throw new CliError('link_not_found', 'the code expired while it was being approved; nothing was linked', { hint: 'run `fastchat device link` again' });
    throw e;
  }
  return { user, device: ticket.device, fingerprint: fp, contacts: contacts.length };
}

function linkUsed(): CliError {
  return new CliError('link_used', 'this code was approved already: a code links one device once; nothing was sent', {
    hint: 'the device it was approved for links with that approval; to link another device, run `fastchat device link` there',
  });
}

/**
 * Leaves the sealed message in the channel. Safe to send again: the relay keeps the same message
 * as stored (a second, different one is link_conflict), so a reply lost to a timeout or a dropped
 * connection is asked for again a few times before the approval fails.
 */
async function answerChannel(t: RelayTarget, channel: string, message: string, down: Outage): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await request(t, 'PUT', `/v1/link/${channel}`, { message });
      down.answered();
      return;
    } catch (e) {
      if (!isTransient(e) || attempt >= ANSWER_TRIES) throw e;
      // Each try left may wait for its answer up to the request timeout: with the waits between
      // them, that is the latest this can end.
      let until = Date.now();
      for (let k = attempt; k < ANSWER_TRIES; k++) until += retryDelayMs(k, e) + REQUEST_TIMEOUT_MS;
      down.failed(e, until);
      await sleep(retryDelayMs(attempt, e));
    }
  }
}

/** The contacts whose record verifies, the most recently updated first, as many as fit (D.10). */
function contactsToSend(c: Client): ProvisionContact[] {
  const ok = listContacts(c).filter((k) => k.integrity === 'ok');
  ok.sort((a, b) => b.updatedAt - a.updatedAt);
  return ok.slice(0, PROVISION_MAX_CONTACTS).map((k) => ({ user: k.username, trust: k.trust, identity: k.identity, pendingIdentity: k.trust === 'changed' ? k.pendingIdentity : null }));
}

// ---- the new device: device link ------------------------------------------------------------------

export interface Waiting {
  code: string; // as shown: abcd-efgh-jkmn-pqrs
  link: string; // the link address (link-address.ts), shown as a QR code
  fingerprint: string; // this device's identity
  expiresAt: string;
}

export interface LinkResult {
  user: string;
  device: number;
  relay: string;
  fingerprint: string;
  contacts: number;
  deviceListVersion: number;
}

/**
 * Keeps the account key a link brought with this home's secrets before the link goes on, so that a
 * link stopped after this is finished by resumeLink: the CLI seals it into the keystore file
 * (client/node/account-key.ts), the page keeps it in its vault with the rest of its home
 * (web/src/chat.ts). linkDevice then puts it in `c.secrets`.
 */
export type KeepAccountKey = (account: AccountKeyPair) => Promise<void>;

/**
 * Opens a channel for `user` on `relay`, tells `waiting` the code to type on a device of the
 * account, and waits (until the channel expires) for the provisioning message. Then: checks it
 * (D.11), logs in with the ticket, keeps the account key (`keepAccountKey`), stores the contacts,
 * publishes this home's keys and the next device list with this device in it.
 */
export async function linkDevice(c: Client, target: { url: string; ca?: string }, user: string, keepAccountKey: KeepAccountKey, waiting: (w: Waiting) => void, notices?: RetryNotices): Promise<LinkResult> {
  if (c.config.linking && c.config.username === user && c.config.relay === target.url) return resumeLink(c);
  if (c.config.username) {
    throw new CliError('already_registered', `this home is already @${c.config.username}'s`, {
      hint: c.config.linking
        ? `it is half-way through linking as @${c.config.username} on ${c.config.relay}: run \`fastchat device link --relay ${c.config.relay} --user ${c.config.username}\` to finish that`
        : 'link a new device from a new home (FASTCHAT_HOME)',
    });
  }
  const t: RelayTarget = { url: target.url, ...(target.ca ? { ca: target.ca } : {}) };
  const me = publicIdentity(c.secrets.identity);
  const ephemeral = generateKeyPair(c.random);
  let opened: { code: PairingCode; request: Uint8Array; secret: string; expiresAt: string } | undefined;
  for (let i = 0; i < OPEN_TRIES && !opened; i++) {
    const code = generatePairingCode(c.random);
    const req = makeLinkRequest(c.secrets.identity, ephemeral, { user, createdAt: c.now(), code });
    try {
      const r = parse(OpenAnswer, await request(t, 'POST', '/v1/link', { channel: code.channel, request: toBase64url(req) }, { idempotent: false }), 'link');
      opened = { code, request: req, secret: r.secret, expiresAt: r.expiresAt };
    } catch (e) {
      if (isRelayCode(e, 'link_conflict')) continue;
      if (isRelayCode(e, 'unknown_user')) throw new CliError('unknown_user', `there is no account @${user} on ${t.url}`);
      throw e;
    }
  }
  if (!opened) throw new CliError('link_busy', 'the relay refused three pairing codes in a row as taken; try again');
  const shown = formatPairingCode(opened.code);
  waiting({ code: shown, link: linkAddress({ relay: t.url, user, code: shown }), fingerprint: fingerprint(me), expiresAt: opened.expiresAt });

  const down = outage(notices);
  const envelope = await waitForMessage(t, opened.code.channel, opened.secret, Date.parse(opened.expiresAt), down);
  let m: ProvisionMessage;
  try {
    m = openProvisionMessage(opened.code, opened.request, ephemeral.privateKey, envelope, user);
  } catch (e) {
    if (isCryptoError(e, 'wrong_account')) throw new CliError('wrong_account', `the device that approved is not @${user}'s; nothing was changed`);
    throw new CliError('bad_provisioning_message', 'the message that came back does not open under the code (altered on the way, or not from the approving device); nothing was changed', {
      hint: 'run `fastchat device link` again',
    });
  }
  const prior = m.deviceList === null ? null : verifyDeviceList({ user, accountKey: m.accountKey.publicKey }, m.deviceList);
  if (prior === null) throw new CliError('bad_provisioning_message', 'the approving device sent no device list; nothing was changed');

  const s = await redeemTicket(t, m.ticket, toBase64url(c.random(32)), Date.parse(opened.expiresAt), down);
  if (s.username !== user || s.deviceId !== m.device) {
    throw new CliError('bad_response', `the relay logged this home in as @${s.username} device ${s.deviceId}, not the @${user} device ${m.device} that was approved`);
  }
  // From here the ticket is spent (the message stays takeable, but its ticket logs in once): what it
  // brought is stored first (token, config marked `linking`, contacts, account key), so a link
  // interrupted after this is finished by running `device link` again (resumeLink).
  saveToken(c.home, { token: s.token, expiresAt: s.expiresAt });
  const relayId = relayIdSeen(t.url);
  c.config = { ...c.config, relay: t.url, username: user, deviceId: s.deviceId, linking: true, ...(t.ca ? { ca: t.ca } : {}), ...(relayId ? { relayId } : {}) };
  saveConfig(c.home, c.config);
  const now = c.now();
  tx(c.db, () => {
    for (const k of m.contacts) {
      writeContact(c, k.user, { identity: k.identity, trust: k.trust, pendingIdentity: k.pendingIdentity, trustBefore: k.trust === 'verified' ? 'verified' : 'unverified', rejected: [], addedAt: now }, now);
    }
  });
  await keepAccountKey(m.accountKey);
  c.secrets.account = m.accountKey;
  const authed = { ...t, token: s.token, ...(relayId ? { relayId } : {}) };
  // The list first, then the keys: contacts refuse a key for a device the account's list does not
  // hold (device-lists.ts assertListed), so a bundle published before the list (or with a list
  // upload that then failed) would make every new contact refuse the whole account.
  const next = await addSelfToList(c, authed, user, m, prior);
  await publishKeys(c, authed);
  finishLinking(c);
  return { user, device: s.deviceId, relay: t.url, fingerprint: fingerprint(me), contacts: m.contacts.length, deviceListVersion: next.version };
}

function finishLinking(c: Client): void {
  const { linking: _, ...rest } = c.config;
  c.config = rest;
  saveConfig(c.home, c.config);
}

/**
 * Finishes a link that stopped after its ticket logged this home in (config `linking`): adds this
 * device to the account's list under the account key it received, then publishes its keys. If the
 * account key never reached the keystore, nothing can finish it: the code and ticket are spent.
 */
async function resumeLink(c: Client): Promise<LinkResult> {
  const t = relayTarget(c);
  const user = c.config.username!;
  const device = c.config.deviceId ?? 1;
  const me = publicIdentity(c.secrets.identity);
  let version;
  try {
    version = await publishDeviceList(c, t, user, device);
  } catch (e) {
    if (!(e instanceof AccountKeyDiffers)) throw e;
    throw new CliError('link_incomplete', `this home's link to @${user} stopped before the account key was stored, and cannot be finished (the code and its ticket are spent)`, {
      hint: `link again from a new home: FASTCHAT_HOME=<new dir> fastchat device link --relay ${t.url} --user ${user}`,
    });
  }
  await publishKeys(c, t);
  finishLinking(c);
  return { user, device, relay: t.url, fingerprint: fingerprint(me), contacts: listContacts(c).filter((k) => k.integrity === 'ok').length, deviceListVersion: version };
}

/**
 * Signs the next version with this device added and uploads it; when the relay holds a newer list
 * than the approver sent (another device changed it meanwhile), on top of that one.
 */
async function addSelfToList(c: Client, t: RelayTarget, user: string, m: ProvisionMessage, prior: DeviceList): Promise<DeviceList> {
  // Only this device can sign its own entry (D.3): the approver could list it but not vouch for it.
  const entry = signDeviceEntry(c.secrets.identity, { user, accountKey: m.accountKey.publicKey }, m.device, c.now());
  // Another device may store a version between our read and our upload (device_list_conflict):
  // read again and sign on top of it, a few times.
  for (let attempt = 1; ; attempt++) {
    const onRelay = await currentDeviceList(t, user, m.accountKey.publicKey);
    const base = onRelay && onRelay.list.version > prior.version ? onRelay.list : prior;
    const next = nextDeviceList(m.accountKey, base, [...base.devices.filter((d) => d.device !== m.device), entry]);
    try {
      await putDeviceList(t, next.bytes);
      return next.list;
    } catch (e) {
      if (!isRelayCode(e, 'device_list_conflict') || attempt >= 3) throw e;
    }
  }
}

/**
 * Logs in with the device ticket as the session token `session` this device drew. The relay
 * answers the same ticket and session again with the same login until the ticket expires (D.12),
 * so a redeem whose reply is lost (the laptop slept in the middle of it, the connection dropped)
 * is asked again, as the take is, until the code's deadline; the ticket itself still logs in once.
 * A relay from before `session` refuses the unknown field with bad_request before it looks at the
 * ticket (its body schema is strict), so that refusal is answered once with `{ticket}` alone: the
 * relay then draws the token, and a lost reply of that redeem cannot be asked for again.
 */
async function redeemTicket(t: RelayTarget, ticket: string, session: string, expiresAt: number, down: Outage): Promise<z.infer<typeof SessionAnswer>> {
  const deadline = (Number.isFinite(expiresAt) ? expiresAt : Date.now() + 600_000) + 5000;
  let withSession = true;
  let failures = 0;
  for (;;) {
    try {
      const body = withSession ? { ticket, session } : { ticket };
      const s = parse(SessionAnswer, await request(t, 'POST', '/v1/sessions/ticket', body, { idempotent: true }), 'login');
      down.answered();
      if (withSession && s.token !== session) throw new CliError('bad_response', 'the relay logged this home in with another session token than it asked for');
      return s;
    } catch (e) {
      if (withSession && isRelayCode(e, 'bad_request') && (e as RelayError).status === 400) {
        down.answered();
        withSession = false;
        continue;
      }
      if (isRelayCode(e, 'bad_ticket')) {
        // Refused on asking again: the try whose reply was lost may have logged the device in (a
        // relay that does not answer a redeem again), so "nothing was changed" cannot be said.
        if (failures > 0) throw new CliError('bad_ticket', 'the relay refused the device ticket when asked again after a lost reply (expired, or a relay that answers a ticket once only); the lost try may have added this device on the relay', { hint: 'run `fastchat device link` again' });
        throw new CliError('bad_ticket', 'the relay refused the device ticket (expired or used); nothing was changed', { hint: 'run `fastchat device link` again' });
      }
      if (!isTransient(e)) throw e;
      const wait = retryDelayMs(++failures, e);
      if (Date.now() + wait > deadline) throw e;
      down.failed(e, deadline);
      await sleep(wait);
    }
  }
}

/**
 * Asks the relay for the channel's message until it comes or the channel expires. The relay hands
 * the message out until the channel expires (D.12), so a take whose reply is lost (the laptop
 * slept in the middle of it and its request timed out on waking, or the connection dropped) is
 * asked again after a short wait; only the relay's definite answer (no such channel, or not this
 * secret's) ends the wait early.
 */
async function waitForMessage(t: RelayTarget, channel: string, secret: string, expiresAt: number, down: Outage): Promise<Uint8Array> {
  const deadline = (Number.isFinite(expiresAt) ? expiresAt : Date.now() + 600_000) + 5000;
  const expired = () => new CliError('link_expired', 'the pairing code expired before a device of the account approved it; nothing was changed', { hint: 'run `fastchat device link` again' });
  let failures = 0;
  for (;;) {
    let r;
    try {
      r = parse(TakeAnswer, await request(t, 'POST', `/v1/link/${channel}/take`, { secret }, { idempotent: true }), 'link');
      failures = 0;
      down.answered();
    } catch (e) {
      if (isRelayCode(e, 'link_not_found')) throw expired();
      if (!isTransient(e)) throw e;
      const wait = retryDelayMs(++failures, e);
      if (Date.now() + wait > deadline) throw e;
      down.failed(e, deadline);
      await sleep(wait);
      continue;
    }
    if ('message' in r) return fromBase64url(r.message);
    if (Date.now() > deadline) throw expired();
    await sleep(POLL_MS);
  }
}

// ---- device list --------------------------------------------------------------------------------

export interface DeviceRow {
  device: number;
  fingerprint: string;
  addedAt: string;
  this: boolean;
}

/** The account's newest device list as the relay serves it, checked under our account key. */
export async function listDevices(c: Client): Promise<{ version: number; devices: DeviceRow[] }> {
  const t = relayTarget(c);
  const user = c.config.username!;
  const ours = c.config.deviceId ?? 1;
  const current = await currentDeviceList(t, user, accountKeyOf(c.secrets).publicKey);
  if (current === null) {
    const me = publicIdentity(c.secrets.identity);
    return { version: 0, devices: [{ device: ours, fingerprint: fingerprint(me), addedAt: '', this: true }] };
  }
  return {
    version: current.list.version,
    devices: current.list.devices.map((d) => deviceRow(d, ours)),
  };
}

// ---- device remove ------------------------------------------------------------------------------

export interface RemoveResult {
  user: string;
  device: number;
  fingerprint: string;
  deviceListVersion: number;
}

/**
 * Signs the account's next device list without `device` and uploads it: the relay then revokes the
 * device's tokens, drops its queue and refuses its logins (docs/RELAY.md "Removing a device"), and
 * contacts stop encrypting to it once they fetch the list. `confirm` is shown the device as the
 * list names it and decides; nothing is uploaded before it says yes. This home's own device is
 * refused: it would lock this home out, and the list must keep the uploading device.
 */
export async function removeDevice(c: Client, device: number, confirm: (d: DeviceRow) => Promise<boolean>): Promise<RemoveResult> {
  const t = relayTarget(c);
  const user = c.config.username!;
  const ours = c.config.deviceId ?? 1;
  if (device === ours) {
    throw new CliError('own_device', `device ${device} is this home: a device cannot remove itself`, {
      hint: `to cut this home off, run \`fastchat device remove ${device}\` on another device of @${user}; to stop using it, \`fastchat logout\` here`,
    });
  }
  const account = accountKeyOf(c.secrets);
  // Another device may store a version between our read and our upload: read again and sign on
  // top of the newer list, a few times (the device must still be in it).
  for (let attempt = 1; ; attempt++) {
    const current = await currentDeviceList(t, user, account.publicKey);
    const entry = current?.list.devices.find((d) => d.device === device);
    if (!current || !entry) {
      const ids = current ? current.list.devices.map((d) => d.device).join(', ') : String(ours);
      throw new CliError('unknown_device', `device ${device} is not in the device list of @${user} (its devices: ${ids}); nothing was changed`, {
        hint: 'see `fastchat device list`',
      });
    }
    if (!current.list.devices.some((d) => d.device === ours)) {
      throw new CliError('not_account_holder', `this home (device ${ours}) is not in the device list of @${user}: it cannot remove devices`);
    }
    const row = deviceRow(entry, ours);
    if (attempt === 1 && !(await confirm(row))) {
      throw new CliError('not_confirmed', `device ${device} was not removed: nothing was changed`);
    }
    const next = nextDeviceList(account, current.list, current.list.devices.filter((d) => d.device !== device));
    try {
      await putDeviceList(t, next.bytes);
      // Kept here at once: our next group send rotates the sender key the removed device holds (G.5).
      await refreshOwnList(c, t);
      return { user, device, fingerprint: row.fingerprint, deviceListVersion: next.list.version };
    } catch (e) {
      if (!isRelayCode(e, 'device_list_conflict') || attempt >= 3) throw e;
    }
  }
}

function deviceRow(d: DeviceList['devices'][number], ours: number): DeviceRow {
  return { device: d.device, fingerprint: fingerprintOfKeys(d.dhPublic, d.signPublic), addedAt: new Date(d.addedAt).toISOString(), this: d.device === ours };
}

/** §5's fingerprint of a listed device (the list carries both public keys, not the self-signature). */
function fingerprintOfKeys(dhPublic: Uint8Array, signPublic: Uint8Array): string {
  return fingerprint({ dhPublic, signPublic, signature: new Uint8Array(64) });
}
