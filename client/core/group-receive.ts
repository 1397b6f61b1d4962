// Receiving for groups, called by processIncoming inside its transaction:
//   - group_change / sender_key payloads that arrived in a pairwise session (control);
//   - group messages (the relay body is a GroupMessage, not a ratchet envelope).
// A record is applied only if it verifies against the state we hold (crypto/group applyChange); a
// group we do not hold yet is accepted only as a whole chain from its create record whose last
// change was signed by the peer of the session it came on, with the key that session proved. What
// arrives before the record or key it needs is held (group_pending, bounded: group-held.ts) and
// retried when they come.
//
// The rules on top of crypto/group (docs/PROTOCOL.md G.9):
//   - a message or key bound to another transcript of an epoch we hold is a fork: held, and shown
//     loudly, never read; two valid records for one epoch are settled by preferSibling, the same
//     way on every member, and a change of ours that lost is proposed again on the winner;
//   - after a change, only current members are read; a current member's message of an epoch that
//     has ended is read within a grace (GROUP_LATE_GRACE_*) and marked as sent before the change;
//     a key serves every epoch its keyFloor admits, and goes when the last of them has ended and
//     its grace is over;
//   - a sequence number a sender chain skipped and that never arrives is a gap (gaps.ts);
//   - a member that was removed says so for what was sent after, rather than hold it.
// Nothing is dropped silently: a refused change or message is reported with a reason.
import { GROUP_LATE_GRACE_MESSAGES, GROUP_LATE_GRACE_MS } from '../../crypto/consts.js';
import { equalBytes, fromBase64url, fromUtf8, toBase64url, toHex, utf8 } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import {
  acceptSenderKeyDistribution,
  applyChange,
  decryptGroupMessage,
  looksLikeGroupMessage,
  memberKey,
  parseGroupChange,
  parseGroupMessage,
  parseSenderKeyDistribution,
  preferSibling,
  type GroupChange,
  type GroupMessageHeader,
  type GroupState,
  type ParsedGroupMessage,
  type SenderKeyDistribution,
  type SignatureCheck,
  type TheirSenderKey,
} from '../../crypto/group/index.js';
import { encodePublicIdentity, parsePublicIdentity, type PublicIdentity } from '../../crypto/identity.js';
import type { Address } from '../../crypto/types.js';
import { ourAddress, type Client } from './context.js';
import { nextArrival } from './db.js';
import { noteGroupGaps } from './gaps.js';
import { commitChange, storeApplied, type Applied } from './group-change.js';
import { queueRecords } from './group-keys.js';
import { adoptFetchedList } from './device-lists.js';
import { deviceOfMember, isOurMemberKey, mayBeMemberDevice, memberKeyUnknown } from './group-devices.js';
import { holdItem } from './group-held.js';
import {
  addLate,
  countLate,
  deletePending,
  dropExpiredChains,
  epochInfo,
  storedGroupLabel,
  listPending,
  loadGroup,
  loadRecords,
  keyPurgedAfter,
  keyStillServes,
  loadTheirKey,
  saveTheirKey,
  stateAtEpoch,
  type PageSenderKeys,
  truncateChain,
  type Pending,
  type StoredGroup,
} from './group-store.js';
import { NeedsLists, type Incoming } from './incoming.js';
import { parsePayload, PayloadError, type GroupControlPayload } from './payload.js';
import { fileLine } from './files/names.js';
import { recordIncomingFile } from './files/store.js';

export interface GroupRef {
  id: string; // group id, hex
  label: string; // what the user types after '#'
}

export type GroupIncoming =
  /** A change applied (or settled); `loud` when it undid something members had applied. */
  | { kind: 'group_event'; from: string; group: GroupRef; text: string; loud?: boolean }
  | { kind: 'group_rejected'; from: string; group: GroupRef | null; id: string; reason: string; message: string; receivedAt: string }
  /** Kept until what it needs arrives, or not kept because a hold limit was reached. */
  | { kind: 'group_held'; from: string; group: GroupRef | null; groupId: string; what: string; outcome: 'held' | 'dropped' }
  /** From a member on another history of an epoch we hold: held, never read. */
  | { kind: 'group_fork'; from: string; group: GroupRef; epoch: number; ours: string; theirs: string; outcome: 'held' | 'dropped' }
  /** Sent to the group after we were removed (or left): we cannot read it, and say why. */
  | { kind: 'group_removed'; from: string; group: GroupRef; status: 'removed' | 'left' }
  /** A pairwise group payload: what it caused (events, refusals, held messages now readable). */
  | { kind: 'control'; from: string; released: Incoming[] };

class Refused extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const REFUSAL_TEXT: Record<string, string> = {
  wrong_epoch: 'the change is not the next one for the group we hold (a replayed or stale change)',
  broken_chain: 'the change does not follow the group state we hold (a fork or a forgery)',
  not_authorized: 'the author may not make this change',
  not_a_member: 'the sender is not a member of the group',
  late: 'it was sent at an epoch that ended here and its grace is over',
  bad_signature: 'a signature does not verify (forged)',
  invalid_change: 'the change does not apply to the group',
  wrong_group: 'it names another group',
  malformed: 'it is malformed',
  unsupported_version: 'it uses another group format (the sender runs an incompatible fastchat; both need the same version)',
  decrypt_failed: 'the group message did not decrypt',
  stale_key: 'its sender used a key made before a removal, when it had to make a new one',
  too_far_ahead: 'the group message is too far ahead of its sender chain',
};

/** The relay body is a group message (its tag, any format) rather than a ratchet envelope. */
export function isGroupMessageBody(body: Uint8Array): boolean {
  return looksLikeGroupMessage(body);
}

function refOf(c: Client, g: StoredGroup): GroupRef {
  return { id: g.idHex, label: storedGroupLabel(c, g) };
}

function refFor(c: Client, groupId: Uint8Array): GroupRef | null {
  const g = loadGroup(c, groupId);
  return g ? refOf(c, g) : null;
}

interface Meta {
  from: Address;
  clientId: string;
  sentAt: string;
  receivedAt: string;
  /** A first delivery whose caller can fetch device lists (incoming.ts NeedsLists). */
  mayFetchLists?: boolean;
  /** The page's sender-key cache (IncomingPager): chains kept in memory, saved at the page's end. */
  keys?: PageSenderKeys;
  /** The message's signature checked ahead (IncomingPager, signatures-ahead.ts); crypto/ compares it. */
  signature?: SignatureCheck | undefined;
}

/** The sender's device is not one we can tie to the member: their lists are fetched first when we may. */
function notTheirDevice(c: Client, m: Meta, key: Uint8Array | undefined): void {
  if (m.mayFetchLists && key && memberKeyUnknown(c, m.from.user, key)) throw new NeedsLists(m.from.user);
}

function refusal(c: Client, groupId: Uint8Array | null, m: Meta, e: unknown): Incoming {
  const code = e instanceof Refused ? e.code : isCryptoError(e) ? e.code : e instanceof PayloadError ? 'bad_payload' : undefined;
  if (code === undefined) throw e;
  const detail = e instanceof Error ? e.message : String(e);
  const why = REFUSAL_TEXT[code];
  return {
    kind: 'group_rejected',
    from: m.from.user,
    group: groupId ? refFor(c, groupId) : null,
    id: m.clientId,
    reason: code,
    message: why ? `${why}: ${detail}` : detail,
    receivedAt: m.receivedAt,
  };
}

/** Holds an item (hold limits apply) and says what happened to it. */
function hold(c: Client, p: Omit<Pending, 'seq'>, what: string): Incoming {
  const outcome = holdItem(c, p);
  return { kind: 'group_held', from: p.sender, group: refFor(c, p.groupId), groupId: toHex(p.groupId), what, outcome };
}

function holdFork(c: Client, g: StoredGroup, p: Omit<Pending, 'seq'>, ours: Uint8Array): Incoming {
  const outcome = holdItem(c, p);
  return { kind: 'group_fork', from: p.sender, group: refOf(c, g), epoch: p.epoch, ours: toHex(ours), theirs: toHex(p.fork!), outcome };
}

// ---- group messages --------------------------------------------------------------------------

export function receiveGroupMessage(c: Client, m: Meta, body: Uint8Array): Incoming {
  let h: ParsedGroupMessage;
  try {
    // Parsed once: on arrival with its check ahead (for these very bytes), else here.
    const carried = m.signature?.parsed;
    h = carried !== undefined && carried.bytes === body ? carried : parseGroupMessage(body);
  } catch (e) {
    return refusal(c, null, m, e);
  }
  // The relay names the sender from the connection; a member sending under another's name is
  // caught here, and a relay lying about `from` is caught by the signature below.
  if (h.sender !== m.from.user) return refusal(c, h.groupId, m, new Refused('not_authorized', `@${m.from.user} sent a group message in the name of @${h.sender}`));
  const r = openGroupMessage(c, h, m, body, true);
  if (r === 'still_held') throw new Error('a first delivery is held or answered, never left pending');
  return r;
}

function pendingMessage(h: GroupMessageHeader, m: Meta, body: Uint8Array, fork: Uint8Array | null = null): Omit<Pending, 'seq'> {
  return { groupId: h.groupId, kind: 'message', sender: h.sender, device: m.from.device, epoch: h.epoch, body, identity: null, clientId: m.clientId, sentAt: m.sentAt, receivedAt: m.receivedAt, fork };
}

/** `first`: the first time this message is handled (hold it if it must wait); else a retry. */
function openGroupMessage(c: Client, h: ParsedGroupMessage, m: Meta, body: Uint8Array, first: boolean): Incoming | 'still_held' {
  const g = loadGroup(c, h.groupId);
  if (!g) return first ? hold(c, pendingMessage(h, m, body), 'a group message') : 'still_held';
  const now = c.now();
  if (dropExpiredChains(c, h.groupId, now) > 0) m.keys?.forgetDeleted();
  // Our state stops at the record that took us out. What arrives after it was sent after it (the
  // relay queues in order), by a member that had not applied it yet: not ours to read any more.
  // One sent at a later epoch is also kept (bounded, group-held.ts), silently: a change that adds
  // us back may be on its way, and then it opens.
  if (g.status !== 'active') {
    if (h.epoch <= g.state.epoch) return { kind: 'group_removed', from: m.from.user, group: refOf(c, g), status: g.status === 'left' ? 'left' : 'removed' };
    if (!first) return 'still_held';
    holdItem(c, pendingMessage(h, m, body));
    return { kind: 'group_removed', from: m.from.user, group: refOf(c, g), status: g.status === 'left' ? 'left' : 'removed' };
  }
  if (h.epoch > g.state.epoch) return first ? hold(c, pendingMessage(h, m, body), 'a group message') : 'still_held';
  const epoch = epochInfo(c, h.groupId, h.epoch);
  if (!epoch) return refusal(c, h.groupId, m, new Refused('late', `epoch ${h.epoch} ended long ago (we are at epoch ${g.state.epoch})`));
  if (!equalBytes(epoch.transcript, h.transcript)) return first ? holdFork(c, g, pendingMessage(h, m, body, h.transcript), epoch.transcript) : 'still_held';
  // After a change only current members are read, whatever epoch their message names.
  if (memberKey(g.state, h.sender) === undefined) {
    return refusal(c, h.groupId, m, new Refused('not_a_member', `@${h.sender} is not a member of #${refOf(c, g).label}`));
  }
  // And only from a device of theirs: one their account removed (or never listed) reads as a stranger.
  if (!mayBeMemberDevice(c, g.state, h.sender, m.from.device)) {
    return refusal(c, h.groupId, m, new Refused('not_a_member', `device ${m.from.device} of @${h.sender} is not one of their listed devices`));
  }
  const late = h.epoch < g.state.epoch;
  // The page's cache serves the common path; a late message (its count is kept on the chain's row)
  // reads and writes the store as it is without the cache.
  if (late) m.keys?.writeBack();
  const keys = late ? undefined : m.keys;
  const load = (device: number): TheirSenderKey | undefined => (keys ? keys.load(h.groupId, h.sender, device, h.keyEpoch) : loadTheirKey(c, h.groupId, h.sender, device, h.keyEpoch));
  // The chain of the device the relay names: a relay naming another device of the sender finds a
  // chain whose signature key does not verify the message.
  const device = load(m.from.device) ? m.from.device : 0;
  if (late) {
    const used = countLate(c, h.groupId, h.sender, device, h.keyEpoch);
    if (epoch.endedAt === null || now - epoch.endedAt > GROUP_LATE_GRACE_MS || used >= GROUP_LATE_GRACE_MESSAGES) {
      return refusal(c, h.groupId, m, new Refused('late', `@${h.sender} sent it at epoch ${h.epoch}, which ended here before the grace allows (${GROUP_LATE_GRACE_MESSAGES} messages, ${GROUP_LATE_GRACE_MS / 60000} minutes)`));
    }
  }
  const at = { groupId: h.groupId, epoch: h.epoch, transcript: epoch.transcript, keyFloor: epoch.keyFloor };
  // A key its epoch does not admit (kept past a removal) is refused, not waited for.
  if (h.keyEpoch < at.keyFloor || h.keyEpoch > at.epoch) {
    return refusal(c, h.groupId, m, new Refused('stale_key', `@${h.sender} sent at epoch ${h.epoch} under a key of epoch ${h.keyEpoch}; keys from epoch ${at.keyFloor} on are read`));
  }
  const key = load(device);
  if (!key && keyPurgedAfter(c, h.groupId, h.sender, h.keyEpoch)) {
    // We deleted the sender's chains when a change took them out after this key was made; they
    // were added back since, but that key is never sent again: refused, not held for ever.
    return refusal(c, h.groupId, m, new Refused('stale_key', `@${h.sender} sent it under a key of epoch ${h.keyEpoch}, from before a change that took them out; it can no longer be read`));
  }
  // Its key is on its way (or the relay withholds it): kept, and tried again when a key arrives.
  if (!key) return first ? hold(c, pendingMessage(h, m, body), 'a group message') : 'still_held';
  let opened: ReturnType<typeof decryptGroupMessage>;
  try {
    opened = decryptGroupMessage(key, at, h, m.signature);
  } catch (e) {
    if (isCryptoError(e, 'duplicate_message')) return { kind: 'duplicate', from: m.from.user, replayed: true };
    return refusal(c, h.groupId, m, e);
  }
  if (keys) keys.put(opened.state, device);
  else saveTheirKey(c, opened.state, device);
  noteGroupGaps(c, h.sender, m.from.device, key, opened.state, h.counter, now);
  if (late) addLate(c, h.groupId, h.sender, device, h.keyEpoch);
  let p;
  try {
    p = parsePayload(opened.plaintext);
    if (p.type !== 'text' && p.type !== 'file') throw new PayloadError('a group message must be text or a file');
  } catch (e) {
    return refusal(c, h.groupId, m, e);
  }
  // From another device of ours: what we sent, shown as sent (not unread).
  const own = h.sender === ourAddress(c).user;
  const inserted = c.db
    .prepare('INSERT OR IGNORE INTO group_messages (group_id, id, sender, direction, body, sent_at, received_at, relay_at, status, unread, before_change) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run(
      Buffer.from(h.groupId),
      p.id,
      h.sender,
      own ? 'out' : 'in',
      Buffer.from(c.sealer.seal('group_message', [h.groupId, h.sender, p.id], utf8(p.type === 'file' ? fileLine(p.file, p.text) : p.text))),
      p.sentAt,
      m.receivedAt,
      m.sentAt,
      own ? 'sent' : 'received',
      own ? 0 : nextArrival(c.db),
      late ? 1 : 0,
    );
  if (inserted.changes === 0) return { kind: 'duplicate', from: m.from.user };
  const file = p.type === 'file' ? p.file : undefined;
  if (own) return { kind: 'sent_copy', id: p.id, to: null, group: refOf(c, g), device: m.from.device, text: file ? fileLine(file, p.text) : p.text, sentAt: p.sentAt };
  if (file) recordIncomingFile(c, { id: p.id, from: h.sender, group: h.groupId, file });
  return {
    kind: 'text',
    id: p.id,
    from: h.sender,
    device: m.from.device,
    text: p.text,
    sentAt: p.sentAt,
    receivedAt: m.receivedAt,
    relayAt: m.sentAt,
    identityChanged: false,
    newContact: false,
    group: refOf(c, g),
    ...(late ? { beforeChange: true } : {}),
    ...(file ? { file } : {}),
  };
}

// ---- control payloads (inside pairwise sessions) -----------------------------------------------

export function receiveGroupControl(c: Client, m: Meta, identity: PublicIdentity, p: GroupControlPayload): Incoming {
  const out: Incoming[] = [];
  // A list fetched for a sender who only now became a contact (this frame made them one).
  adoptFetchedList(c, m.from.user);
  const groupId =
    p.type === 'sender_key'
      ? handleSenderKey(c, m, identity, fromBase64url(p.distribution), out, true)
      : handleChange(c, m, identity, p.records.map(fromBase64url), out, true);
  if (groupId instanceof Uint8Array) retryPending(c, groupId, out);
  else if (p.type === 'sender_key') {
    // A key refused (late, a stranger's …): what was held for it is judged again now, so a message
    // whose grace ran out while it waited is refused rather than held until it expires.
    const named = namedGroup(p.distribution);
    if (named && loadGroup(c, named)) retryPending(c, named, out);
  }
  return { kind: 'control', from: m.from.user, released: out };
}

function namedGroup(distribution: string): Uint8Array | undefined {
  try {
    return parseSenderKeyDistribution(fromBase64url(distribution)).groupId;
  } catch {
    return undefined;
  }
}

function pendingControl(kind: 'change' | 'sender_key', groupId: Uint8Array, epoch: number, m: Meta, identity: PublicIdentity, body: Uint8Array, fork: Uint8Array | null = null): Omit<Pending, 'seq'> {
  return { groupId, kind, sender: m.from.user, device: m.from.device, epoch, body, identity: encodePublicIdentity(identity), clientId: m.clientId, sentAt: m.sentAt, receivedAt: m.receivedAt, fork };
}

/** Returns the group id when something was stored (so held items may now go through). */
function handleSenderKey(c: Client, m: Meta, identity: PublicIdentity, bytes: Uint8Array, out: Incoming[], first: boolean): Uint8Array | null | 'still_held' {
  let d: SenderKeyDistribution;
  try {
    d = parseSenderKeyDistribution(bytes);
  } catch (e) {
    out.push(refusal(c, null, m, e));
    return null;
  }
  const g = loadGroup(c, d.groupId);
  const waitFor = (): null | 'still_held' => {
    if (!first) return 'still_held';
    out.push(hold(c, pendingControl('sender_key', d.groupId, d.epoch, m, identity, bytes), 'a sender key'));
    return null;
  };
  if (!g) return waitFor();
  // A key for the epoch that took us out is not ours; one for a later epoch may be, if a change
  // that adds us back is on its way (its sender counts us as holding it and will not send it again).
  if (g.status !== 'active' && d.epoch === g.state.epoch) {
    out.push({ kind: 'group_removed', from: m.from.user, group: refOf(c, g), status: g.status === 'left' ? 'left' : 'removed' });
    return null;
  }
  // The record that starts this epoch has not arrived yet: keep the key until it has.
  if (d.epoch > g.state.epoch) return waitFor();
  const now = c.now();
  try {
    const epoch = epochInfo(c, d.groupId, d.epoch);
    if (!epoch) throw new Refused('late', `a sender key shared at epoch ${d.epoch}, which ended long ago`);
    if (!equalBytes(epoch.transcript, d.transcript)) {
      if (first) out.push(holdFork(c, g, pendingControl('sender_key', d.groupId, d.epoch, m, identity, bytes, d.transcript), epoch.transcript));
      return first ? null : 'still_held';
    }
    if (d.epoch < g.state.epoch) {
      // Shared before a change we have applied: only a current member's, and only if the key still
      // serves now (no removal since it was made) or the epoch it was shared at is within its grace.
      if (memberKey(g.state, m.from.user) === undefined) throw new Refused('not_a_member', `@${m.from.user} is not a member any more`);
      // The epochs a key serves, not the one it was shared at, decide: a key shared at an epoch
      // whose grace is over still opens the messages of a later epoch that is within its grace.
      if (!keyStillServes(c, d.groupId, d.keyEpoch, now)) {
        throw new Refused('late', `a sender key shared at epoch ${d.epoch}, which ended here before the grace allows`);
      }
    }
    const state = d.epoch === g.state.epoch ? g.state : stateAtEpoch(c, d.groupId, d.epoch);
    if (!state) throw new Refused('wrong_epoch', `no state for epoch ${d.epoch}`);
    // A key is a device's: taken only from a device of the member (G.9), and then checked against
    // the member as the state lists them (their member key), as the session authenticated it.
    const listed = memberKey(state, m.from.user);
    if (!listed || !deviceOfMember(c, m.from.user, listed, m.from.device, identity)) {
      notTheirDevice(c, m, listed);
      throw new Refused('not_a_member', `device ${m.from.device} of @${m.from.user} is not a device of a member of the group`);
    }
    const theirs = acceptSenderKeyDistribution(state, { user: m.from.user, signPublic: listed }, bytes);
    const existing = loadTheirKey(c, d.groupId, d.sender, m.from.device, d.keyEpoch);
    // The same chain again (a re-send) must not rewind it: that would make old messages readable twice.
    if (existing && equalBytes(existing.signPublic, theirs.signPublic)) return d.groupId;
    saveTheirKey(c, theirs, m.from.device);
  } catch (e) {
    out.push(refusal(c, d.groupId, m, e));
    return null;
  }
  return d.groupId;
}

/** What a change does, in a line (the record carries everything it names). */
function describe(c: GroupChange): string {
  const who = (users: string[]): string => users.map((u) => `@${u}`).join(', ');
  switch (c.change.op) {
    case 'create':
      return `@${c.author} created the group with ${who(c.change.members.map((x) => x.user).filter((u) => u !== c.author)) || 'nobody else'}`;
    case 'add':
      return `@${c.author} added ${who(c.change.members.map((x) => x.user))}`;
    case 'remove':
      return `@${c.author} removed ${who(c.change.users)}`;
    case 'leave':
      return `@${c.author} left the group`;
    case 'promote':
      return `@${c.author} made ${who(c.change.users)} admin`;
    case 'rename':
      return `@${c.author} renamed the group to ${JSON.stringify(c.change.name)}`;
  }
}

function encodeChain(records: Uint8Array[]): Uint8Array {
  return utf8(JSON.stringify(records.map(toBase64url)));
}

function decodeChain(b: Uint8Array): Uint8Array[] {
  return (JSON.parse(fromUtf8(b)) as string[]).map(fromBase64url);
}

function applyAll(base: GroupState | null, records: Uint8Array[], parsed: GroupChange[]): Applied[] {
  const applied: Applied[] = [];
  let s = base;
  for (let i = 0; i < records.length; i++) {
    s = applyChange(s, records[i]!);
    applied.push({ record: records[i]!, change: parsed[i]!, state: s });
  }
  return applied;
}

function handleChange(c: Client, m: Meta, identity: PublicIdentity, records: Uint8Array[], out: Incoming[], first: boolean): Uint8Array | null | 'still_held' {
  const me = ourAddress(c).user;
  let parsed: GroupChange[];
  try {
    parsed = records.map(parseGroupChange);
  } catch (e) {
    out.push(refusal(c, null, m, e));
    return null;
  }
  const groupId = parsed[0]!.groupId;
  const g = loadGroup(c, groupId);
  const waitFor = (from: number): null | 'still_held' => {
    if (!first) return 'still_held';
    out.push(hold(c, pendingControl('change', groupId, parsed[from]!.epoch, m, identity, encodeChain(records.slice(from))), 'a group change'));
    return null;
  };
  // A record that does not follow the state we hold may follow one we are about to settle on (it
  // was made after a concurrent change we have not received yet): keep it, do not refuse it.
  const orWait = (from: number, run: () => Uint8Array | null): Uint8Array | null | 'still_held' => {
    try {
      return run();
    } catch (e) {
      if (isCryptoError(e, 'broken_chain')) return waitFor(from);
      throw e;
    }
  };
  try {
    if (parsed.some((p) => !equalBytes(p.groupId, groupId))) throw new Refused('wrong_group', 'the records name different groups');
    if (!g) {
      // A change to a group whose chain has not reached us yet (it comes from another member).
      if (parsed[0]!.change.op !== 'create') return waitFor(0);
      const applied = applyAll(null, records, parsed);
      const state = applied[applied.length - 1]!.state;
      // A chain that leaves us out, from someone who was in it: the author of an add that brought
      // us in sends it when the add lost to a concurrent change (settleSibling), and the relay may
      // deliver it before the add. Held, it settles us once the add arrives (we are not in it);
      // if the add never comes, it expires with the other held items.
      if (memberKey(state, me) === undefined && m.from.user !== me && applied.some((a) => memberKey(a.state, m.from.user) !== undefined)) return waitFor(0);
      // A new group is authenticated by the session it came on: the peer signed its last change
      // (the create, or the add that brought us in) with the identity key that session proved.
      const last = parsed[parsed.length - 1]!;
      const listed = memberKey(state, m.from.user);
      // A device of ours (incoming.ts took it only from our own list) vouches for any chain that
      // names us: it is us sharing a group it holds, whoever made its last change.
      const fromUs = m.from.user === me;
      if (!fromUs && (last.author !== m.from.user || !listed || !deviceOfMember(c, m.from.user, listed, m.from.device, identity))) {
        if (last.author === m.from.user) notTheirDevice(c, m, listed);
        throw new Refused('not_authorized', `@${m.from.user} sent a group whose last change is not theirs, or names another key for them`);
      }
      const ours = memberKey(state, me);
      if (!ours || !isOurMemberKey(c, ours)) throw new Refused('not_a_member', 'we are not a member of that group');
      storeApplied(c, null, applied);
      const ref = refFor(c, groupId)!;
      for (const a of applied) out.push({ kind: 'group_event', from: m.from.user, group: ref, text: describe(a.change) });
      return groupId;
    }
    // Skip what we hold already (the same record body); the first record that differs from ours
    // for an epoch we hold is a concurrent change or a forgery.
    const stored = loadRecords(c, groupId);
    let i = 0;
    while (i < parsed.length && parsed[i]!.epoch <= g.state.epoch) {
      const mine = stored[parsed[i]!.epoch];
      if (!mine || !equalBytes(parseGroupChange(mine).signed, parsed[i]!.signed)) break;
      i++;
    }
    if (i < parsed.length && parsed[i]!.epoch <= g.state.epoch) return orWait(i, () => settleSibling(c, m, g, records.slice(i), parsed.slice(i), out));
    if (i === parsed.length) {
      // Another device of ours sharing our groups with a device linked since (group-change.ts): nothing new here.
      if (m.from.user === me) return null;
      throw new Refused('wrong_epoch', `a replayed change: epoch ${parsed[parsed.length - 1]!.epoch} is already applied (the group is at epoch ${g.state.epoch})`);
    }
    if (parsed[i]!.epoch > g.state.epoch + 1) return waitFor(i);
    return orWait(i, () => {
      const applied = applyAll(g.state, records.slice(i), parsed.slice(i));
      storeApplied(c, g.state, applied);
      const ref = refFor(c, groupId)!;
      for (const a of applied) out.push({ kind: 'group_event', from: m.from.user, group: ref, text: describe(a.change) });
      return groupId;
    });
  } catch (e) {
    out.push(refusal(c, groupId, m, e));
    return null;
  }
}

/**
 * `records[0]` is a valid-looking record for an epoch we have applied another record for. If it
 * verifies on the state we held before that epoch, the two are concurrent changes: every member
 * keeps the one preferSibling picks. When it is theirs, our records from that epoch on are undone,
 * theirs applied, and a change of ours that was undone is proposed again on the new state (or
 * reported when it no longer applies).
 */
function settleSibling(c: Client, m: Meta, g: StoredGroup, records: Uint8Array[], parsed: GroupChange[], out: Incoming[]): Uint8Array | null {
  const me = ourAddress(c).user;
  const groupId = g.groupId;
  const at = parsed[0]!.epoch;
  const base = at === 0 ? null : (stateAtEpoch(c, groupId, at - 1) ?? null);
  if (at > 0 && !base) throw new Refused('wrong_epoch', `no state for epoch ${at - 1}`);
  // Throws (broken_chain, bad_signature …) for a record that does not extend that state: a forgery.
  const theirs = applyAll(base, records, parsed);
  const ours = stateAtEpoch(c, groupId, at)!;
  const oldChain = loadRecords(c, groupId).slice(at).map(parseGroupChange);
  const ref = refOf(c, g);
  if (!preferSibling(ours, theirs[0]!.state)) {
    out.push({
      kind: 'group_event',
      from: m.from.user,
      group: ref,
      text: `a concurrent change at epoch ${at} (${describe(parsed[0]!)}) lost to the one every member keeps (${describe(oldChain[0]!)}); its author proposes it again`,
    });
    return null;
  }
  truncateChain(c, groupId, at);
  storeApplied(c, g.state, theirs);
  const now = refFor(c, groupId)!;
  out.push({
    kind: 'group_event',
    from: m.from.user,
    group: now,
    loud: true,
    text: `concurrent changes at epoch ${at}: ${describe(parsed[0]!)} replaces ${describe(oldChain[0]!)} on every member (the lower transcript wins); undone here: ${oldChain.map(describe).join('; ')}`,
  });
  for (const a of theirs.slice(1)) out.push({ kind: 'group_event', from: m.from.user, group: now, text: describe(a.change) });
  for (const undone of oldChain) {
    if (undone.author !== me || undone.change.op === 'create') continue;
    const current = loadGroup(c, groupId)!;
    let again = false;
    if (current.status === 'active') {
      try {
        const next = commitChange(c, current, undone.change);
        out.push({ kind: 'group_event', from: me, group: refOf(c, next), text: `proposed your undone change again at epoch ${next.state.epoch}: ${describe(undone)}` });
        again = true;
      } catch (e) {
        if (!isCryptoError(e)) throw e;
        out.push({ kind: 'group_event', from: me, group: refOf(c, current), loud: true, text: `your change (${describe(undone)}) was undone by a concurrent change and no longer applies (${e.code}): ${e.message}` });
      }
    }
    // Whom our undone add brought in hold the losing history, and nobody else would tell them:
    // they get the chain we keep now, and settle on it as we did (they are not in it).
    if (!again && undone.change.op === 'add') {
      const now = loadGroup(c, groupId)!;
      const chain = loadRecords(c, groupId);
      for (const m of undone.change.members) if (memberKey(now.state, m.user) === undefined) queueRecords(c, m.user, chain);
    }
  }
  return groupId;
}

/** Tries every held item of the group again until a pass changes nothing. */
function retryPending(c: Client, groupId: Uint8Array, out: Incoming[]): void {
  for (let pass = 0; pass < 100; pass++) {
    let progress = false;
    for (const p of listPending(c, groupId)) {
      const m: Meta = { from: { user: p.sender, device: p.device }, clientId: p.clientId, sentAt: p.sentAt, receivedAt: p.receivedAt };
      let r: Incoming | Uint8Array | null | 'still_held';
      if (p.kind === 'message') r = openGroupMessage(c, parseGroupMessage(p.body), m, p.body, false);
      else {
        const identity: PublicIdentity = parsePublicIdentity(p.identity!);
        r = p.kind === 'change' ? handleChange(c, m, identity, decodeChain(p.body), out, false) : handleSenderKey(c, m, identity, p.body, out, false);
      }
      if (r === 'still_held') continue;
      deletePending(c, p.seq);
      progress = true;
      if (r !== null && !(r instanceof Uint8Array) && r.kind !== 'duplicate') out.push(r);
    }
    if (!progress) return;
  }
}
