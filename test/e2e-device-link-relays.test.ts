// Linking through a relay that goes away for a while, or is older than the client (docs/PROTOCOL.md D.12,
// docs/CLI.md "device"): the real `fastchat` binary and real relay processes.
//  - The relay is stopped for a few seconds while the new device waits: `device link` says so on
//    stderr once (what failed, until when it keeps asking), once more when the relay is back, and
//    still links; stdout stays JSON lines, and neither stream holds the code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines, makeHome, startUsers } from './util/fastchat-cli.js';
import { linkIn } from './util/linking.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { RELAY_TEST_ARGS } from './util/fault.js';

const NOT_ANSWERING = /^the relay is not answering \(([^)]*)\); still trying until \d\d:\d\d — Ctrl-C to give up$/;
const ANSWERING = 'the relay is answering again';

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a new device whose relay stops for a few seconds while it waits says so on stderr, once, says when the relay is back, and links', { timeout: 120_000 }, async (t) => {
  const { tmp, relay: first, dbPath, homes } = await startUsers(['alice'] as const, { relayArgs: RELAY_TEST_ARGS, prefix: 'fastchat-link-down-' });
  let relay: RelayProcess = first;
  t.after(async () => {
    await relay.stop();
    tmp.cleanup();
  });
  const link = linkIn(t, makeHome(tmp.root, 'laptop'), relay.url, 'alice');
  const { code, fingerprint } = await link.waiting;

  await relay.stop();
  await until('the not-answering notice', () => link.stderr().includes('the relay is not answering'));
  await new Promise((r) => setTimeout(r, 3000));
  relay = await startRelayProcess({ db: dbPath, port: first.port, args: RELAY_TEST_ARGS });
  await until('the answering-again notice', () => link.stderr().includes(ANSWERING));

  const approved = JSON.parse((await homes.alice.ok(['device', 'approve', code, '--yes', '--json'])).stdout);
  assert.equal(approved.device, 2);
  const end = await link.done;
  assert.equal(end.code, 0, `the link failed: ${end.stderr}`);
  // stdout: JSON lines only, the waiting line and the linked one.
  assert.deepEqual(jsonLines(end.stdout).map((l) => l.state), ['waiting', 'linked']);
  assert.deepEqual([jsonLines(end.stdout)[1].device, jsonLines(end.stdout)[1].fingerprint], [2, fingerprint]);
  // stderr: the two notices, once each (several takes failed while the relay was down), the first
  // naming the failure; neither the code nor a part of it anywhere.
  const lines = end.stderr.split('\n').filter((l) => l.startsWith('the relay '));
  assert.equal(lines.length, 2, end.stderr);
  assert.match(lines[0]!, NOT_ANSWERING);
  assert.match(NOT_ANSWERING.exec(lines[0]!)![1]!, /^(connection refused|connection reset)$/);
  assert.equal(lines[1], ANSWERING);
  for (const part of [code, code.replaceAll('-', ''), ...code.split('-')]) assert.ok(!end.stderr.includes(part), `stderr holds ${part}`);
  assert.deepEqual(jsonLines((await homes.alice.ok(['device', 'list', '--json'])).stdout).map((r) => r.device), [1, 2]);
});
