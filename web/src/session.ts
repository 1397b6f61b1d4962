// What every part of the chat page shares once an account is open: the client core assembled over
// sql.js (`c`, `db`), the vault it is saved into, the conversation on screen, and the few acts all
// parts need: show a change and save it, open a conversation, say a failure.
//
// Each part of the page (the conversation list and view in chat.ts, groups, files, …) is a Feature
// in features.ts: `start` once the account is open, `render` after every change. A part keeps its
// own code in its own file; this one and features.ts are the only places they meet.
import { toBase64url } from '../../crypto/encoding.js';
import type { Client } from '../../client/core/context.js';
import type { ConversationRef } from '../../client/core/conversations.js';
import { snapshotFiles } from '../../client/core/platform/memory-files.js';
import type { SqlJsStore } from '../../client/core/platform/sqljs.js';
import { byId, setStatus } from './dom.js';
import type { Vault } from './vault/index.js';

export const HOME_BLOB = 'home';

export interface Session {
  c: Client;
  db: SqlJsStore;
  vault: Vault;
  /** The conversation on screen, or none. */
  ref: ConversationRef | null;
  stopped: boolean;
  /** The saves in order (changed()). */
  saving: Promise<void>;
  /** The core work in order (exclusive()): every send, change, file and outbox flush. */
  core: Promise<unknown>;
}

export interface Feature {
  /** Once the account is open (after a reload too): wire the part's controls. */
  start?(s: Session): void;
  /** After every change: draw the part from the store. Must not throw for a missing element. */
  render?(s: Session): void;
  /** The page locks: stop timers, sockets, anything started. */
  stop?(s: Session): void;
}

let features: readonly Feature[] = [];

/** Set once by features.ts (kept apart so a part can import this file without a cycle). */
export function useFeatures(list: readonly Feature[]): void {
  features = list;
}

export function startAll(s: Session): void {
  for (const f of features) f.start?.(s);
  renderAll(s);
}

export function renderAll(s: Session): void {
  for (const f of features) f.render?.(s);
}

export function stopAll(s: Session): void {
  for (const f of features) f.stop?.(s);
}

/**
 * Shows the change and saves the home soon: once the work in hand (a transaction of the receive
 * pass) is over, one save after another, each a snapshot of the moment it starts.
 */
export function changed(s: Session): void {
  renderAll(s);
  setTimeout(() => {
    s.saving = s.saving.then(() => save(s)).catch(showFailure);
  }, 0);
}

/** store.db's image and the home's files, sealed into the vault. */
export async function save(s: Session): Promise<void> {
  const files = Object.fromEntries([...snapshotFiles()].map(([k, v]) => [k, toBase64url(v)]));
  await s.vault.put(HOME_BLOB, new TextEncoder().encode(JSON.stringify({ files, store: toBase64url(s.db.export()) })));
}

/**
 * Runs core work that reaches the store and the relay one piece at a time, in the order asked:
 * sends, group changes, files, and live.ts's outbox flushes. Two at once are not safe on one
 * account: two flushes encrypting the same outbox rows could open two sessions to one device. The
 * CLI's chat does the same (client/chat/chat.ts `serial`). A core call that runs a receive pass
 * first is given live.ts's `liveSyncer` (a round trip on the kept socket), never the core's
 * default, whose own socket would replace the kept one at the relay (close 4002).
 */
export function exclusive<T>(s: Session, work: () => Promise<T>): Promise<T> {
  const run = s.core.then(() => work());
  s.core = run.catch(() => {});
  return run;
}

/** Puts a conversation on screen, its input focused. */
export function select(s: Session, ref: ConversationRef): void {
  s.ref = ref;
  renderAll(s);
  byId('message').focus();
}

export function showFailure(e: unknown): void {
  if (takeFailure?.(e)) return;
  setStatus('error', e instanceof Error ? e.message : String(e));
}

let takeFailure: ((e: unknown) => boolean) | null = null;

/**
 * account.ts: every failure passes here first; one that is the relay refusing this device's token
 * (expired or revoked) it takes (true) and asks for the password instead of saying the error.
 */
export function whenFailing(take: ((e: unknown) => boolean) | null): void {
  takeFailure = take;
}
