// Fault suite: the relay's disk fills up (issue 13 item 2), on a real tmpfs mount holding its
// database and blob directory. The queue grows until the relay refuses with storage_full (507)
// above its headroom; /healthz and /metrics say so; a file upload is refused with the same code
// and the CLI words it plainly; then something else takes the rest of the disk, and still every
// ack commits and the queue drains; with space back, messages are accepted again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliveryChecker } from './util/delivery-checker.js';
import { countOutbox, deliverOutbox, queueText } from '../client/core/outbox.js';
import { relayTarget } from '../client/core/context.js';
import { RelaySocket } from '../client/core/relay-ws.js';
import { openCore } from './util/client-core.js';
import { jsonLines, makeHome, runFastchat, setUpUser } from './util/fastchat-cli.js';
import { diskUsage, mountTmpfs, onFrames, RELAY_TEST_ARGS, sleep, waitFor } from './util/fault.js';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { startRelayProcess } from './util/relay-process.js';

const LONG = process.env.FASTCHAT_FAULTS === 'long';
const MiB = 1024 * 1024;
const DISK = (LONG ? 64 : 16) * MiB;
const MIN_FREE = 4 * MiB;
const BODY = 16 * 1024;
/** More than fit on the disk: the loop ends at the first storage_full, or fails here. */
const MAX_SENDS = Math.ceil((2 * DISK) / BODY);
/** Messages alice's client flushes at the brink of the floor. */
const BACKLOG = LONG ? 600 : 150;

/** Fills the rest of the disk with one file (as another program would), until ENOSPC. */
function fillDisk(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(256 * 1024, 1);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        if (chunk.length === 1) break;
        return written + fillRest(fd);
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

function fillRest(fd: number): number {
  let written = 0;
  for (let size = 64 * 1024; size >= 1; size = Math.floor(size / 2)) {
    const b = Buffer.alloc(size, 1);
    for (;;) {
      try {
        written += writeSync(fd, b);
      } catch {
        break;
      }
    }
  }
  return written;
}

test('a relay at a full disk refuses new messages and files with storage_full, says so, and its queue still drains', { timeout: 180_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'fastchat-disk-'));
  const mnt = join(root, 'disk');
  mkdirSync(mnt);
  const mount = await mountTmpfs(mnt, DISK);
  if ('reason' in mount) {
    rmSync(root, { recursive: true, force: true });
    t.skip(mount.reason);
    return;
  }
  const sockets: RelayWs[] = [];
  let relay: Awaited<ReturnType<typeof startRelayProcess>> | null = null;
  // One clean-up, in order: sockets, the relay, the mount, the files.
  t.after(async () => {
    try {
      for (const s of sockets) await s.terminate();
      await relay?.stop();
    } finally {
      await mount.unmount();
      rmSync(root, { recursive: true, force: true });
    }
  });
  const db = join(mnt, 'relay.db');
  relay = await startRelayProcess({ db, args: [...RELAY_TEST_ARGS, '--min-free-bytes', String(MIN_FREE), '--queue-max-bytes', String(4 * DISK)] });
  // Homes live off the small disk; they only meet the relay.
  const alice = makeHome(root, 'alice');
  const bob = makeHome(root, 'bob');
  await Promise.all([setUpUser(alice, relay.url), setUpUser(bob, relay.url)]);
  const http = new RelayHttp(relay.url);
  const senderToken = await http.signup('sender');
  const readerToken = await http.signup('reader');

  const check = new DeliveryChecker();
  const sample = (label: string): void => {
    const d = diskUsage(mnt);
    // The relay's own writes stop at the headroom; what an ack needs then comes out of it.
    check.diskSample(`${label}: free`, MIN_FREE - d.free, MIN_FREE / 2);
  };
  const sender = await RelayWs.connect(relay.wsUrl, senderToken);
  sockets.push(sender);
  await sender.next('hello');
  // One send at a time, as a client keeps its order across a refusal: a refused message is sent
  // again first. Sends until the first refusal (or `max` stored); returns the refusal.
  let n = 0;
  let pending: string | null = null;
  const fill = async (max = MAX_SENDS): Promise<Frame | null> => {
    for (let stored = 0; stored < max; ) {
      const id = pending ?? `d${n++}`;
      if (pending === null) check.queued('sender', id, 'reader');
      const r = await sender.sendMessage(id, [{ user: 'reader', device: 1 }], Buffer.alloc(BODY, Number(id.slice(1)) % 251).toString('base64url'));
      if (r.type !== 'sent') {
        pending = id;
        return r;
      }
      pending = null;
      check.sent('sender', id);
      stored++;
      if (n % 16 === 0) sample(`after ${n} sends`);
    }
    return null;
  };
  const refusal = await fill();
  assert.ok(refusal, `no refusal after ${n} messages of ${BODY} bytes on a ${DISK}-byte disk`);
  assert.equal(refusal.code, 'storage_full', JSON.stringify(refusal));
  assert.match(refusal.message, /the relay's disk is full: no new messages are stored until its operator frees space/);
  sample('at storage_full');
  t.diagnostic(`storage_full after ${check.counts().sent} messages of ${BODY} bytes; ${diskUsage(mnt).free} bytes free`);

  const health = await fetch(`${relay.url}/healthz`);
  assert.equal(health.status, 503);
  const h = (await health.json()) as { ok: boolean; storage: { full: boolean; freeBytes: number; minFreeBytes: number } };
  assert.deepEqual([h.ok, h.storage.full, h.storage.minFreeBytes], [false, true, MIN_FREE]);
  const metrics = await (await fetch(`${relay.url}/metrics`)).text();
  assert.match(metrics, /^fastchat_storage_full 1$/m);
  assert.match(metrics, /^fastchat_rejects_total\{code="storage_full"\} [1-9]/m);
  const post = await http.request('POST', '/v1/messages', { id: 'http-1', to: [{ user: 'reader', device: 1 }], body: 'aGk' }, { token: senderToken });
  assert.deepEqual([post.status, post.body.error.code], [507, 'storage_full']);

  // The CLI words it plainly: a message stays queued with the reason, a file is refused.
  const sent = await alice.ok(['send', '@bob', 'hello while full']);
  assert.match(sent.stdout, /queued locally for @bob \(storage_full: the relay's disk is full: no new messages are stored until its operator frees space\)/);
  const photo = join(root, 'photo.bin');
  writeFileSync(photo, Buffer.alloc(256 * 1024, 7));
  const file = await alice.run(['send-file', '@bob', photo]);
  assert.equal(file.code, 1);
  assert.match(file.stderr, /fastchat: error: the relay refused the file \(storage_full\): the relay's disk is full: no new files are stored until its operator frees space/);
  assert.match(file.stderr, /hint: the relay's disk is full/);
  assert.doesNotMatch(file.stderr, /cannot reach the relay|internal/);

  // The reader fetches half of the queue. SQLite keeps the file's size (the freed pages go to its
  // free list), so the disk is as full as before — but the room inside the database counts.
  const half = Math.floor(check.counts().sent / 2);
  const reader1 = await RelayWs.connect(relay.wsUrl, readerToken);
  sockets.push(reader1);
  let acked = 0;
  onFrames(reader1, (f: Frame) => {
    if (f.type === 'message' && acked < half) {
      acked++;
      check.shown('reader', f.from.user, f.clientId);
      reader1.ack(f.id);
    }
  });
  await waitFor(() => acked === half, 30_000, 'the reader to ack half the queue');
  const depth = async (): Promise<number> => Number(/^fastchat_queue_depth (\d+)$/m.exec(await (await fetch(`${relay.url}/metrics`)).text())![1]);
  await waitFor(async () => (await depth()) <= check.counts().sent - half, 30_000, 'the acks to commit');
  await reader1.terminate();
  assert.ok(diskUsage(mnt).free < MIN_FREE, 'the disk is still below the floor');
  assert.equal(await fill(4), null, 'messages are stored again, into the freed pages');
  sample('after the half drain');

  // Back to the brink, and then alice's client flushes a backlog over its WebSocket (64 in flight)
  // while a slow reader frees room one message at a time: refusals and acceptances interleave,
  // and bob must still see alice's messages once each, in her order.
  assert.equal((await fill())?.code, 'storage_full');
  const helloId = jsonLines((await alice.ok(['history', '@bob', '--json'])).stdout).find((m) => m.text === 'hello while full').id;
  check.queued('alice', helloId, 'bob');
  const core = await openCore(alice);
  try {
    for (let i = 0; i < BACKLOG; i++) check.queued('alice', queueText(core, 'bob', `backlog ${i}`).id, 'bob');
    const target = relayTarget(core);
    const { socket } = await RelaySocket.connect(target, () => {});
    const slow = await RelayWs.connect(relay.wsUrl, readerToken);
    sockets.push(slow);
    let stop = false;
    const queue: Frame[] = [];
    onFrames(slow, (f: Frame) => {
      if (f.type === 'message') queue.push(f);
    });
    const reading = (async () => {
      while (!stop) {
        const f = queue.shift();
        if (f) {
          check.shown('reader', f.from.user, f.clientId);
          slow.ack(f.id);
        }
        await sleep(15);
      }
    })();
    for (let i = 0; i < 100 && countOutbox(core) > 0; i++) {
      await deliverOutbox(core, target, socket.open ? socket : undefined);
      await sleep(20);
    }
    stop = true;
    await reading;
    socket.close();
    await slow.close(); // a clean close: the acks it sent are processed first
    assert.equal(countOutbox(core), 0, "alice's backlog went out");
    for (const r of core.db.prepare("SELECT id FROM messages WHERE peer = 'bob' AND direction = 'out' AND status IN ('sent', 'delivered')").all() as { id: string }[]) check.sent('alice', r.id);
  } finally {
    core.close();
  }
  const refusedWhileFlushing = Number(/^fastchat_rejects_total\{code="storage_full"\} (\d+)$/m.exec(await (await fetch(`${relay.url}/metrics`)).text())![1]);
  t.diagnostic(`storage_full refusals so far: ${refusedWhileFlushing}`);

  // Something else takes every byte that is left. Acks must still commit.
  const filler = join(mnt, 'filler');
  fillDisk(filler);
  assert.ok(diskUsage(mnt).free < 64 * 1024, 'the disk is full');
  const reader = await RelayWs.connect(relay.wsUrl, readerToken);
  sockets.push(reader);
  let drained = false;
  onFrames(reader, (f: Frame) => {
    if (f.type === 'message') {
      check.shown('reader', f.from.user, f.clientId);
      reader.ack(f.id);
    } else if (f.type === 'drained') drained = true;
  });
  await waitFor(() => drained, 30_000, 'the reader to get the backlog');
  const readerQueue = async (): Promise<number> => {
    const r = await runFastchat(['relay', 'users', 'list', '--db', db, '--json'], {});
    return (JSON.parse(r.stdout) as { users: { username: string; queued: number }[] }).users.find((u) => u.username === 'reader')!.queued;
  };
  await waitFor(async () => (await readerQueue()) === 0, 30_000, "every ack to commit (the reader's queue empty)", 300);
  // On the small disk the acks need the reserve (without it they never commit); on the long
  // form's bigger disk the -wal may already have the room.
  t.diagnostic(`reserve released for the acks: ${relay.stderr.some((l) => l.includes('"event":"reserve_released"')) && !existsSync(`${db}-reserve`)}`);
  await reader.terminate();
  // A reconnect gets nothing again: the acks are durable.
  const again = await RelayWs.connect(relay.wsUrl, readerToken);
  sockets.push(again);
  await again.next('drained', 10_000);
  assert.equal(again.frames.filter((f) => f.type === 'message').length, 0);
  await again.terminate();

  // Space comes back: new messages are stored again.
  rmSync(filler);
  assert.equal(await fill(1), null);
  assert.equal((await fetch(`${relay.url}/healthz`)).status, 200);
  const last = await RelayWs.connect(relay.wsUrl, readerToken);
  sockets.push(last);
  const m = await last.next('message', 10_000);
  check.shown('reader', m.from.user, m.clientId);
  // Bob reads alice's messages: the one queued while full and the whole backlog, in her order.
  for (const line of jsonLines((await bob.ok(['inbox', '--json'])).stdout)) check.shown('bob', line.from, line.id);
  t.diagnostic(`counts ${JSON.stringify(check.counts())}`);
  assert.equal(check.report(), '');
});
