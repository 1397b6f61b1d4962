// Two fastchat processes on one home at once (say `chat` in one terminal and `send` in another):
// each ratchet step is one SQLite transaction with the message it produced, so concurrent sends
// never reuse a message key or lose a state update. A broken transaction boundary shows up here
// as messages bob cannot decrypt, or as fewer than all of them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RelayProcess } from './util/relay-process.js';
import { jsonLines, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';

describe('one home used by several processes at once', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob']));
    // A session in both directions first, so the concurrent sends all advance one ratchet chain.
    await alice.ok(['send', '@bob', 'opening']);
    await bob.ok(['inbox']);
    await bob.ok(['send', '@alice', 'reply']);
    await alice.ok(['inbox']);
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('delivers every message of eight concurrent sends from one home, each decryptable once', async () => {
    const texts = Array.from({ length: 8 }, (_, i) => `concurrent ${i}`);
    const results = await Promise.all(texts.map((t) => alice.run(['send', '@bob', t])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(got.map((m) => m.text).sort(), [...texts].sort());
    const hist = jsonLines((await bob.ok(['history', '@alice', '-n', '50', '--json'])).stdout);
    assert.equal(hist.filter((m) => m.status === 'failed').length, 0, 'no message failed to decrypt');
  });

  it('keeps the session healthy afterwards: the next message in each direction decrypts', async () => {
    await alice.ok(['send', '@bob', 'after the burst']);
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['after the burst']);
    await bob.ok(['send', '@alice', 'and back']);
    assert.deepEqual(jsonLines((await alice.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['and back']);
  });
});
