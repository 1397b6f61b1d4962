// Receiving for groups, called by processIncoming inside its transaction:
//   - group_change / sender_key payloads that arrived in a pairwise session (control);
//   - group messages (the relay body is a GroupMessage, not a ratchet envelope).
// A record is applied only if it verifies against the state we hold (crypto/group applyChange); a
// group we do not hold yet is accepted only as a whole chain from its create record whose last
// change was signed by the peer of the session it came on, with the key that session proved. What
// arrives before the record or key it needs is held (group_pending) and retried when they come.
// Nothing is dropped silently: a refused change or message is reported with a reason.
import { GROUP_FORMAT_TAGS, PROTOCOL_VERSION } from '../../crypto/consts.js';
import { equalBytes, fromBase64url, fromUtf8, toBase64url, utf8 } from '../../crypto/encoding.js';
import { isCryptoError } from '../../crypto/errors.js';
import {
  acceptSenderKeyDistribution,
  applyChange,
  decryptGroupMessage,
  isMember,
  memberKey,
  parseGroupChange,
  parseSenderKeyDistribution,
  peekGroupMessage,
  type GroupChange,
  type GroupMessageHeader,
  type GroupState,
} from '../../crypto/group/index.js';
import { encodePublicIdentity, parsePublicIdentity, type PublicIdentity } from '../../crypto/identity.js';
import type { Address } from '../../crypto/types.js';
import { ourAddress, type Client } from './context.js';
import { nextArrival } from './db.js';
import { startEpoch } from './group-keys.js';
import {
  addPending,
  appendRecord,
  deleteOurKeys,
  deletePending,
  groupLabel,
  listGroups,
  listPending,
  loadGroup,
  loadRecords,
  loadTheirKey,
  saveGroup,
  saveTheirKey,
  stateAtEpoch,
  type StoredGroup,
} from './group-store.js';
import type { Incoming } from './incoming.js';
import { parsePayload, PayloadError, type GroupControlPayload } from './payload.js';
import { fileLine } from './files/names.js';
import { recordIncomingFile } from './files/store.js';

export interface GroupRef {
  id: string; // group id, hex
  label: string; // what the user types after '#'
}

export type GroupIncoming =
  | { kind: 'group_event'; from: string; group: GroupRef; text: string }
  | { kind: 'group_rejected'; from: string; group: GroupRef | null; id: string; reason: string; message: string; receivedAt: string }
  | { kind: 'group_held'; from: string; group: GroupRef | null; what: string }
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
  bad_signature: 'a signature does not verify (forged)',
  invalid_change: 'the change does not apply to the group',
  wrong_group: 'it names another group',
  malformed: 'it is malformed',
  decrypt_failed: 'the group message did not decrypt',
  too_far_ahead: 'the group message is too far ahead of its sender chain',
};

/** The relay body is a group message (version, then the group message tag) rather than an envelope. */
export function isGroupMessageBody(body: Uint8Array): boolean {
  return body.length > 2 && body[0] === PROTOCOL_VERSION && body[1] === GROUP_FORMAT_TAGS.groupMessage;
}

function refOf(c: Client, g: StoredGroup): GroupRef {
  return { id: g.idHex, label: groupLabel(listGroups(c), g) };
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

// ---- group messages --------------------------------------------------------------------------

export function receiveGroupMessage(c: Client, m: Meta, body: Uint8Array): Incoming {
  let h: GroupMessageHeader;
  try {
    h = peekGroupMessage(body);
  } catch (e) {
    return refusal(c, null, m, e);
  }
  // The relay names the sender from the connection; a member sending under another's name is
  // caught here, and a relay lying about `from` is caught by the signature below.
  if (h.sender !== m.from.user) return refusal(c, h.groupId, m, new Refused('not_authorized', `@${m.from.user} sent a group message in the name of @${h.sender}`));
  const r = openGroupMessage(c, h, m, body, true);
  return r === 'still_held' ? { kind: 'group_held', from: m.from.user, group: refFor(c, h.groupId), what: 'a group message' } : r;
}

function openGroupMessage(c: Client, h: GroupMessageHeader, m: Meta, body: Uint8Array, hold: boolean): Incoming | 'still_held' {
  const g = loadGroup(c, h.groupId);
  const key = g ? loadTheirKey(c, h.groupId, h.sender, h.epoch) : undefined;
  if (!key) {
    if (g && g.status !== 'active' && h.epoch > g.state.epoch) {
      return refusal(c, h.groupId, m, new Refused('not_a_member', `we are no longer a member of #${refOf(c, g).label}`));
    }
    if (hold) {
      addPending(c, { groupId: h.groupId, kind: 'message', sender: h.sender, device: m.from.device, epoch: h.epoch, body, identity: null, clientId: m.clientId, sentAt: m.sentAt, receivedAt: m.receivedAt });
    }
    return 'still_held';
  }
  let opened: ReturnType<typeof decryptGroupMessage>;
  try {
    opened = decryptGroupMessage(key, body);
  } catch (e) {
    if (isCryptoError(e, 'duplicate_message')) return { kind: 'duplicate', from: m.from.user, replayed: true };
    return refusal(c, h.groupId, m, e);
  }
  let p;
  try {
    p = parsePayload(opened.plaintext);
    if (p.type !== 'text' && p.type !== 'file') throw new PayloadError('a group message must be text or a file');
  } catch (e) {
    saveTheirKey(c, opened.state);
    return refusal(c, h.groupId, m, e);
  }
  saveTheirKey(c, opened.state);
  const inserted = c.db
    .prepare("INSERT OR IGNORE INTO group_messages (group_id, id, sender, direction, body, sent_at, received_at, relay_at, status, unread) VALUES (?, ?, ?, 'in', ?, ?, ?, ?, 'received', ?)")
    .run(Buffer.from(h.groupId), p.id, h.sender, Buffer.from(c.sealer.seal('group_message', [h.groupId, h.sender, p.id], utf8(p.type === 'file' ? fileLine(p.file, p.text) : p.text))), p.sentAt, m.receivedAt, m.sentAt, nextArrival(c.db));
  if (inserted.changes === 0) return { kind: 'duplicate', from: m.from.user };
  const file = p.type === 'file' ? p.file : undefined;
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
    group: refFor(c, h.groupId)!,
    ...(file ? { file } : {}),
  };
}

// ---- control payloads (inside pairwise sessions) -----------------------------------------------

export function receiveGroupControl(c: Client, m: Meta, identity: PublicIdentity, p: GroupControlPayload): Incoming {
  const out: Incoming[] = [];
  const groupId =
    p.type === 'sender_key'
      ? handleSenderKey(c, m, identity, fromBase64url(p.distribution), out, true)
      : handleChange(c, m, identity, p.records.map(fromBase64url), out, true);
  if (groupId instanceof Uint8Array) retryPending(c, groupId, out);
  return { kind: 'control', from: m.from.user, released: out };
}

function holdControl(c: Client, kind: 'change' | 'sender_key', groupId: Uint8Array, epoch: number, m: Meta, identity: PublicIdentity, body: Uint8Array): void {
  addPending(c, { groupId, kind, sender: m.from.user, device: m.from.device, epoch, body, identity: encodePublicIdentity(identity), clientId: m.clientId, sentAt: m.sentAt, receivedAt: m.receivedAt });
}

/** Returns the group id when something was stored (so held items may now go through). */
function handleSenderKey(c: Client, m: Meta, identity: PublicIdentity, bytes: Uint8Array, out: Incoming[], hold: boolean): Uint8Array | null | 'still_held' {
  let d;
  try {
    d = parseSenderKeyDistribution(bytes);
  } catch (e) {
    out.push(refusal(c, null, m, e));
    return null;
  }
  const g = loadGroup(c, d.groupId);
  if (!g || d.epoch > g.state.epoch) {
    if (g && g.status !== 'active') {
      out.push(refusal(c, d.groupId, m, new Refused('not_a_member', 'a sender key for an epoch after we left the group')));
      return null;
    }
    // The record that starts this epoch has not arrived yet: keep the key until it has.
    if (hold) holdControl(c, 'sender_key', d.groupId, d.epoch, m, identity, bytes);
    return hold ? null : 'still_held';
  }
  try {
    const state = d.epoch === g.state.epoch ? g.state : stateAtEpoch(c, d.groupId, d.epoch);
    if (!state) throw new Refused('wrong_epoch', `no state for epoch ${d.epoch}`);
    const theirs = acceptSenderKeyDistribution(state, { user: m.from.user, signPublic: identity.signPublic }, bytes);
    const existing = loadTheirKey(c, d.groupId, d.sender, d.epoch);
    // The same chain again (a re-send) must not rewind it: that would make old messages readable twice.
    if (existing && equalBytes(existing.signPublic, theirs.signPublic)) return d.groupId;
    saveTheirKey(c, theirs);
  } catch (e) {
    out.push(refusal(c, d.groupId, m, e));
    return null;
  }
  return d.groupId;
}

function describe(c: GroupChange, state: GroupState): string {
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
      return `@${c.author} renamed the group to ${JSON.stringify(state.name)}`;
  }
}

function encodeChain(records: Uint8Array[]): Uint8Array {
  return utf8(JSON.stringify(records.map(toBase64url)));
}

function decodeChain(b: Uint8Array): Uint8Array[] {
  return (JSON.parse(fromUtf8(b)) as string[]).map(fromBase64url);
}

function handleChange(c: Client, m: Meta, identity: PublicIdentity, records: Uint8Array[], out: Incoming[], hold: boolean): Uint8Array | null | 'still_held' {
  const me = ourAddress(c).user;
  let parsed: GroupChange[];
  try {
    parsed = records.map(parseGroupChange);
  } catch (e) {
    out.push(refusal(c, null, m, e));
    return null;
  }
  const first = parsed[0]!;
  const groupId = first.groupId;
  const g = loadGroup(c, groupId);
  try {
    if (parsed.some((p) => !equalBytes(p.groupId, groupId))) throw new Refused('wrong_group', 'the records name different groups');
    let state: GroupState;
    let applied: { record: Uint8Array; change: GroupChange; state: GroupState }[] = [];
    if (!g) {
      if (first.change.op !== 'create') {
        // A change to a group whose chain has not reached us yet (it comes from another member).
        if (hold) holdControl(c, 'change', groupId, first.epoch, m, identity, encodeChain(records));
        return hold ? null : 'still_held';
      }
      let s: GroupState | null = null;
      for (let i = 0; i < records.length; i++) {
        s = applyChange(s, records[i]!);
        applied.push({ record: records[i]!, change: parsed[i]!, state: s });
      }
      state = s!;
      // A new group is authenticated by the session it came on: the peer signed its last change
      // (the create, or the add that brought us in) with the identity key that session proved.
      const last = parsed[parsed.length - 1]!;
      const listed = memberKey(state, m.from.user);
      if (last.author !== m.from.user || !listed || !equalBytes(listed, identity.signPublic)) {
        throw new Refused('not_authorized', `@${m.from.user} sent a group whose last change is not theirs, or names another key for them`);
      }
      const ours = memberKey(state, me);
      if (!ours || !equalBytes(ours, c.secrets.identity.signPublic)) throw new Refused('not_a_member', 'we are not a member of that group');
    } else {
      state = g.state;
      const fresh: Uint8Array[] = [];
      const stored = loadRecords(c, groupId);
      for (let i = 0; i < parsed.length; i++) {
        const e = parsed[i]!.epoch;
        if (e > g.state.epoch) fresh.push(records[i]!);
        else if (!(stored[e] && equalBytes(stored[e]!, records[i]!))) applyChange(g.state, records[i]!); // throws: a fork or a forgery
      }
      if (fresh.length === 0) {
        throw new Refused('wrong_epoch', `a replayed change: epoch ${parsed[parsed.length - 1]!.epoch} is already applied (the group is at epoch ${g.state.epoch})`);
      }
      const next = parseGroupChange(fresh[0]!);
      if (next.epoch > g.state.epoch + 1) {
        if (hold) holdControl(c, 'change', groupId, next.epoch, m, identity, encodeChain(fresh));
        return hold ? null : 'still_held';
      }
      for (const r of fresh) {
        state = applyChange(state, r);
        applied.push({ record: r, change: parseGroupChange(r), state });
      }
    }
    const member = isMember(state, me);
    const left = applied.some((a) => a.change.author === me && a.change.change.op === 'leave');
    saveGroup(c, state, member ? 'active' : left ? 'left' : 'removed', c.now());
    for (const a of applied) appendRecord(c, groupId, a.change.epoch, a.record);
    const ref = refFor(c, groupId)!;
    for (const a of applied) out.push({ kind: 'group_event', from: m.from.user, group: ref, text: describe(a.change, a.state) });
    if (member) startEpoch(c, state);
    else deleteOurKeys(c, groupId);
    return groupId;
  } catch (e) {
    out.push(refusal(c, groupId, m, e));
    return null;
  }
}

/** Tries every held item of the group again until a pass changes nothing. */
function retryPending(c: Client, groupId: Uint8Array, out: Incoming[]): void {
  for (let pass = 0; pass < 100; pass++) {
    let progress = false;
    for (const p of listPending(c, groupId)) {
      const m: Meta = { from: { user: p.sender, device: p.device }, clientId: p.clientId, sentAt: p.sentAt, receivedAt: p.receivedAt };
      let r: Incoming | Uint8Array | null | 'still_held';
      if (p.kind === 'message') r = openGroupMessage(c, peekGroupMessage(p.body), m, p.body, false);
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
