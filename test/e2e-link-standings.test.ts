// Whom the account accepted and blocked reaches a device just linked (docs/PROTOCOL.md D.12 step
// 5): message requests are on (the default), so without it the laptop took the first message of
// bob — a contact alice had written to for ages — as a message request, and had no block of
// mallory. The real `fastchat` binary in alice's two homes, bob's and mallory's, a real relay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines, makeHome, makeTempRoot, setUpUser } from './util/fastchat-cli.js';
import { aliceBobAndLaptop, linkIn } from './util/linking.js';
import { withCore } from './util/client-core.js';

test("a device just linked takes the account's standings: a contact's message is a message there, not a request, and a user blocked on the other device is blocked there too", { timeout: 300_000 }, async (t) => {
  const { relay, alice, bob, laptop } = await aliceBobAndLaptop(t, 'fastchat-standings-');
  const tmp = makeTempRoot('fastchat-standings-mallory-');
  t.after(() => tmp.cleanup());
  const mallory = makeHome(tmp.root, 'mallory');
  await setUpUser(mallory, relay.url);
  for (const h of [alice, laptop]) h.env.FASTCHAT_REQUESTS = 'on';

  // On alice's desktop: bob is accepted (they talked), mallory's first message is a request she blocks.
  await mallory.ok(['send', '@alice', 'hello, it is mallory']);
  await alice.ok(['inbox']);
  await alice.ok(['block', '@mallory']);

  const l = linkIn(t, laptop, relay.url, 'alice');
  const code = (await l.waiting).code;
  await alice.ok(['device', 'approve', code, '--yes', '--json']);
  const end = await l.done;
  assert.equal(end.code, 0, end.stderr);
  // The desktop sees the laptop in the account's list at its next receive pass, and sends it the standings.
  await alice.ok(['inbox']);
  await bob.ok(['send', '@alice', 'after the link']);

  const r = await laptop.run(['inbox', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /took from your device 1: 1 accepted contact, 1 blocked/);
  assert.doesNotMatch(r.stderr, /message request/);
  assert.deepEqual(
    jsonLines(r.stdout).map((m) => [m.from, m.text]),
    [['bob', 'after the link']],
  );
  assert.deepEqual(jsonLines((await laptop.ok(['requests', '--json'])).stdout), [], 'nothing waits as a request');
  const standings = await withCore(laptop, (c) => c.db.prepare('SELECT username, state FROM peer_states ORDER BY username').all());
  assert.deepEqual(standings, [
    { username: 'bob', state: 'accepted' },
    { username: 'mallory', state: 'blocked' },
  ]);
});
