// send: check the peer's identity against the key directory (this is where a changed key is
// noticed before anything is encrypted for it), queue, encrypt, deliver. With the relay down the
// message stays queued and the command still succeeds.
import type { PreKeyBundle } from '../../crypto/prekeys.js';
import type { FileRef } from './payload.js';
import { relayTarget, type Client } from './context.js';
import { checkDeviceLists } from './device-lists.js';
import { noteListChecked, refreshOwnList } from './fanout.js';
import { checkBundles, encryptQueued, flushOutbox, queueText } from './outbox.js';
import { fetchBundles, fetchIdentities } from './relay-api.js';
import { assertSendable } from './send-guard.js';
import { sessionDevices } from './sessions.js';
import { staleSignedPreKey } from './stale-prekey.js';
import { isUnreachable } from './relay-http.js';

export interface SendResult {
  id: string;
  to: string;
  sentAt: string;
  status: 'sent' | 'queued';
  reason?: string; // why it stayed queued
}

/** `file`: a file message (client/core/files/send.ts), `text` its caption. */
export async function sendText(c: Client, peer: string, text: string, file?: FileRef): Promise<SendResult> {
  // Rollback, a changed key, a record or session that failed its integrity check, a session made
  // with another key than the pinned one: refused before anything is queued.
  assertSendable(c, peer);
  const t = relayTarget(c);
  // With a session, the identity lookup is enough to notice a changed key and spends no one-time
  // prekey of the peer; only a first message needs a bundle.
  let bundles: PreKeyBundle[] | undefined;
  let reached = false;
  try {
    if (sessionDevices(c.db, c.sealer, peer).length > 0) {
      checkBundles(c, peer, await fetchIdentities(t, peer), await checkDeviceLists(c, t, peer));
      bundles = [];
    } else {
      bundles = await fetchBundles(t, peer);
      checkBundles(c, peer, bundles, await checkDeviceLists(c, t, peer));
      for (const b of bundles) {
        const stale = staleSignedPreKey(b, c.now());
        if (stale) throw stale;
      }
    }
    noteListChecked(c, peer);
    // Our own list too: a copy of the message goes to each other device of ours (D.13).
    await refreshOwnList(c, t);
    reached = true;
  } catch (e) {
    if (!isUnreachable(e)) throw e;
  }
  const q = queueText(c, peer, text, file);
  const result: SendResult = { id: q.id, to: peer, sentAt: q.sentAt, status: 'queued' };
  if (!reached) {
    // Encrypt now when a session exists, so any later command (even one without the passphrase,
    // like `who`) can hand the ciphertext to the relay.
    await encryptQueued(c, undefined);
    return { ...result, reason: 'relay unreachable' };
  }
  try {
    await encryptQueued(c, t, bundles && bundles.length > 0 ? new Map([[peer, bundles]]) : undefined);
    const r = await flushOutbox(c, t);
    if (r.unreachable) return { ...result, reason: 'relay unreachable' };
    // The message's own rows (its copies to our other devices are not what `sent` means).
    const left = c.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE message_id = ? AND kind = 'text' AND peer = ?").get(q.id, peer) as { n: number };
    if (left.n > 0) {
      const f = r.failed.find((x) => x.peer === peer);
      return { ...result, reason: f ? `${f.code}: ${f.message}` : 'not acknowledged' };
    }
    const row = c.db.prepare("SELECT status, error FROM messages WHERE peer = ? AND direction = 'out' AND id = ?").get(peer, q.id) as { status: string; error: string | null };
    if (row.status === 'failed') return { ...result, status: 'queued', reason: row.error ?? 'failed' };
    return { ...result, status: 'sent' };
  } catch (e) {
    if (isUnreachable(e)) return { ...result, reason: 'relay unreachable' };
    throw e;
  }
}
