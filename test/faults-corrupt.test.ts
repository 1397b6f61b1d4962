// Fault suite: a damaged database (issue 13 item 3). The relay acknowledges messages and accounts,
// is killed -9, and then its -wal is cut short, flipped, or emptied, or a page of its main file is
// overwritten. Each time it must refuse to start with a clear message instead of serving a
// database that silently lost what it acknowledged; with the -wal put back, every acknowledged
// message is delivered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliveryChecker } from './util/delivery-checker.js';
import { runFastchat } from './util/fastchat-cli.js';
import { onFrames, prng, RELAY_TEST_ARGS, relayStartExit, waitFor } from './util/fault.js';
import { RelayHttp, RelayWs, type Frame } from './util/relay-client.js';
import { startRelayProcess } from './util/relay-process.js';

const LONG = process.env.FASTCHAT_FAULTS === 'long';
const MESSAGES = 300;

/**
 * The frames of a -wal that belong to its current generation (same salts as its header): a
 * checkpoint restarts the -wal from its start, and older frames left after its end mean nothing.
 */
function currentFrames(wal: Buffer): { data: number; size: number }[] {
  const pageSize = wal.readUInt32BE(8);
  const salts = wal.subarray(16, 24);
  const out: { data: number; size: number }[] = [];
  for (let off = 32; off + 24 + pageSize <= wal.length; off += 24 + pageSize) {
    if (!wal.subarray(off + 8, off + 16).equals(salts)) break;
    out.push({ data: off + 24, size: pageSize });
  }
  return out;
}

test('a damaged -wal or main file is refused at start, and the intact files deliver every acknowledged message', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-corrupt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');
  const relay = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  t.after(() => relay.kill());
  const http = new RelayHttp(relay.url);
  const aliceToken = await http.signup('alice');
  const bobToken = await http.signup('bob');
  const check = new DeliveryChecker();
  const ws = await RelayWs.connect(relay.wsUrl, aliceToken);
  await ws.next('hello');
  for (let i = 0; i < MESSAGES; i++) {
    const id = `m${i}`;
    check.queued('alice', id, 'bob');
    const r = await ws.sendMessage(id, [{ user: 'bob', device: 1 }], Buffer.from(`message ${i}`).toString('base64url'));
    assert.equal(r.type, 'sent');
    check.sent('alice', id);
  }
  await ws.terminate();
  await relay.kill();
  // The crash image: nothing was checkpointed, everything acknowledged sits in the -wal.
  const wal = readFileSync(`${db}-wal`);
  assert.ok(wal.length > 100_000, `the -wal holds the traffic (${wal.length} bytes)`);

  const refusedAs = async (what: string, pattern: RegExp): Promise<void> => {
    const r = await relayStartExit(['--port', '0', '--db', db]);
    assert.equal(r.code, 1, `${what}: the relay started (${r.stdout})`);
    assert.match(r.stderr, pattern, what);
    assert.match(r.stderr, /hint: .*docs\/RELAY\.md "Operations"/, what);
    const c = await runFastchat(['relay', 'check', '--db', db], {});
    assert.equal(c.code, 1, `${what}: relay check said ${c.stdout}`);
    assert.match(c.stderr, pattern, `${what}: relay check`);
  };
  const rolledBack = /fastchat: error: the database at .* is missing committed write transactions \(its commit counter is \w+, the high-water mark in .*-hwm says \d+\): acknowledged messages or accounts are gone/;

  truncateSync(`${db}-wal`, Math.floor(wal.length / 3));
  await refusedAs('a -wal cut to a third', rolledBack);
  // A few bytes flipped somewhere after the -wal header (the long form tries more places).
  const rnd = prng(Number(process.env.FASTCHAT_FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31)));
  const frames = currentFrames(wal);
  for (let round = 0; round < (LONG ? 8 : 1); round++) {
    const flipped = Buffer.from(wal);
    const frame = frames[rnd.int(frames.length)]!;
    const at = frame.data + rnd.int(frame.size - 4 * 977);
    for (let i = 0; i < 4; i++) flipped.writeUInt8(flipped.readUInt8(at + i * 977) ^ 0x5a, at + i * 977);
    writeFileSync(`${db}-wal`, flipped);
    await refusedAs(`a -wal with 4 bytes flipped from byte ${at}`, rolledBack);
  }
  writeFileSync(`${db}-wal`, '');
  await refusedAs('an emptied -wal', rolledBack);
  // The refused starts left the damaged -wal where it was (a read-only check never checkpoints).
  assert.equal(statSync(`${db}-wal`).size, 0);

  // The original -wal back: the relay starts and bob gets all 300, once, in order.
  writeFileSync(`${db}-wal`, wal);
  const again = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  t.after(() => again.stop());
  const bob = await RelayWs.connect(again.wsUrl, bobToken);
  t.after(() => bob.terminate());
  let drained = false;
  onFrames(bob, (f: Frame) => {
    if (f.type === 'message') {
      check.shown('bob', f.from.user, f.clientId);
      bob.ack(f.id);
    } else if (f.type === 'drained') drained = true;
  });
  await waitFor(() => drained, 20_000, 'bob drained');
  assert.equal(check.report(), '');
  assert.equal(check.counts().shown, MESSAGES);
  await bob.terminate();
  // A clean stop checkpoints everything into the main file; then a damaged page there is refused.
  assert.equal((await again.stop()).code, 0);
  // The last page (queue data, which nothing reads at start but the check): its b-tree header.
  const file = readFileSync(db);
  file.fill(0xee, file.length - 4096, file.length - 4096 + 12);
  writeFileSync(db, file);
  await refusedAs('a damaged page of the main file', /fastchat: error: the database at .* failed its integrity check/);
});
