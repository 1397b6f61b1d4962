// Typing indicators (docs/PROTOCOL.md §12.2 "Typing indicators"): a `typing` payload, sealed to
// each device of a contact like any message, sent as an ephemeral relay send (docs/RELAY.md
// "Ephemeral sends"): pushed to the devices connected at that moment, never stored, dropped
// otherwise.
//
// A typing message must therefore never advance a session. A dropped one would leave a skipped key
// at the receiver, which gaps.ts reports after its grace as a message the relay dropped, and
// which fills MKSKIPPED towards MAX_SKIPPED_KEYS. So both sides throw the ratchet state away: the
// sender encrypts with its current session and does not save the result (the next real message
// takes the same chain position with a fresh random nonce: two encryptions under one message key
// and two nonces, which §8.8 shows to be safe), and the receiver decrypts with its current session
// and keeps nothing. A dropped indicator leaves no trace: no skipped key, no gap, nothing stored.
// One that arrives after the real message of its position is a duplicate_message there, ignored.
//
// A client that predates typing never decrypts one: the relay hands it an `ephemeral` frame, a
// type such a client ignores (relay-ws.ts), so nothing is negotiated and nothing shows as an error.
//
// Sent and shown only between accepted contacts (never to or from a request, a blocked user or a
// changed key), pairwise only (groups have none), not receipted, never in history. The setting is
// per device (meta `typing`, default on), as read receipts': off, none is sent.
import { isCryptoError } from '../../crypto/errors.js';
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { decryptMessage, encryptMessage, messageType, sessionIdentity } from '../../crypto/session.js';
import { contactHolds } from './contact-record.js';
import { readContact } from './contacts.js';
import { ourAddress, type Client } from './context.js';
import { getMeta, setMeta } from './db.js';
import { listedDevices } from './fanout.js';
import { IntegrityError } from './integrity/errors.js';
import { newMessageId } from './outbox.js';
import { encodePayload, parsePayload, PayloadError } from './payload.js';
import type { EphemeralFrame, RelaySocket } from './relay-ws.js';
import { standing } from './requests.js';
import { sendRefusal } from './send-guard.js';
import { loadSession, sessionDevices } from './sessions.js';

export type TypingState = 'started' | 'stopped';

/**
 * While the user keeps typing, "started" goes again at most this often: a device that connected
 * since learns it, and the receiver's display (TYPING_SHOW_MS) does not run out. Never once per key.
 */
export const TYPING_REPEAT_MS = 10_000;
/** No key pressed for this long: "stopped" (also at once when the message is sent or the input emptied). */
export const TYPING_IDLE_MS = 5_000;
/**
 * A receiver shows "typing" this long after the last "started": longer than TYPING_REPEAT_MS, so a
 * steady typist shows steadily, and short enough that a lost "stopped" clears soon.
 */
export const TYPING_SHOW_MS = 15_000;

const SETTING = 'typing';

/** Whether this device sends typing indicators (on unless turned off). */
export function typingOn(c: Client): boolean {
  return getMeta(c.db, SETTING) !== 'off';
}

export function setTyping(c: Client, on: boolean): void {
  setMeta(c.db, SETTING, on ? 'on' : 'off');
}

/** The contact record of `peer` when typing may pass between us at all: an accepted contact whose key we trust. */
function typingContact(c: Client, peer: string) {
  if (peer === ourAddress(c).user || standing(c, peer) !== 'accepted') return undefined;
  const contact = readContact(c, peer);
  return contact?.integrity === 'ok' && contact.trust !== 'changed' ? contact : undefined;
}

/**
 * The envelopes of one typing indicator to `peer`, one per device we hold a session with (and that
 * their pinned list holds): none with the setting off, or to anyone but an accepted contact with a
 * trusted key. The sessions are not saved (see the top of this file). A session that still sends
 * first messages (no answer from that device yet) gets none: its first message must stay the one
 * that spends their one-time prekey.
 */
export function sealTyping(c: Client, peer: string, state: TypingState): { device: number; clientId: string; body: string }[] {
  if (!typingOn(c) || !typingContact(c, peer) || sendRefusal(c, peer)) return [];
  const listed = listedDevices(c, peer);
  const payload = encodePayload({ v: 1, type: 'typing', id: newMessageId(c), sentAt: new Date(c.now()).toISOString(), state });
  const out: { device: number; clientId: string; body: string }[] = [];
  for (const device of sessionDevices(c.db, c.sealer, peer)) {
    if (listed !== null && !listed.some((d) => d.device === device)) continue;
    let session;
    try {
      session = loadSession(c.db, c.sealer, peer, device);
    } catch (e) {
      if (e instanceof IntegrityError) continue;
      throw e;
    }
    if (!session || session.pendingPreKey !== null) continue;
    // The state encryptMessage returns is dropped on purpose: a typing message takes no position.
    const sealed = encryptMessage(session, payload, c.random);
    out.push({ device, clientId: newMessageId(c), body: toBase64url(sealed.envelope) });
  }
  return out;
}

/**
 * Seals and hands one typing indicator to the relay over `socket` (ephemeral sends). Best effort:
 * a refusal (rate limited, or a relay that predates ephemeral sends: bad_request) loses only this
 * indicator; after a bad_request none is sent on that socket again, since bad frames close it.
 */
export async function sendTyping(c: Client, socket: RelaySocket | undefined, peer: string, state: TypingState): Promise<void> {
  if (!socket?.open || refusingSockets.has(socket)) return;
  const sends = sealTyping(c, peer, state).map((e) =>
    socket.submitEphemeral(e.clientId, [{ user: peer, device: e.device }], e.body).catch((err: unknown) => {
      if ((err as { code?: string }).code === 'bad_request') refusingSockets.add(socket);
    }),
  );
  await Promise.all(sends);
}

const refusingSockets = new WeakSet<RelaySocket>();

/**
 * What an ephemeral frame says, when it is a typing indicator from an accepted contact with a
 * trusted key, sealed with the session we hold with that device; otherwise undefined, quietly (an
 * indicator is never worth an error, and a real message never comes this way). Nothing is stored:
 * the session state decrypting made is dropped, as the sender dropped its own.
 */
export function openTyping(c: Client, f: EphemeralFrame): { from: string; state: TypingState } | undefined {
  const from = f.from.user;
  const contact = typingContact(c, from);
  if (!contact) return undefined;
  try {
    const envelope = fromBase64url(f.body);
    // Never a first message: taking it would spend a one-time prekey for an indicator.
    if (messageType(envelope) !== 'message') return undefined;
    const session = loadSession(c.db, c.sealer, from, f.from.device);
    if (!session) return undefined;
    const opened = decryptMessage(session, envelope);
    if (!contactHolds(contact, f.from.device, sessionIdentity(opened.state))) return undefined;
    const p = parsePayload(opened.plaintext);
    return p.type === 'typing' ? { from, state: p.state } : undefined;
  } catch (e) {
    if (isCryptoError(e) || e instanceof PayloadError || e instanceof IntegrityError) return undefined;
    throw e;
  }
}

export interface Timers {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(t: unknown): void;
}

const realTimers: Timers = {
  now: () => Date.now(),
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
};

/**
 * When to send: fed every change of the input, it says "started" at the first key and again at
 * most every TYPING_REPEAT_MS while keys keep coming, and "stopped" after TYPING_IDLE_MS without
 * one, when the input is emptied or becomes a /command, when the conversation changes, and when
 * the message is sent (stop()). A "stopped" goes only after a "started".
 */
export class TypingSender {
  /** The peer "started" last went to, while it stands. */
  private peer: string | null = null;
  private startedAt = 0;
  private idle: unknown;

  constructor(
    private readonly send: (peer: string, state: TypingState) => void,
    private readonly timers: Timers = realTimers,
  ) {}

  /** The peer a "started" stands for (no "stopped" yet), or null. */
  get to(): string | null {
    return this.peer;
  }

  /** The input now holds `text`, in the conversation with `peer` (null: a group, or none). */
  input(peer: string | null, text: string): void {
    if (peer !== this.peer) this.stop();
    if (peer === null || text.trim() === '' || text.startsWith('/')) return this.stop();
    const now = this.timers.now();
    if (this.peer === null || now - this.startedAt >= TYPING_REPEAT_MS) {
      this.peer = peer;
      this.startedAt = now;
      this.send(peer, 'started');
    }
    if (this.idle !== undefined) this.timers.clear(this.idle);
    this.idle = this.timers.set(() => this.stop(), TYPING_IDLE_MS);
  }

  /** "stopped", if "started" went. */
  stop(): void {
    if (this.idle !== undefined) this.timers.clear(this.idle);
    this.idle = undefined;
    const peer = this.peer;
    this.peer = null;
    if (peer !== null) this.send(peer, 'stopped');
  }
}

/**
 * Who is typing, as the receiver shows it: "started" shows for TYPING_SHOW_MS, "stopped" or a
 * message from them ends it.
 */
export class TypingShown {
  private readonly until = new Map<string, number>();

  heard(peer: string, state: TypingState, now: number): void {
    if (state === 'started') this.until.set(peer, now + TYPING_SHOW_MS);
    else this.until.delete(peer);
  }

  /** A message from `peer` arrived: they are done typing it. */
  ended(peer: string): void {
    this.until.delete(peer);
  }

  isTyping(peer: string, now: number): boolean {
    const t = this.until.get(peer);
    if (t === undefined) return false;
    if (t > now) return true;
    this.until.delete(peer);
    return false;
  }
}
