// The outbox. A message is stored before anything is sent, in two stages:
//   1. queued: the payload, sealed at rest, addressed to a peer (no session needed, so `send`
//      works with the relay down);
//   2. encrypted: one ratchet envelope per peer device, written in the same transaction as the
//      session state that produced it — in stage 1's own transaction when nothing has to be
//      fetched or checked first (directEncrypter), the payload row then never written.
// Rows leave the outbox only when the relay has acknowledged them (stored durably). The relay
// deduplicates by client id, so resending after a lost answer is harmless.
import { toBase64url } from '../../crypto/encoding.js';
import { sameDeviceKeys } from './contact-record.js';
import type { PreKeyBundle } from '../../crypto/prekeys.js';
import { encryptMessage, initiateSession, sessionIdentity, type SessionState } from '../../crypto/session.js';
import { CliError } from '../errors.js';
import type { Sealer } from './at-rest.js';
import { observeIdentity } from './contacts.js';
import { assertListed, checkDeviceLists, DeviceListRefused, DeviceNotListed, refreshPinnedList, type ListCheck } from './device-lists.js';
import { ourAddress, type Client } from './context.js';
import { tx, type DB } from './db.js';
import type { SqlStatement } from './platform/sql.js';
import { IntegrityError } from './integrity/errors.js';
import { DELIVERY_RECEIPT_TEXT, encodePayload, MAX_RECEIPT_IDS, parsePayload, receiptIds, type FilePayload, type FileRef, type GroupChangePayload, type HistoryPayload, type Payload, type StandingsPayload, type SyncPayload } from './payload.js';
import { bundleFetchDue, dropUnlistedSessions, forceListCheck, noteBundlesFetched, hasOtherDevices, listCheckDue, listedDevices, noteListChecked, refreshOwnList } from './fanout.js';
import { fileLine } from './files/names.js';
import { rememberSent } from './expired.js';
import { fetchBundles, postMessage } from './relay-api.js';
import { isRetryableRefusal, isUnreachable, RelayError, type RelayTarget } from './relay-http.js';
import type { RelaySocket } from './relay-ws.js';
import { sendRefusal, storeAlarm } from './send-guard.js';
import { loadSession, saveSession, sessionDevices } from './sessions.js';
import { staleSignedPreKey } from './stale-prekey.js';
import { RejectedIdentity, UntrustedIdentity } from './trust-errors.js';
import { markAccepted } from './requests.js';
import { syncBlocks } from './block-sync.js';

export { UntrustedIdentity };

export function newMessageId(c: Client): string {
  return toBase64url(c.random(16));
}

/**
 * Stage 1 for a text: outbox row + history row, one transaction (stage 2 too, when it can be done
 * at once: see directEncrypter).
 */
export function queueText(c: Client, peer: string, text: string, file?: FileRef): { id: string; sentAt: string } {
  return tx(c.db, () => {
    const q = textQueuer(c, peer, 1);
    const r = q.queue(text, file);
    q.done();
    return r;
  });
}

/**
 * Stage 1 for several texts to one peer at once (a paste sent line by line): each its own message,
 * in order, all in one transaction — every line is stored or none is. A transaction per line costs
 * about two thirds of queueing a line (its commit writes ~7.5 WAL pages; docs/PERFORMANCE.md
 * "Client cores, round nine").
 */
export function queueTexts(c: Client, peer: string, texts: readonly string[]): { id: string; sentAt: string }[] {
  return tx(c.db, () => {
    const q = textQueuer(c, peer, texts.length);
    const r = texts.map((text) => q.queue(text));
    q.done();
    return r;
  });
}

interface TextQueuer {
  queue(text: string, file?: FileRef): { id: string; sentAt: string };
  /** Saves the sessions the texts were encrypted with; call before the transaction ends. */
  done(): void;
}

/** Queues `count` texts to `peer`, each its own message; call inside the transaction that stores them. */
function textQueuer(c: Client, peer: string, count: number): TextQueuer {
  // Writing to someone accepts them (and answers their request, if they sent one).
  markAccepted(c, peer);
  const me = ourAddress(c).user;
  const copies = hasOtherDevices(c);
  const direct = directEncrypter(c, peer, count);
  const directCopies = copies ? directEncrypter(c, me, count) : undefined;
  const history = c.db.prepare("INSERT INTO messages (id, peer, direction, body, sent_at, status) VALUES (?, ?, 'out', ?, ?, 'queued')");
  return {
    queue: (text, file) => {
      const id = newMessageId(c);
      const sentAt = new Date(c.now()).toISOString();
      // A file message (client/core/files/) takes the same path; its history line names the file.
      const payload: Payload | FilePayload = file ? { v: 1, type: 'file', id, text, sentAt, file } : { v: 1, type: 'text', id, text, sentAt };
      if (direct) direct.encrypt(payload);
      else insertQueued(c, peer, payload);
      // A "sent by me" copy for our account's other devices (D.13), queued beside it.
      if (copies) {
        const copy: SyncPayload = { v: 1, type: 'sync', id, sentAt, to: peer, message: payload };
        if (directCopies) directCopies.encrypt(copy);
        else insertQueued(c, me, copy);
      }
      history.run(id, peer, Buffer.from(c.sealer.seal('message', [peer, 'out', id], new TextEncoder().encode(file ? fileLine(file, text) : text))), sentAt);
      return { id, sentAt };
    },
    done: () => {
      direct?.done();
      directCopies?.done();
    },
  };
}

/**
 * Stage 2 done in the transaction of stage 1, for `count` texts to `peer` — when encryptQueued
 * would do nothing else first for them: the store is not rolled back, no device-list check of
 * theirs is due (LIST_RECHECK_MS), nothing refuses sending to them (send-guard.ts), a session
 * exists with every device their pinned list holds and with no other (none to drop, no bundle to
 * fetch), and nothing of theirs but receipts waits unencrypted (their rows leave in order; a
 * receipt may move). The sealed payload row is then never written, read, deleted and replaced by
 * the envelope rows. Otherwise undefined: the texts are queued and encryptQueued takes them as
 * before. The envelopes and the sessions that made them (`done`) commit together, and the
 * envelope rows are what a resend after a crash finds.
 *
 * A session is loaded, checked and saved (with the manifest) for each call, which a single line
 * pays alone: worth it when the line would otherwise be encrypted alone too (nothing of theirs is
 * in the outbox: the next flush takes just it, in a transaction of its own), not when encrypted
 * rows of theirs still wait to leave (a burst typed faster than it leaves: the next pass encrypts
 * every line queued since in one transaction; per line ~240 µs CPU against ~130 µs,
 * docs/PERFORMANCE.md "Client cores, round ten").
 */
function directEncrypter(c: Client, peer: string, count: number): { encrypt(p: Payload | FilePayload | SyncPayload): void; done(): void } | undefined {
  const own = peer === ourAddress(c).user;
  // One line: any row of theirs (the peer's index, its first entry). Several: the rows waiting
  // for encryption, through client_id's index (NULL until encrypted: its NULL entries are those
  // rows, of every peer, and few); the peer's index would read every envelope of theirs waiting to
  // leave, and a partial index of their own wrote a WAL page more per queued line
  // (docs/PERFORMANCE.md "Client cores, round ten").
  const waiting = count > 1 ? "client_id IS NULL AND envelope IS NULL AND peer = ? AND kind IN ('text', 'group')" : "peer = ? AND kind IN ('text', 'group')";
  if (c.db.prepare(`SELECT 1 FROM outbox WHERE ${waiting} LIMIT 1`).get(peer)) return undefined;
  if (listCheckWanted(c, peer) || storeAlarm(c) || (!own && sendRefusal(c, peer))) return undefined;
  const listed = listedDevices(c, peer);
  const states = new Map<number, SessionState>();
  for (const device of sessionDevices(c.db, c.sealer, peer)) {
    let state: SessionState | undefined;
    try {
      state = loadSession(c.db, c.sealer, peer, device);
    } catch (e) {
      if (e instanceof IntegrityError) return undefined; // encryptQueued reports it
      throw e;
    }
    if (!state || (listed !== null && !listed.some((d) => d.device === device && sameDeviceKeys(d, sessionIdentity(state))))) return undefined;
    states.set(device, state);
  }
  if (states.size === 0 || (listed !== null && listed.some((d) => !states.has(d.device)))) return undefined;
  const insert = envelopeInsert(c);
  return {
    encrypt: (p) => encryptRow(c, insert, states, [...states.keys()], peer, p.id, 'text', encodePayload(p)),
    done: () => {
      for (const [device, state] of states) saveSession(c.db, c.sealer, peer, device, state, c.now());
    },
  };
}

/** Stage 1 for a delivery receipt; call inside the transaction that stored the message. */
export function queueReceipt(c: Client, peer: string, messageId: string): void {
  queueReceipts(c, peer, [messageId]);
}

/**
 * Stage 1 for the receipts of `messageIds` (in arrival order, no repeats), from one peer: one
 * receipt payload per MAX_RECEIPT_IDS ids (PROTOCOL §12.2), instead of one encryption and one
 * relay message per message that arrived. Call inside the transaction that stored the messages.
 */
export function queueReceipts(c: Client, peer: string, messageIds: readonly string[], read = false): void {
  const sentAt = new Date(c.now()).toISOString();
  // A receipt naming an id twice is refused by its receiver: repeats go (none are expected).
  const ids = [...new Set(messageIds)];
  for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
    const chunk = ids.slice(i, i + MAX_RECEIPT_IDS);
    // `id` is the newest: a client that predates `ids` marks only it, the one its user sees last.
    const id = chunk[chunk.length - 1]!;
    // A read receipt (read-receipts.ts) is the same payload with `read: true` (PROTOCOL §12.2);
    // a delivery receipt's `text` is as long as that field, so the relay sees one length for both.
    const text = read ? '' : DELIVERY_RECEIPT_TEXT;
    const p: Payload = chunk.length === 1 ? { v: 1, type: 'receipt', id, text, sentAt } : { v: 1, type: 'receipt', id, ids: chunk.slice(0, -1), text, sentAt };
    insertQueued(c, peer, read ? { ...p, read: true } : p);
  }
}

/** The outbox payload's row key: peer, message id and kind name the row it belongs to. */
export function outboxRowKey(peer: string, messageId: string, kind: string): (string | number)[] {
  return [peer, messageId, kind];
}

/**
 * Stage 1 for a payload meant for one other device of our own account only (a history batch for a
 * device just linked, and the chain of a group just before its history, docs/PROTOCOL.md D.12 step
 * 4): the row names the device before it is encrypted.
 */
export function queueForOwnDevice(c: Client, device: number, p: HistoryPayload | GroupChangePayload | StandingsPayload): void {
  insertQueued(c, ourAddress(c).user, p, device);
}

/** `device`: null for every device of the peer (chosen when encrypted), or the one device it is for. */
function insertQueued(c: Client, peer: string, p: Payload | FilePayload | SyncPayload | HistoryPayload | GroupChangePayload | StandingsPayload, device: number | null = null): void {
  // A file, a sync copy and a history batch travel as texts do (the outbox's kinds are text, receipt and group).
  const kind = p.type === 'receipt' ? 'receipt' : p.type === 'group_change' ? 'group' : 'text';
  c.db
    .prepare('INSERT INTO outbox (message_id, kind, peer, device, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)')
    .run(p.id, kind, peer, device, Buffer.from(c.sealer.seal('outbox', outboxRowKey(peer, p.id, kind), encodePayload(p))), c.now());
}

/**
 * Records the identities of freshly fetched bundles (TOFU); throws UntrustedIdentity on a change
 * (or a record that failed its integrity check) and RejectedIdentity for a key the user rejected.
 * `lists`: the peer's device lists as checkDeviceLists accepted them (device-lists.ts); a bundle
 * for a device they do not hold with its keys is refused (DeviceNotListed) before anything is
 * recorded, and the account key and list are pinned with the identity.
 */
export function checkBundles(
  c: { db: DB; sealer: Sealer; now: () => number },
  peer: string,
  bundles: { address: { device: number }; identity: PreKeyBundle['identity'] }[],
  lists: ListCheck = { kind: 'none' },
): 'new' | 'same' {
  assertListed(peer, lists, bundles);
  const account = lists.kind === 'accepted' ? lists.account : null;
  let seen: 'new' | 'same' = 'same';
  for (const b of bundles) {
    const r = tx(c.db, () => observeIdentity(c, peer, b.identity, c.now(), account, b.address.device));
    if (r === 'changed') throw new UntrustedIdentity(peer);
    if (r === 'rejected') throw new RejectedIdentity(peer);
    if (r === 'new') seen = 'new';
  }
  return seen;
}

export interface SealReport {
  held: string[]; // peers nothing may be sent to (key changed, record failed its check): their messages wait for `verify`
  failed: { peer: string; code: string; message: string }[];
  /** The store was rolled back (integrity/open.ts): nothing was encrypted, everything stays queued. */
  rolledBack: boolean;
}

function failQueued(c: Client, peer: string, code: string): void {
  tx(c.db, () => {
    c.db.prepare("UPDATE messages SET status = 'failed', error = ? WHERE peer = ? AND direction = 'out' AND id IN (SELECT message_id FROM outbox WHERE peer = ?)").run(code, peer, peer);
    c.db.prepare('DELETE FROM outbox WHERE peer = ?').run(peer);
  });
}

/**
 * Stage 2: encrypts every queued payload for each device of its peer. Peers without a session need
 * their bundle (from `bundles`, or fetched when a relay target is given; skipped otherwise).
 */
export async function encryptQueued(c: Client, t: RelayTarget | undefined, bundles = new Map<string, PreKeyBundle[]>()): Promise<SealReport> {
  const report: SealReport = { held: [], failed: [], rolledBack: false };
  if (storeAlarm(c)) return { ...report, rolledBack: true };
  const peers = (c.db.prepare('SELECT DISTINCT peer FROM outbox WHERE envelope IS NULL').all() as { peer: string }[]).map((r) => r.peer);
  const me = ourAddress(c).user;
  for (const peer of peers) {
    let peerBundles = bundles.get(peer);
    try {
      // Fan-out (D.13): a contact's pinned list, and our own, are checked again when the last
      // check in this process is older than LIST_RECHECK_MS (or a relay refused one of their devices).
      if (t && listCheckWanted(c, peer)) {
        if (peer === me) await refreshOwnList(c, t);
        else {
          await refreshPinnedList(c, t, peer);
          // Checked (a list the relay serves that cannot be accepted threw): not again for
          // LIST_RECHECK_MS, as our own. Unnoted, a long-running command fetched a contact's lists
          // before every pass that encrypted for them, and never queued a line encrypted at once.
          noteListChecked(c, peer);
        }
      }
      // A list accepted since (by `send`, or another process) may have left a device out.
      if (peer !== me) tx(c.db, () => dropUnlistedSessions(c, peer));
      if (peer !== me && sendRefusal(c, peer)) {
        report.held.push(peer);
        continue;
      }
      if (!peerBundles && needsBundles(c, peer)) {
        // Without the relay, a listed device with no session waits too: the message stays queued
        // rather than leave for some devices only.
        if (!t) continue;
        if (listedDevices(c, peer) === null || bundleFetchDue(c, peer)) {
          noteBundlesFetched(c, peer);
          peerBundles = await fetchBundles(t, peer);
          if (peer !== me) {
            checkBundles(c, peer, peerBundles, await checkDeviceLists(c, t, peer));
            noteListChecked(c, peer); // as `send` does after the same check
          }
        }
      }
    } catch (e) {
      if (e instanceof UntrustedIdentity || e instanceof RejectedIdentity || e instanceof DeviceListRefused || e instanceof DeviceNotListed) {
        report.held.push(peer);
        continue;
      }
      if (e instanceof CliError && e.code === 'unknown_user') {
        // Queued while the relay was down, to a name the relay does not know: fail it visibly.
        failQueued(c, peer, e.code);
        report.failed.push({ peer, code: e.code, message: e.message });
        continue;
      }
      if (e instanceof CliError && e.code === 'no_keys_published') continue;
      throw e;
    }
    const stale = (peerBundles ?? []).find((b) => staleSignedPreKey(b, c.now()));
    if (stale && sessionDevices(c.db, c.sealer, peer).length === 0) {
      // Stays queued: a fresh bundle may come once the peer's client rotates its signed prekey.
      const e = staleSignedPreKey(stale, c.now())!;
      report.failed.push({ peer, code: e.code, message: e.message });
      continue;
    }
    encryptForPeer(c, peer, peerBundles ?? []);
  }
  return report;
}

/**
 * Whether encryptQueued checks `peer`'s device lists before encrypting for them (given a relay):
 * ours, or a contact's pinned ones, when the last check is due. A contact with no list has none to check.
 */
function listCheckWanted(c: Client, peer: string): boolean {
  return listCheckDue(c, peer) && (peer === ourAddress(c).user || listedDevices(c, peer) !== null);
}

/**
 * Whether encrypting for `peer` needs bundles: a contact with no list, when we have no session
 * with any device of theirs; a contact with a pinned list (or our own account), when a device it
 * holds has no session.
 */
function needsBundles(c: Client, peer: string): boolean {
  const listed = listedDevices(c, peer);
  const sessions = new Set(sessionDevices(c.db, c.sealer, peer));
  if (listed === null) return sessions.size === 0;
  return listed.some((d) => !sessions.has(d.device));
}

function encryptForPeer(c: Client, peer: string, bundles: PreKeyBundle[]): void {
  const me = ourAddress(c);
  tx(c.db, () => {
    const own = peer === me.user;
    // Checked again under the write lock: another process may have changed the contact meanwhile.
    if (!own && sendRefusal(c, peer)) return;
    // With a list (a contact's pinned one, or our own): every device it holds, and only those.
    dropUnlistedSessions(c, peer);
    const listed = listedDevices(c, peer);
    if (own && listed!.length === 0) {
      // No other device of ours (any more): the copies have no one to go to.
      c.db.prepare('DELETE FROM outbox WHERE peer = ? AND envelope IS NULL').run(peer);
      return;
    }
    const states = new Map<number, SessionState>();
    for (const device of sessionDevices(c.db, c.sealer, peer)) states.set(device, loadSession(c.db, c.sealer, peer, device)!);
    if (listed === null) {
      if (states.size === 0) for (const b of bundles) states.set(b.address.device, initiateSession(c.secrets.identity, me, b, c.random, c.now()));
    } else {
      for (const d of listed) {
        if (states.has(d.device)) continue;
        // Only the key the list holds for that device (our own list is not checked by checkBundles).
        const b = bundles.find((x) => x.address.device === d.device && sameDeviceKeys(x.identity, d));
        if (b) states.set(d.device, initiateSession(c.secrets.identity, me, b, c.random, c.now()));
      }
    }
    if (states.size === 0) return;
    mergeQueuedReceipts(c, peer);
    const rows = c.db.prepare('SELECT seq, message_id, kind, device, payload FROM outbox WHERE peer = ? AND envelope IS NULL ORDER BY seq').all(peer) as {
      seq: number;
      message_id: string;
      kind: string;
      device: number | null;
      payload: Buffer;
    }[];
    const insert = envelopeInsert(c);
    for (const r of rows) {
      // A row queued for one device (queueForOwnDevice) goes to that device alone: it waits while
      // there is no session with it, and is dropped once the list no longer holds it.
      if (r.device !== null && listed !== null && !listed.some((d) => d.device === r.device)) {
        c.db.prepare('DELETE FROM outbox WHERE seq = ?').run(r.seq);
        continue;
      }
      const devices = r.device === null ? [...states.keys()] : states.has(r.device) ? [r.device] : [];
      if (devices.length === 0) continue;
      encryptRow(c, insert, states, devices, peer, r.message_id, r.kind, c.sealer.open('outbox', outboxRowKey(peer, r.message_id, r.kind), new Uint8Array(r.payload)));
      c.db.prepare('DELETE FROM outbox WHERE seq = ?').run(r.seq);
    }
    for (const [device, state] of states) saveSession(c.db, c.sealer, peer, device, state, c.now());
  });
}

function envelopeInsert(c: Client): SqlStatement {
  return c.db.prepare('INSERT INTO outbox (message_id, kind, peer, device, client_id, envelope, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
}

/**
 * One envelope row per device for a payload, each from the device's session in `states` (advanced
 * there: the caller saves them in the same transaction).
 */
function encryptRow(c: Client, insert: SqlStatement, states: Map<number, SessionState>, devices: number[], peer: string, messageId: string, kind: string, plaintext: Uint8Array): void {
  for (const device of devices) {
    const out = encryptMessage(states.get(device)!, plaintext, c.random);
    states.set(device, out.state);
    // The relay's idempotency id: random, so it names neither the message nor, for a receipt,
    // the message acknowledged (the relay would link the two). Fixed here, so a resend reuses it.
    insert.run(messageId, kind, peer, device, newMessageId(c), Buffer.from(out.envelope), c.now());
  }
}

/**
 * The receipts queued for `peer` and not yet encrypted, merged into as few as MAX_RECEIPT_IDS
 * allows, placed after everything queued before them. Each page of a conversation's messages
 * queues one; while messages trickle in, a page is a frame or two, and the receipts were one
 * encryption, one relay message and one decryption at the sender per message received
 * (docs/PERFORMANCE.md "Client cores"). A receipt says nothing about order, so moving it later is
 * harmless. Call inside the transaction that encrypts them.
 */
function mergeQueuedReceipts(c: Client, peer: string): void {
  const rows = c.db.prepare("SELECT seq, message_id, payload FROM outbox WHERE peer = ? AND kind = 'receipt' AND envelope IS NULL ORDER BY seq").all(peer) as {
    seq: number;
    message_id: string;
    payload: Buffer;
  }[];
  if (rows.length < 2) return;
  // Delivery and read receipts merge each with its own kind: a message read was delivered, but a
  // read receipt must not carry ids that were only delivered.
  const ids = { delivered: [] as string[], read: [] as string[] };
  for (const r of rows) {
    const p = parsePayload(c.sealer.open('outbox', outboxRowKey(peer, r.message_id, 'receipt'), new Uint8Array(r.payload)));
    if (p.type !== 'receipt') continue;
    (p.read ? ids.read : ids.delivered).push(...receiptIds(p));
    c.db.prepare('DELETE FROM outbox WHERE seq = ?').run(r.seq);
  }
  queueReceipts(c, peer, ids.delivered);
  queueReceipts(c, peer, ids.read, true);
}

export interface FlushReport {
  sent: number; // envelopes the relay acknowledged
  pending: number; // rows still in the outbox (relay down, queue full, rate limited, identity held)
  failed: { peer: string; code: string; message: string }[];
  unreachable: boolean;
}

type OutboxRow = { seq: number; message_id: string; kind: string; peer: string; device: number; client_id: string; envelope: Buffer };

/** Over HTTP: peers flushed at the same time, each over its own sequence of requests. */
const HTTP_PEER_LANES = 8;
/** Over the WebSocket: sends in flight (unanswered) at once, whatever their recipients. */
const WS_WINDOW = 64;
/**
 * A flush refused by the relay's send rate limit waits its `retryAfter` and goes on, for at most
 * this long in all: a backlog of thousands leaves in one command instead of one burst per
 * command, and no command hangs for minutes on a relay that keeps refusing.
 */
const RATE_LIMIT_WAIT_MS = 30_000;
/** The wait when a rate_limited refusal names no retryAfter. */
const DEFAULT_RETRY_MS = 1000;

/**
 * Sends every encrypted row; stops at the first sign the relay is down. A row leaves the outbox
 * only when the relay has acknowledged it, and each peer's rows are stored by the relay in outbox
 * order (the relay queues a recipient's messages in the order it stores them), whatever it
 * refuses and we resend:
 *  - with an open WebSocket, over it, up to WS_WINDOW unanswered `send` frames at a time: the relay
 *    stores the frames of one connection in the order they arrive, and once it refuses one with a
 *    retryable error it refuses every later one to that recipient on the connection
 *    (`out_of_order`) until the refused one comes back (docs/RELAY.md "Order");
 *  - otherwise one HTTP request at a time per peer (separate connections give no order), with up
 *    to HTTP_PEER_LANES peers in parallel.
 * Either way, after a retryable refusal nothing more is sent to that peer in this pass, and the
 * next pass (after a rate limit's wait, or the next command) starts again at the refused row.
 */
export async function flushOutbox(c: { db: DB }, t: RelayTarget, socket?: RelaySocket): Promise<FlushReport> {
  const report: FlushReport = { sent: 0, pending: 0, failed: [], unreachable: false };
  // Chosen once: if the socket drops mid-flush, the rest waits for the next flush rather than
  // racing over HTTP past sends still unanswered on the socket.
  const ws = socket?.open ? socket : undefined;
  const until = Date.now() + RATE_LIMIT_WAIT_MS;
  let waiting = await flushPass(c, t, ws, report, undefined);
  for (;;) {
    if (report.unreachable || waiting.size === 0) break;
    const limited = [...waiting].filter(([, e]) => e.code === 'rate_limited' || e.code === 'out_of_order');
    if (limited.length === 0) break;
    const waitMs = Math.max(DEFAULT_RETRY_MS, ...limited.map(([, e]) => (e.retryAfter ?? 0) * 1000));
    if (Date.now() + waitMs > until) break;
    await new Promise((r) => setTimeout(r, waitMs));
    const again = await flushPass(c, t, ws, report, new Set(limited.map(([peer]) => peer)));
    for (const [peer] of limited) waiting.delete(peer);
    waiting = new Map([...waiting, ...again]);
  }
  for (const [peer, e] of waiting) report.failed.push({ peer, code: e.code, message: e.message });
  // Group messages are not sent from here: they leave only after a receive pass (sync before
  // send), by flushGroupOutbox after this flush (so the sender keys they need go first).
  report.pending = countOutbox(c);
  return report;
}

/**
 * One pass over the outbox (only `peers`, when given). Returns the peers whose rows stopped at a
 * retryable refusal, each with the refusal that stopped them (the first that was not out_of_order,
 * which only follows another).
 */
async function flushPass(c: { db: DB }, t: RelayTarget, ws: RelaySocket | undefined, report: FlushReport, peers: Set<string> | undefined): Promise<Map<string, RelayError>> {
  const rows = (c.db.prepare('SELECT seq, message_id, kind, peer, device, client_id, envelope FROM outbox WHERE envelope IS NOT NULL ORDER BY seq').all() as OutboxRow[]).filter(
    (r) => !peers || peers.has(r.peer),
  );
  const stopped = new Map<string, RelayError>();
  const acked = new AckedRows(c);
  const sendRow = async (r: OutboxRow): Promise<void> => {
    if (stopped.has(r.peer) || report.unreachable) return;
    try {
      const to = [{ user: r.peer, device: r.device }];
      const body = toBase64url(new Uint8Array(r.envelope));
      if (ws) await ws.submit(r.client_id, to, body);
      else await postMessage(t, r.client_id, to, body);
      await acked.remove(r);
      report.sent++;
    } catch (e) {
      // What was acknowledged before this answer leaves the outbox first, as it would one by one.
      acked.commit();
      if (isUnreachable(e)) {
        report.unreachable = true;
        return;
      }
      if (isRetryableRefusal(e)) {
        // Kept, with everything after it for this peer: sent again in order from here.
        const first = stopped.get(r.peer);
        if (!first || (first.code === 'out_of_order' && e.code !== 'out_of_order')) stopped.set(r.peer, e);
        return;
      }
      if (e instanceof RelayError && (e.code === 'unknown_device' || e.code === 'device_removed')) {
        // One device of the peer is gone (removed from their list, or never there): the others
        // still count. Their lists are checked again before the next encryption for them, which
        // drops the session with a device the list no longer holds.
        forceListCheck(c, r.peer);
        const failed = tx(c.db, () => {
          c.db.prepare('DELETE FROM outbox WHERE seq = ?').run(r.seq);
          if (r.kind !== 'text') return false;
          const others = c.db.prepare("SELECT 1 FROM outbox WHERE peer = ? AND message_id = ? AND kind = 'text'").get(r.peer, r.message_id);
          const taken = c.db.prepare("SELECT 1 FROM sent_client_ids WHERE kind = 'text' AND peer = ? AND message_id = ?").get(r.peer, r.message_id);
          if (taken) markSentIfDone(c, r.peer, r.message_id);
          if (taken || others) return false;
          c.db.prepare("UPDATE messages SET status = 'failed', error = ? WHERE peer = ? AND direction = 'out' AND id = ?").run(e.code, r.peer, r.message_id);
          return true;
        });
        if (failed) report.failed.push({ peer: r.peer, code: e.code, message: e.message });
        return;
      }
      if (e instanceof RelayError && e.status !== 401) {
        // The relay refuses this message for good (unknown user or device, too large): say so,
        // mark it failed in the history and drop it from the outbox.
        tx(c.db, () => {
          c.db.prepare('DELETE FROM outbox WHERE seq = ?').run(r.seq);
          if (r.kind === 'text') {
            c.db.prepare("UPDATE messages SET status = 'failed', error = ? WHERE peer = ? AND direction = 'out' AND id = ?").run(e.code, r.peer, r.message_id);
          }
        });
        report.failed.push({ peer: r.peer, code: e.code, message: e.message });
        return;
      }
      throw e;
    }
  };
  if (ws) await inWindow(rows, WS_WINDOW, sendRow, () => report.unreachable);
  else {
    const byPeer = new Map<string, OutboxRow[]>();
    for (const r of rows) {
      const list = byPeer.get(r.peer);
      if (list) list.push(r);
      else byPeer.set(r.peer, [r]);
    }
    await inWindow([...byPeer.values()], HTTP_PEER_LANES, async (peerRows) => {
      for (const r of peerRows) await sendRow(r);
    }, () => report.unreachable);
  }
  return stopped;
}

/**
 * Starts `run` on the items in order, at most `window` unfinished at once; stops starting new ones
 * once `stop()` says so. Waits for every started one; the first unexpected error is rethrown.
 */
async function inWindow<T>(items: T[], window: number, run: (item: T) => Promise<void>, stop: () => boolean): Promise<void> {
  const running = new Set<Promise<void>>();
  let failure: { e: unknown } | undefined;
  for (const item of items) {
    if (stop() || failure) break;
    const p: Promise<void> = run(item).then(
      () => void running.delete(p),
      (e: unknown) => {
        running.delete(p);
        failure ??= { e };
      },
    );
    running.add(p);
    if (running.size >= window) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure) throw failure.e;
}

/**
 * Rows the relay acknowledged, removed from the outbox together: one transaction per turn of the
 * event loop (the `sent` answers of a window arrive in a few reads) instead of one per send, whose
 * commits were the largest cost of sending (docs/PERFORMANCE.md "Client cores"). A row still leaves
 * only once acknowledged; a crash before the commit resends it under the same client id, which
 * the relay deduplicates.
 */
class AckedRows {
  private rows: OutboxRow[] = [];
  private batch: { done: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;

  constructor(private readonly c: { db: DB }) {}

  /** Resolves once `r` is removed (committed), with the others of this turn. */
  remove(r: OutboxRow): Promise<void> {
    this.rows.push(r);
    if (!this.batch) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      this.batch = { done, resolve, reject };
      setImmediate(() => {
        try {
          this.commit();
        } catch {
          // Already handed to the batch's waiters.
        }
      });
    }
    return this.batch.done;
  }

  /** Removes what is waiting now, in one transaction (at once, e.g. before another outbox change). */
  commit(): void {
    const rows = this.rows;
    const batch = this.batch;
    this.rows = [];
    this.batch = undefined;
    if (!batch) return;
    try {
      tx(this.c.db, () => {
        const now = Date.now();
        for (const r of rows) {
          this.c.db.prepare('DELETE FROM outbox WHERE seq = ?').run(r.seq);
          if (r.kind === 'text') {
            markSentIfDone(this.c, r.peer, r.message_id);
            rememberSent(this.c.db, r.client_id, 'text', r.peer, r.message_id, now);
          }
        }
      });
    } catch (e) {
      batch.reject(e);
      throw e;
    }
    batch.resolve();
  }
}

function markSentIfDone(c: { db: DB }, peer: string, messageId: string): void {
  const left = c.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE peer = ? AND message_id = ? AND kind = 'text'").get(peer, messageId) as { n: number };
  if (left.n === 0) c.db.prepare("UPDATE messages SET status = 'sent' WHERE peer = ? AND direction = 'out' AND id = ? AND status = 'queued'").run(peer, messageId);
}

/** Stage 2 + send: what every command that reaches the relay does first. */
export async function deliverOutbox(c: Client, t: RelayTarget, socket?: RelaySocket): Promise<FlushReport & { held: string[] }> {
  let sealed: SealReport;
  try {
    await syncBlocks(c, t);
    // Our own account's list, so that what this process queues next gets its sync copies (D.13).
    const me = ourAddress(c).user;
    if (listCheckDue(c, me)) await refreshOwnList(c, t);
    sealed = await encryptQueued(c, t);
  } catch (e) {
    if (!isUnreachable(e)) throw e;
    return { sent: 0, pending: countOutbox(c), failed: [], unreachable: true, held: [] };
  }
  const flushed = await flushOutbox(c, t, socket);
  return { ...flushed, held: sealed.held, failed: [...sealed.failed, ...flushed.failed] };
}

export function countOutbox(c: { db: DB }): number {
  return (c.db.prepare('SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM group_outbox) AS n').get() as { n: number }).n;
}
