import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestStore as openDb } from '../../test/util/client-store.js';
import { markExpired, rememberSent } from './expired.js';
import { statusWord } from './status.js';

const GROUP = Buffer.alloc(32, 7);

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-expired-'));
  const db = openDb(join(dir, 'store.db'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const out = db.prepare("INSERT INTO messages (id, peer, direction, body, sent_at, status) VALUES (?, 'bob', 'out', NULL, 'x', ?)");
  out.run('m1', 'sent');
  out.run('m2', 'delivered');
  out.run('m3', 'sent');
  db.prepare("INSERT INTO group_messages (group_id, id, sender, direction, body, sent_at, status) VALUES (?, 'g1', 'alice', 'out', NULL, 'x', 'sent')").run(GROUP);
  rememberSent(db, 'cid-1', 'text', 'bob', 'm1', 1000);
  rememberSent(db, 'cid-2', 'text', 'bob', 'm2', 1000);
  rememberSent(db, 'cid-g', 'group', GROUP.toString('hex'), 'g1', 1000);
  return db;
}

const status = (db: ReturnType<typeof openDb>, table: string, id: string): string => (db.prepare(`SELECT status FROM ${table} WHERE id = ?`).get(id) as { status: string }).status;

test('a notice marks the messages its client ids name as expired, and a delivered one stays delivered', (t) => {
  const db = setup(t);
  const to = { user: 'bob', device: 1 };
  const marked = markExpired({ db }, [{ id: 'cid-1', to }, { id: 'cid-2', to }, { id: 'cid-g', to }, { id: 'unknown', to }]);
  assert.deepEqual(marked, [{ peer: 'bob', id: 'm1' }, { peer: 'bob', id: 'g1' }]);
  assert.equal(status(db, 'messages', 'm1'), 'expired');
  assert.equal(status(db, 'messages', 'm2'), 'delivered');
  assert.equal(status(db, 'messages', 'm3'), 'sent', 'a message the notice does not name is untouched');
  assert.equal(status(db, 'group_messages', 'g1'), 'expired');
  assert.equal(statusWord('expired'), 'expired undelivered');
});

test('client ids of the older m<id>-<device> form are still understood', (t) => {
  const db = setup(t);
  assert.deepEqual(markExpired({ db }, [{ id: 'mm3-1', to: { user: 'bob', device: 1 } }]), [{ peer: 'bob', id: 'm3' }]);
});

test('records of acknowledged client ids are dropped once no notice can name them', (t) => {
  const db = setup(t);
  rememberSent(db, 'cid-late', 'text', 'bob', 'm3', 1000 + 46 * 24 * 3600_000);
  const left = (db.prepare('SELECT client_id FROM sent_client_ids ORDER BY client_id').all() as { client_id: string }[]).map((r) => r.client_id);
  assert.deepEqual(left, ['cid-late']);
});
