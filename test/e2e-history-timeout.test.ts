// device approve --history against a new device that never finishes linking (docs/CLI.md "device",
// docs/PROTOCOL.md D.12 step 4): the real `fastchat` binary, a real relay process. Its own file:
// it waits out the whole wait (5 s here, by --wait; 60 s without it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines } from './util/fastchat-cli.js';
import { aliceBobAndLaptop, linkIn } from './util/linking.js';

test('device approve --history --wait 5 when the new device does not finish linking in time: the approval stands, history_timeout after 5 s, no history sent', { timeout: 300_000 }, async (t) => {
  const { relay, alice, laptop } = await aliceBobAndLaptop(t, 'fastchat-history-timeout-');
  const l = linkIn(t, laptop, relay.url, 'alice');
  const code = (await l.waiting).code;
  // The new device is gone (a laptop switched off) before it takes the approval: it publishes
  // nothing. (SIGSTOP and SIGCONT were used first; a laptop woken in the middle of its take request
  // loses the link, since its request times out on waking and the relay deleted the channel when it
  // answered. That is a bug of its own, named on issue 17; this test is about the approving side.)
  l.child.kill('SIGKILL');
  await l.done;
  // A wait out of bounds, or without --history, is a usage error before anything is sent: the code
  // stays unused for the approval below.
  for (const bad of [['--history', '--wait', '0'], ['--history', '--wait', '601'], ['--history', '--wait', '5s'], ['--wait', '5']]) {
    const u = await alice.run(['device', 'approve', code, '--yes', ...bad]);
    assert.equal(u.code, 2, `${bad.join(' ')}: ${u.stderr}`);
    assert.match(u.stderr, /--wait/);
  }
  const started = Date.now();
  const r = await alice.run(['device', 'approve', code, '--yes', '--json', '--history', '--wait', '5'], { timeoutMs: 150_000 });
  const waited = Date.now() - started;
  assert.equal(r.code, 1, r.stderr);
  assert.ok(waited >= 5_000, `it waited the 5 s it was given (${waited} ms)`);
  assert.ok(waited < 45_000, `and not the default minute (${waited} ms)`);
  assert.deepEqual(JSON.parse(r.stdout), { ...JSON.parse(r.stdout), approved: true, device: 2, history: null });
  assert.match(r.stderr, /waiting for device 2 to finish linking before sending the history \(up to 5 s\)/);
  assert.match(r.stderr, /history_timeout/);
  assert.match(r.stderr, /within 5 s/);
  // The new device adds itself to the signed list once it takes the approval: one that never did
  // is not listed, so nothing is ever encrypted to it.
  assert.deepEqual(jsonLines((await alice.ok(['device', 'list', '--json'])).stdout).map((row) => row.device), [1]);
});
