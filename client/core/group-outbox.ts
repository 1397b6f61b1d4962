// Group messages leave as ONE relay submission each: the message is encrypted once under our sender
// key and the relay stores the body once and fans it out to the recipient list. Recipient devices
// are resolved at send time from our pairwise sessions (the sender keys went over them), so the
// flush needs no passphrase, like the pairwise outbox.
import { toBase64url } from '../../crypto/encoding.js';
import { tx, type DB } from './db.js';
import { rememberSent } from './expired.js';
import { postMessage } from './relay-api.js';
import { isRetryableRefusal, isUnreachable, RelayError, type RelayTarget } from './relay-http.js';

export interface GroupFlushReport {
  sent: number;
  failed: { group: string; code: string; message: string }[];
  unreachable: boolean;
}

function devicesOf(db: DB, user: string): number[] {
  const rows = db.prepare('SELECT device FROM sessions WHERE username = ? ORDER BY device').all(user) as { device: number }[];
  return rows.length > 0 ? rows.map((r) => r.device) : [1];
}

export async function flushGroupOutbox(c: { db: DB }, t: RelayTarget): Promise<GroupFlushReport> {
  const report: GroupFlushReport = { sent: 0, failed: [], unreachable: false };
  const rows = c.db.prepare('SELECT seq, group_id, message_id, client_id, recipients, body FROM group_outbox ORDER BY seq').all() as {
    seq: number;
    group_id: Buffer;
    message_id: string;
    client_id: string;
    recipients: string;
    body: Buffer;
  }[];
  const done = (r: (typeof rows)[number], status: 'sent' | 'failed', error: string | null): void =>
    tx(c.db, () => {
      c.db.prepare('DELETE FROM group_outbox WHERE seq = ?').run(r.seq);
      c.db
        .prepare("UPDATE group_messages SET status = ?, error = ? WHERE group_id = ? AND direction = 'out' AND id = ?")
        .run(status, error, r.group_id, r.message_id);
      if (status === 'sent') rememberSent(c.db, r.client_id, 'group', r.group_id.toString('hex'), r.message_id, Date.now());
    });
  for (const r of rows) {
    const to = (JSON.parse(r.recipients) as string[]).flatMap((user) => devicesOf(c.db, user).map((device) => ({ user, device })));
    if (to.length === 0) {
      done(r, 'sent', null); // a group of one: nothing to upload
      continue;
    }
    try {
      await postMessage(t, r.client_id, to, toBase64url(new Uint8Array(r.body)));
      done(r, 'sent', null);
      report.sent++;
    } catch (e) {
      if (isUnreachable(e)) {
        report.unreachable = true;
        break;
      }
      if (isRetryableRefusal(e)) {
        report.failed.push({ group: r.group_id.toString('hex'), code: e.code, message: e.message });
        break; // keep it (and the order) for the next command
      }
      if (e instanceof RelayError && e.status !== 401) {
        done(r, 'failed', e.code);
        report.failed.push({ group: r.group_id.toString('hex'), code: e.code, message: e.message });
        continue;
      }
      throw e;
    }
  }
  return report;
}
