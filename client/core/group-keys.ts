// Our side of the epoch rule (docs/PROTOCOL.md G.5): after every change we are still part of, a
// fresh sender key for the new epoch, sent to every other member over the pairwise sessions. The
// payloads go through the ordinary outbox, so they are encrypted per device and retried like text.
import { toBase64url } from '../../crypto/encoding.js';
import { createSenderKey, encodeSenderKeyDistribution, senderKeyDistribution, type GroupState, type OurSenderKey } from '../../crypto/group/index.js';
import { ourAddress, type Client } from './context.js';
import { deleteOurKeys, saveOurKey } from './group-store.js';
import { outboxRowKey } from './outbox.js';
import { encodePayload, type GroupControlPayload } from './payload.js';

function newId(c: Client): string {
  return toBase64url(c.random(16));
}

/** Queues a group payload for one peer (stage 1 of the outbox); call inside a transaction. */
export function queueControl(c: Client, peer: string, p: GroupControlPayload): void {
  c.db
    .prepare("INSERT INTO outbox (message_id, kind, peer, payload, created_at) VALUES (?, 'group', ?, ?, ?)")
    .run(p.id, peer, Buffer.from(c.sealer.seal('outbox', outboxRowKey(peer, p.id, 'group'), encodePayload(p))), c.now());
}

export function queueRecords(c: Client, peer: string, records: Uint8Array[]): void {
  queueControl(c, peer, { v: 1, type: 'group_change', id: newId(c), sentAt: new Date(c.now()).toISOString(), records: records.map(toBase64url) });
}

/**
 * A fresh sending chain for the group's current epoch, distributed to every other member. Every
 * member does this after every change, so a change costs O(N²) pairwise messages in all. The O(N)
 * form (issue 16) would keep this function's contract for removals (rotate before the next send)
 * but queue the distribution from queueGroupMessage instead, on our first send of the epoch, to the
 * members of the state we send on; the transcript in the distribution already lets a receiver
 * that is behind hold it until the change arrives.
 */
export function startEpoch(c: Client, state: GroupState): OurSenderKey {
  const me = ourAddress(c).user;
  const ours = createSenderKey(state, me, c.random);
  deleteOurKeys(c, state.groupId);
  saveOurKey(c, ours);
  const distribution = toBase64url(encodeSenderKeyDistribution(senderKeyDistribution(ours)));
  for (const m of state.members) {
    if (m.user === me) continue;
    queueControl(c, m.user, { v: 1, type: 'sender_key', id: newId(c), sentAt: new Date(c.now()).toISOString(), distribution });
  }
  return ours;
}
