// The commit batch's timing on a real SQLite file, seen from a second connection to it (what
// another process, or the file after a crash, would see): acks may wait a few ms for their commit,
// sends never do, and a `sent` answer only follows its commit.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LocalBus } from '../bus/index.js';
import { resolveConfig } from '../config.js';
import { createLogger } from '../log.js';
import { createMetrics } from '../metrics.js';
import { openSqliteStore } from '../store/index.js';
import { Submitter } from './submitter.js';
import type { SubmitResult } from '../store/index.js';

const BOB = { user: 'bob', device: 1 };

async function setup(t: TestContext, ackCommitDelayMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-submitter-'));
  const file = join(dir, 'relay.db');
  const store = openSqliteStore(file);
  for (const name of ['alice', 'bob']) {
    await store.createUser(name, 'hash', 1);
    await store.touchDevice(name, 1, 1);
  }
  const submitter = new Submitter(store, new LocalBus(), resolveConfig({ ackCommitDelayMs }), createLogger('silent'), createMetrics());
  const other = new Database(file, { readonly: true });
  t.after(async () => {
    await submitter.flush();
    other.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const send = (clientId: string): Promise<SubmitResult> =>
    submitter.submit({ sender: { user: 'alice', device: 1 }, clientId, to: [BOB], body: Buffer.from(`body of ${clientId}`) });
  /** What a second connection sees of bob's queue (only committed rows). */
  const queued = (): number[] => (other.prepare("SELECT id FROM deliveries WHERE username = 'bob' ORDER BY id").all() as { id: number }[]).map((r) => r.id);
  const stored = (clientId: string): boolean => other.prepare('SELECT 1 FROM messages WHERE client_id = ?').get(clientId) !== undefined;
  return { submitter, send, queued, stored };
}

const deliveryId = (r: SubmitResult): number => {
  assert.ok(r.ok && !r.duplicate, JSON.stringify(r));
  return r.deliveryIds[0]!;
};
const turn = (): Promise<void> => new Promise((res) => setImmediate(res));

test('an ack with no send after it waits its delay, then is committed by the timer alone', async (t) => {
  const DELAY = 20;
  const { submitter, send, queued } = await setup(t, DELAY);
  const id = deliveryId(await send('m1'));
  const acked = Date.now();
  submitter.ack(BOB, id);
  await turn();
  await turn();
  assert.deepEqual(queued(), [id], 'an ack-only turn is not committed at its end');
  while (queued().length > 0 && Date.now() - acked < 5000) await new Promise((res) => setTimeout(res, 2));
  const took = Date.now() - acked;
  assert.deepEqual(queued(), [], 'the ack was committed without any later send');
  // The timer's lateness is the event loop's: bounded by the delay plus a loaded machine's slack.
  assert.ok(took >= DELAY - 1 && took < DELAY + 1000, `committed ${took} ms after the ack (delay ${DELAY} ms)`);
});

test("acks waiting for their delay go with the next send's commit, and its `sent` answer comes only after that commit", async (t) => {
  // A delay no test waits out: only the send's commit can take the ack.
  const { submitter, send, queued, stored } = await setup(t, 60_000);
  const first = deliveryId(await send('m1'));
  submitter.ack(BOB, first);
  await turn();
  assert.deepEqual(queued(), [first]);
  const seenAtAnswer = await new Promise<{ stored: boolean; queue: number[]; id: number }>((resolve) => {
    submitter.submitThen({ sender: { user: 'alice', device: 1 }, clientId: 'm2', to: [BOB], body: Buffer.from('second') }, (r) => {
      resolve({ stored: stored('m2'), queue: queued(), id: deliveryId(r) });
    });
    assert.equal(stored('m2'), false, 'not committed in the turn it arrived in');
  });
  assert.equal(seenAtAnswer.stored, true, 'the send was committed before it was answered');
  assert.deepEqual(seenAtAnswer.queue, [seenAtAnswer.id], 'the waiting ack rode with that commit');
});

test('commitAcks commits the acks waiting for their delay at once (a reconnecting device reads its queue after it)', async (t) => {
  const { submitter, send, queued } = await setup(t, 60_000);
  const id = deliveryId(await send('m1'));
  submitter.ack(BOB, id);
  await turn();
  assert.deepEqual(queued(), [id]);
  await submitter.commitAcks();
  assert.deepEqual(queued(), []);
});

test("commitAcks for a connecting device commits that device's acks, and leaves other devices' acks waiting", async (t) => {
  const { submitter, send, queued } = await setup(t, 60_000);
  const id = deliveryId(await send('m1'));
  submitter.ack(BOB, id);
  await turn();
  await submitter.commitAcks({ user: 'alice', device: 1 });
  assert.deepEqual(queued(), [id], "another user's connect does not commit bob's ack");
  await submitter.commitAcks({ user: 'bob', device: 2 });
  assert.deepEqual(queued(), [id], "nor does bob's other device's");
  await submitter.commitAcks(BOB);
  assert.deepEqual(queued(), [], "bob's own connect does");
});
