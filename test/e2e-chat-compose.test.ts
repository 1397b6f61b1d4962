// Composing and reading in `fastchat chat` (issue 15), in tmux: a paste of several lines asks once
// and becomes one message (or one per line, by choice); `~` in /file is the home folder; /list
// shows the conversations; messages of other conversations are counted in the prompt, not printed;
// a stranger's messages arrive as one request line, never as the messages themselves.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RelayProcess } from './util/relay-process.js';
import { converse, jsonLines, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';
import { Tmux } from './util/tmux.js';

describe('chat: composing and the other conversations', () => {
  const tmux = new Tmux('fastchat-compose');
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let carol: TestHome;
  let mallory: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob, carol, mallory } } = await startUsers(['alice', 'bob', 'carol', 'mallory'], { prefix: 'fastchat-compose-' }));
    await converse(alice, bob);
    await converse(alice, carol);
    alice.env.FASTCHAT_REQUESTS = 'on';
    mallory.env.FASTCHAT_REQUESTS = 'on';
  });
  after(async () => {
    tmux.killServer();
    await relay?.stop();
    tmp?.cleanup();
  });

  it('asks once about a paste of several lines: one message, or one per line', async () => {
    const home = join(tmp.root, 'alice-os-home');
    mkdirSync(home);
    writeFileSync(join(home, 'notes.bin'), randomBytes(5000));
    tmux.startFastchat('alice', { ...alice, env: { ...alice.env, HOME: home } }, ['chat', '@bob']);
    await tmux.waitFor('alice', /^@bob> $/m);
    await tmux.waitFor('alice', /^—— \w+ \d{1,2} \w+ \d{4} ——$/m); // the day the history is from

    tmux.paste('alice', 'line one\nline two\nline three');
    await tmux.waitFor('alice', /you pasted 3 lines/);
    await tmux.waitFor('alice', /send 3 lines as one message\? \[Y\/s\/n\] $/m);
    tmux.run('send-keys', '-t', 'alice', 'Enter');
    await tmux.waitFor('alice', /you: line one\n {2,}line two\n {2,}line three {2}\((sent|delivered|read)\)/);
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['line one\nline two\nline three']);

    tmux.paste('alice', 'first of two\nsecond of two\n');
    await tmux.waitFor('alice', /send 2 lines as one message\? \[Y\/s\/n\] $/m);
    tmux.type('alice', 's');
    await tmux.waitFor('alice', /you: second of two {2}\((sent|delivered|read)\)/);
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['first of two', 'second of two']);

    tmux.type('alice', '/file ~/notes.bin');
    await tmux.waitFor('alice', /you: \[file\] notes\.bin/);
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.equal(got[0]?.file?.name, 'notes.bin');
  });

  it('counts other conversations\' messages in the prompt, lists them with /list, and shows a stranger as one request line', async () => {
    await carol.ok(['send', '@alice', 'carol writes while alice talks to bob']);
    await carol.ok(['send', '@alice', 'and once more']);
    await tmux.waitFor('alice', /\[@carol 2\] @bob> $/m);
    assert.doesNotMatch(tmux.screen('alice'), /carol writes/);
    tmux.type('alice', '/list');
    await tmux.waitFor('alice', /^@carol\s+2 unread\s+\d\d:\d\d\s+@carol: and once more$/m);

    await mallory.ok(['send', '@alice', 'hello from a stranger']);
    await mallory.ok(['send', '@alice', 'are you there']);
    await tmux.waitFor('alice', /\[@carol 2, 1 request\] @bob> $/m);
    const s = tmux.screen('alice');
    assert.equal(s.split('\n').filter((l) => l.includes('mallory')).length, 1, s);
    assert.doesNotMatch(s, /hello from a stranger|are you there/);

    tmux.type('alice', '@carol');
    await tmux.waitFor('alice', /@carol: and once more/);
    await tmux.waitFor('alice', /\[1 request\] @carol> $/m);
    tmux.type('alice', '/quit');
    await tmux.waitFor('alice', /CHAT-EXIT=0/);
  });
});
