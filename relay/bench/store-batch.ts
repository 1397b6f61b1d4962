// The SQLite store's commit batch alone (no sockets), CPU µs per message: what an A/B of the store
// compares on a busy machine (docs/PERFORMANCE.md "Relay ratios, round three").
//   npm run build && node dist/relay/bench/store-batch.js [1to1|1to1-random|acks-apart|fanout|offline] [messages=10000] [queued=0]
// 1to1: batches of 50 sends to one device plus the previous batch's 50 acks, in one commit.
// 1to1-random: the same with random client ids, as clients draw them (16 bytes, base64url): each
// one lands on its own leaf of the sent_ids index where 1to1's ordered ids share the last one
// (docs/PERFORMANCE.md, round ten).
// acks-apart: the same, the acks in a commit of their own (what an ack-only turn costs).
// fanout: batches of 8 frames to 100 devices plus the previous batch's 800 acks (µs per frame).
// offline: batches of 50 sends to a device that never acks, timed after `queued` were stored
// untimed the same way (the queue grows from `queued` to `queued + messages`).
// synchronous=FULL on a temporary file, as the relay runs by default.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../store/index.js';
import type { AckRequest, SubmitRequest } from '../store/index.js';

const MODES = ['1to1', '1to1-random', 'acks-apart', 'fanout', 'offline'] as const;
const mode = (process.argv[2] ?? '1to1') as (typeof MODES)[number];
const total = Number(process.argv[3] ?? 10_000);
const prefill = Number(process.argv[4] ?? 0);
if (!MODES.includes(mode) || !Number.isSafeInteger(total) || total < 100 || total > 1_000_000 || !Number.isSafeInteger(prefill) || prefill < 0 || prefill > 1_000_000 || (prefill > 0 && mode !== 'offline')) {
  throw new Error(`usage: store-batch.js [${MODES.join('|')}] [messages 100..1000000] [queued 0..1000000, offline only]`);
}

const dir = mkdtempSync(join(tmpdir(), 'fastchat-store-batch-'));
const store = openSqliteStore(join(dir, 'relay.db'));
const limits = { maxMessages: 10_000_000, maxBytes: 2 ** 40, ttlMs: 86_400_000, storageFull: false };
const body = Buffer.alloc(1024, 0x5a);
const recipients = mode === 'fanout' ? 100 : 1;
const perBatch = mode === 'fanout' ? 8 : 50;
try {
  await store.createUser('sender', 'x', 0);
  await store.touchDevice('sender', 1, 0);
  const to = Array.from({ length: recipients }, (_, i) => ({ user: `r${i}`, device: 1 }));
  for (const a of to) {
    await store.createUser(a.user, 'x', 0);
    await store.touchDevice(a.user, 1, 0);
  }
  let n = 0;
  let id = 0;
  const batch = (): SubmitRequest[] =>
    Array.from({ length: perBatch }, () => {
      const clientId = mode === '1to1-random' ? randomBytes(16).toString('base64url') : `c${id}`;
      id++;
      return { sender: { user: 'sender', device: 1 }, clientId, to, body };
    });
  while (id < prefill) {
    for (const x of (await store.commitBatch([], batch(), Date.now(), limits)).results) if (!x.ok) throw new Error(`a send was refused: ${x.error.code}`);
  }
  let acks: AckRequest[] = [];
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  while (n < total) {
    const reqs = batch();
    n += reqs.length;
    if (mode === 'acks-apart' && acks.length > 0) await store.commitBatch(acks, [], Date.now(), limits);
    const r = await store.commitBatch(mode === '1to1' || mode === '1to1-random' || mode === 'fanout' ? acks : [], reqs, Date.now(), limits);
    acks = [];
    // A refused send costs a fraction of a stored one: a run with any refusal measures nothing.
    for (const x of r.results) if (!x.ok) throw new Error(`a send was refused: ${x.error.code}`);
    if (mode !== 'offline') r.results.forEach((x) => x.ok && x.deliveryIds.forEach((deliveryId, i) => acks.push({ to: to[i]!, deliveryId })));
  }
  const t = process.cpuUsage(t0);
  const us = (t.user + t.system) / n;
  console.log(JSON.stringify({ mode, messages: n, queuedBefore: prefill, cpuUsPerMessage: +us.toFixed(2), wallUsPerMessage: +(((performance.now() - w0) * 1000) / n).toFixed(2), unit: mode === 'fanout' ? 'frame of 100' : 'message' }));
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
