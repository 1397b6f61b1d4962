// Group messages leave as ONE relay submission each: the message is encrypted once under our sender
// key and the relay stores the body once and fans it out to the recipient list. Recipient devices
// are resolved at send time from our pairwise sessions (the sender keys went over them).
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
import { equalBytes, toBase64url, toHex } from '../../crypto/encoding.js';
import { encryptGroupMessage, isMember, peekGroupMessage } from '../../crypto/group/index.js';
import type { RowKey } from './at-rest.js';
import { ourAddress, type Client } from './context.js';
import { tx, type DB } from './db.js';
import { rememberSent } from './expired.js';
import { startEpoch } from './group-keys.js';
import { loadGroup, loadOurKey, saveOurKey } from './group-store.js';
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

function devicesOf(db: DB, user: string): number[] {
  const rows = db.prepare('SELECT device FROM sessions WHERE username = ? ORDER BY device').all(user) as { device: number }[];
  return rows.length > 0 ? rows.map((r) => r.device) : [1];
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

function finish(c: Pick<Client, 'db'>, r: Row, status: 'sent' | 'failed', error: string | null): void {
  tx(c.db, () => {
    c.db.prepare('DELETE FROM group_outbox WHERE seq = ?').run(r.seq);
    c.db.prepare("UPDATE group_messages SET status = ?, error = ? WHERE group_id = ? AND direction = 'out' AND id = ?").run(status, error, r.group_id, r.message_id);
    if (status === 'sent') rememberSent(c.db, r.client_id, 'group', r.group_id.toString('hex'), r.message_id, Date.now());
  });
}

/**
 * Brings a queued row to the group as it is now: the same ciphertext when the epoch and transcript
 * it was made for are still current, else the payload encrypted again under our key of the current
 * epoch, for its current members. Returns the row to send, or the reason it cannot be sent.
 */
function current(c: Client, r: Row): Row | { fail: string } | 'behind' {
  return tx(c.db, () => {
    const g = loadGroup(c, new Uint8Array(r.group_id));
    if (!g || g.status !== 'active') return { fail: 'not_a_member' };
    const ahead = c.db.prepare('SELECT DISTINCT sender FROM group_pending WHERE group_id = ? AND epoch > ?').all(r.group_id, g.state.epoch) as { sender: string }[];
    if (ahead.some((a) => isMember(g.state, a.sender))) return 'behind';
    const h = peekGroupMessage(new Uint8Array(r.body));
    if (h.epoch === g.state.epoch && equalBytes(h.transcript, g.state.transcript)) return r;
    if (!r.payload) return { fail: 'stale_epoch' }; // queued by a build that kept no payload
    const me = ourAddress(c).user;
    // A rolled-back store holds an old position of our sender chain: encrypting would reuse its keys.
    assertNotRolledBack(c);
    const ours = loadOurKey(c, g.groupId, me, g.state.epoch) ?? startEpoch(c, g.state);
    const { state, message } = encryptGroupMessage(ours, c.sealer.open('outbox', groupOutboxRowKey(g.groupId, r.message_id), new Uint8Array(r.payload)));
    saveOurKey(c, state);
    const recipients = JSON.stringify(g.state.members.map((m) => m.user).filter((u) => u !== me));
    c.db.prepare('UPDATE group_outbox SET body = ?, recipients = ? WHERE seq = ?').run(Buffer.from(message), recipients, r.seq);
    return { ...r, body: Buffer.from(message), recipients };
  });
}

/** How a submission reaches the relay: postMessage, or a test's own transport. */
export type PostGroup = (clientId: string, to: { user: string; device: number }[], body: string, opts: { synced?: boolean }) => Promise<unknown>;

/**
 * Sends the queued group messages in order. `afterSync`: a receive pass has just run, so a
 * stale_epoch answer cannot be cured by learning more; the row is sent past the fence instead.
 * Call it after the pairwise outbox is flushed (the sender keys the messages need go first).
 */
export async function flushGroupOutbox(c: Client, t: RelayTarget | undefined, opts: { afterSync: boolean; post?: PostGroup }): Promise<GroupFlushReport> {
  const post: PostGroup = opts.post ?? ((id, to, body, o) => postMessage(t!, id, to, body, o));
  const report: GroupFlushReport = { sent: 0, failed: [], unreachable: false, stale: [], pastFence: 0, behind: [] };
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
    const to = (JSON.parse(r.recipients) as string[]).flatMap((user) => devicesOf(c.db, user).map((device) => ({ user, device })));
    if (to.length === 0) {
      finish(c, r, 'sent', null); // a group of one: nothing to upload
      continue;
    }
    const body = toBase64url(new Uint8Array(r.body));
    try {
      try {
        await post(r.client_id, to, body, {});
      } catch (e) {
        if (!(e instanceof RelayError && e.code === 'stale_epoch' && opts.afterSync)) throw e;
        await post(r.client_id, to, body, { synced: true });
        report.pastFence++;
      }
      finish(c, r, 'sent', null);
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
