// Group messages leave as ONE relay submission each (one per GROUP_FANOUT_MAX_RECIPIENTS recipient
// devices): the message is encrypted once under our sender key and the relay stores the body once
// and fans it out to the recipient list. Recipient devices are resolved at send time: every device
// of every other member, and our own other devices (group-devices.ts).
//
// Only a flush that follows a receive pass sends group messages (sync before send, docs/PROTOCOL.md
// G.9): what we learn in that pass (a removal above all) must come before what we send. A queued
// message whose group moved to a newer epoch meanwhile is encrypted again for the new epoch and its
// members, or failed when we are no longer one. The relay's fence (`stale_epoch`: it has seen a
// newer epoch of the group) means we are behind: the row waits for the next receive pass, after
// which it is encrypted again, or — when that pass taught us nothing newer, so the fence is ahead of
// anything we can learn — sent with `synced: true`. And a message waits while we hold anything a
// member sent at a newer epoch than ours: the group has moved on and the change has not reached us
// (a relay may be withholding it), so what we would send could reach a member it removed.
import { GROUP_FANOUT_MAX_RECIPIENTS } from '../../crypto/consts.js';
import { equalBytes, toBase64url, toHex } from '../../crypto/encoding.js';
import { encryptGroupMessage, isMember, peekGroupMessage } from '../../crypto/group/index.js';
import type { RowKey } from './at-rest.js';
import { ourAddress, type Client } from './context.js';
import { tx } from './db.js';
import { rememberSent } from './expired.js';
import { groupRecipients } from './group-devices.js';
import { keyForSend } from './group-keys.js';
import { loadGroup, saveOurKey } from './group-store.js';
import { deliverOutbox } from './outbox.js';
import { postMessage } from './relay-api.js';
import { assertNotRolledBack } from './send-guard.js';
import { isRetryableRefusal, isUnreachable, RelayError, type RelayTarget } from './relay-http.js';

export interface GroupFlushReport {
  sent: number;
  failed: { group: string; code: string; message: string }[];
  unreachable: boolean;
  /** Groups (hex id) whose messages the relay refused as stale_epoch and that wait for a receive pass. */
  stale: string[];
  /** Messages sent past the relay's fence after a receive pass (it is ahead of anything we hold). */
  pastFence: number;
  /** Groups (hex id) whose messages wait because members already use an epoch we have not reached. */
  behind: string[];
}

/** What a queued group message's payload is sealed under (column `outbox`): its group and message id. */
export function groupOutboxRowKey(groupId: Uint8Array, messageId: string): RowKey {
  return [groupId, messageId, 'group'];
}

interface Row {
  seq: number;
  group_id: Buffer;
  message_id: string;
  client_id: string;
  recipients: string;
  body: Buffer;
  payload: Buffer | null;
}

function finish(c: Pick<Client, 'db'>, r: Row, status: 'sent' | 'failed', error: string | null, clientIds: string[] = [r.client_id]): void {
  tx(c.db, () => {
    c.db.prepare('DELETE FROM group_outbox WHERE seq = ?').run(r.seq);
    c.db.prepare("UPDATE group_messages SET status = ?, error = ? WHERE group_id = ? AND direction = 'out' AND id = ?").run(status, error, r.group_id, r.message_id);
    if (status === 'sent') for (const id of clientIds) rememberSent(c.db, id, 'group', Buffer.from(r.group_id).toString('hex'), r.message_id, Date.now());
  });
}

/**
 * A fan-out refused by the relay's send rate limit (a fan-out costs one token per recipient device,
 * docs/RELAY.md) waits its `retryAfter` and goes on, for at most this long in one flush: the same
 * bound as the pairwise outbox's, so a create of a large group and its first message leave in one
 * command rather than one per minute.
 */
const RATE_LIMIT_WAIT_MS = 30_000;

/**
 * Brings a queued row to the group as it is now: the same ciphertext when the epoch and transcript
 * it was made for are still current, else the payload encrypted again under our key for the
 * current state (a new one after a removal), for its current members. Returns the row to send
 * (`keys`: distributions of our key were just queued, to go before it), or why it cannot be sent.
 */
function current(c: Client, r: Row): (Row & { keys?: boolean; to: Recipient[] }) | { fail: string } | 'behind' {
  return tx(c.db, () => {
    const g = loadGroup(c, new Uint8Array(r.group_id));
    if (!g || g.status !== 'active') return { fail: 'not_a_member' };
    const ahead = c.db.prepare('SELECT DISTINCT sender FROM group_pending WHERE group_id = ? AND epoch > ?').all(r.group_id, g.state.epoch) as { sender: string }[];
    if (ahead.some((a) => isMember(g.state, a.sender))) return 'behind';
    const h = peekGroupMessage(new Uint8Array(r.body));
    if (h.epoch === g.state.epoch && equalBytes(h.transcript, g.state.transcript)) return { ...r, to: groupRecipients(c, g.state) };
    if (!r.payload) return { fail: 'stale_epoch' }; // queued by a build that kept no payload
    const me = ourAddress(c).user;
    // A rolled-back store holds an old position of our sender chain: encrypting would reuse its keys.
    assertNotRolledBack(c);
    const { ours, sharedWith } = keyForSend(c, g.state);
    const { state, message } = encryptGroupMessage(ours, g.state, c.sealer.open('outbox', groupOutboxRowKey(g.groupId, r.message_id), new Uint8Array(r.payload)), c.random);
    saveOurKey(c, state);
    const recipients = JSON.stringify(g.state.members.map((m) => m.user).filter((u) => u !== me));
    // A new client id too: parts of the old body the relay stored under the old one stay as they are.
    const clientId = toBase64url(c.random(16));
    c.db.prepare('UPDATE group_outbox SET body = ?, recipients = ?, client_id = ? WHERE seq = ?').run(Buffer.from(message), recipients, clientId, r.seq);
    return { ...r, body: Buffer.from(message), recipients, client_id: clientId, keys: sharedWith.length > 0, to: groupRecipients(c, g.state) };
  });
}

type Recipient = { user: string; device: number };

/** How a submission reaches the relay: postMessage, or a test's own transport. */
export type PostGroup = (clientId: string, to: { user: string; device: number }[], body: string, opts: { synced?: boolean }) => Promise<unknown>;

/**
 * Sends the queued group messages in order. `afterSync`: a receive pass has just run, so a
 * stale_epoch answer cannot be cured by learning more; the row is sent past the fence instead.
 * Call it after the pairwise outbox is flushed (the sender keys the messages need go first).
 */
export async function flushGroupOutbox(
  c: Client,
  t: RelayTarget | undefined,
  opts: { afterSync: boolean; post?: PostGroup; pairwise?: () => Promise<unknown> },
): Promise<GroupFlushReport> {
  const post: PostGroup = opts.post ?? ((id, to, body, o) => postMessage(t!, id, to, body, o));
  const report: GroupFlushReport = { sent: 0, failed: [], unreachable: false, stale: [], pastFence: 0, behind: [] };
  const pairwise = opts.pairwise ?? (t ? () => deliverOutbox(c, t) : undefined);
  const until = Date.now() + RATE_LIMIT_WAIT_MS;
  const rows = c.db.prepare('SELECT seq, group_id, message_id, client_id, recipients, body, payload FROM group_outbox ORDER BY seq').all() as Row[];
  const waiting = new Set<string>();
  for (const row of rows) {
    const group = toHex(new Uint8Array(row.group_id));
    if (waiting.has(group)) continue; // keep this group's order behind the row that waits
    const r = current(c, row);
    if (r === 'behind') {
      waiting.add(group);
      report.behind.push(group);
      continue;
    }
    if ('fail' in r) {
      finish(c, row, 'failed', r.fail);
      report.failed.push({ group, code: r.fail, message: r.fail === 'not_a_member' ? 'no longer a member of the group' : 'queued for an epoch that has passed' });
      continue;
    }
    // Encrypted again under a new key: its distributions leave first, so members do not hold the
    // message waiting for them until our next command.
    if (r.keys && pairwise) await pairwise();
    const to = r.to;
    if (to.length === 0) {
      finish(c, r, 'sent', null); // a group of one: nothing to upload
      continue;
    }
    const body = toBase64url(new Uint8Array(r.body));
    const ids: string[] = [];
    const sendPart = async (id: string, part: { user: string; device: number }[]): Promise<void> => {
      for (;;) {
        try {
          try {
            await post(id, part, body, {});
          } catch (e) {
            if (!(e instanceof RelayError && e.code === 'stale_epoch' && opts.afterSync)) throw e;
            await post(id, part, body, { synced: true });
            report.pastFence++;
          }
          return;
        } catch (e) {
          const waitMs = e instanceof RelayError && e.code === 'rate_limited' ? Math.max(1000, (e.retryAfter ?? 1) * 1000) : undefined;
          if (waitMs === undefined || Date.now() + waitMs > until) throw e;
          await new Promise((done) => setTimeout(done, waitMs));
        }
      }
    };
    try {
      for (let i = 0; i * GROUP_FANOUT_MAX_RECIPIENTS < to.length; i++) {
        const id = i === 0 ? r.client_id : `${r.client_id}-${i}`;
        await sendPart(id, to.slice(i * GROUP_FANOUT_MAX_RECIPIENTS, (i + 1) * GROUP_FANOUT_MAX_RECIPIENTS));
        ids.push(id);
      }
      finish(c, r, 'sent', null, ids);
      report.sent++;
    } catch (e) {
      if (isUnreachable(e)) {
        report.unreachable = true;
        break;
      }
      if (e instanceof RelayError && e.code === 'stale_epoch') {
        waiting.add(group);
        report.stale.push(group);
        continue;
      }
      if (isRetryableRefusal(e)) {
        report.failed.push({ group, code: e.code, message: e.message });
        break; // keep it (and the order) for the next command
      }
      if (e instanceof RelayError && e.status !== 401) {
        finish(c, r, 'failed', e.code);
        report.failed.push({ group, code: e.code, message: e.message });
        continue;
      }
      throw e;
    }
  }
  return report;
}
