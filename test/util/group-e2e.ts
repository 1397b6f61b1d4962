// What a hostile relay can do to group traffic in the end-to-end tests, done to a real relay
// process: read the bodies it holds, withhold deliveries from one recipient, and post as any
// account it serves (it can mint a session for any of them). Homes' passwords follow
// test/util/fastchat-cli.ts (`password-of-<name>`).
import Database from 'better-sqlite3';
import { GROUP_FORMAT_TAGS } from '../../crypto/consts.js';
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { RelayHttp, RelayWs } from './relay-client.js';
import type { RelayProcess } from './relay-process.js';

/** A relay body that is a group message (tag 0x33), not a pairwise envelope: client ids name nothing. */
export function isGroupBody(b: { body: string }): boolean {
  return fromBase64url(b.body)[1] === GROUP_FORMAT_TAGS.groupMessage;
}

/** Bodies the relay holds for `to` from `sender`, oldest first (what a malicious relay could keep). */
export function relayBodies(relay: RelayProcess, sender: string, to: string): { clientId: string; body: string }[] {
  const db = new Database(relay.db, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare('SELECT m.client_id, m.body FROM messages m JOIN deliveries d ON d.message_id = m.id WHERE m.sender = ? AND d.username = ? ORDER BY m.id')
      .all(sender, to) as { client_id: string; body: Uint8Array }[];
    return rows.map((r) => ({ clientId: r.client_id, body: toBase64url(new Uint8Array(r.body)) }));
  } finally {
    db.close();
  }
}

/** The relay drops what it holds from `sender` for `to` (all of it, or the `which`-th, oldest first), returning the bodies. */
export function withhold(relay: RelayProcess, sender: string, to: string, which?: number): { clientId: string; body: string }[] {
  const db = new Database(relay.db, { fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  try {
    const rows = db
      .prepare('SELECT d.id, m.client_id, m.body FROM messages m JOIN deliveries d ON d.message_id = m.id WHERE m.sender = ? AND d.username = ? ORDER BY d.id')
      .all(sender, to) as { id: number; client_id: string; body: Uint8Array }[];
    const gone = which === undefined ? rows : rows.slice(which, which + 1);
    const del = db.prepare('DELETE FROM deliveries WHERE id = ?');
    db.transaction(() => gone.forEach((r) => del.run(r.id)))();
    return gone.map((r) => ({ clientId: r.client_id, body: toBase64url(new Uint8Array(r.body)) }));
  } finally {
    db.close();
  }
}

/**
 * The relay posing as `user` (it can mint a session for any account it serves). Device 2 unless
 * told: a pairwise ciphertext must come from the device whose session made it (device 1).
 */
export async function relayAs(relay: RelayProcess, user: string, device = 2): Promise<RelayWs> {
  const http = new RelayHttp(relay.url);
  await http.login(user, `password-of-${user}`, device);
  const ws = await RelayWs.connect(relay.wsUrl, http.token);
  await ws.next('hello');
  return ws;
}

/** Hands `body` to `to` as if `from` (device 1) had sent it, under a fresh relay id. */
export async function inject(relay: RelayProcess, from: string, to: string[], body: string, clientId: string): Promise<void> {
  const ws = await relayAs(relay, from, 1);
  try {
    const ack = await ws.sendMessage(clientId, to.map((user) => ({ user, device: 1 })), body);
    if (ack.type !== 'sent') throw new Error(`relay refused the injected frame: ${JSON.stringify(ack)}`);
  } finally {
    await ws.close();
  }
}
