// Two `fastchat chat` windows on one home (issue 15, bug 4). The relay keeps one connection per
// device and closes the older one when another opens, so two windows that each held their own would
// knock each other off for ever. One home, one connection: the second window says that another
// chat holds it (its pid) and works through it; `inbox` does too; when the first window quits, the
// second takes the connection over. Nothing typed in either window, or sent to the home, is lost.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonLines } from './util/fastchat-cli.js';
import { chatPair } from './util/chat-pair.js';

const KNOCKED_OFF = /replaced by another connection|reconnected to the relay/;

describe('chat: two windows on one home', () => {
  const pair = chatPair('fastchat-windows');
  const { tmux } = pair;

  it('shares one relay connection: both windows show what arrives, the second sends through the first, nobody is knocked off', async () => {
    tmux.startFastchat('one', pair.alice, ['chat', '@bob']);
    await tmux.waitFor('one', /^@bob> $/m);
    await tmux.waitFor('one', /@bob is (online|offline)/); // connected
    tmux.startFastchat('two', pair.alice, ['chat', '@bob']);
    await tmux.waitFor('two', /another chat of this home is open \(pid \d+\)/);
    await tmux.waitFor('two', /^@bob> $/m);

    await pair.bob.ok(['send', '@alice', 'to both windows']);
    await tmux.waitFor('one', /@bob: to both windows/);
    await tmux.waitFor('two', /@bob: to both windows/);

    tmux.type('two', 'typed in the second window');
    await tmux.waitFor('two', /you: typed in the second window {2}\((sent|delivered|read)\)/);
    // The first window shows it too: it is this home's conversation.
    await tmux.waitFor('one', /you: typed in the second window/);
    assert.deepEqual(jsonLines((await pair.bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['typed in the second window']);
    await tmux.waitFor('two', /you: typed in the second window {2}\(delivered\)/);

    // inbox of the same home while the chats run: it prints what is unread without a connection of its own.
    const r = await pair.alice.ok(['inbox']);
    assert.match(r.stderr, /a chat of this home \(pid \d+\) holds the relay connection/);

    // A round trip after everything above: had the windows (or inbox) fought over the connection,
    // the relay would have closed one of them by now, and it would have said so.
    await pair.bob.ok(['send', '@alice', 'still one connection']);
    await tmux.waitFor('one', /@bob: still one connection/);
    await tmux.waitFor('two', /@bob: still one connection/);
    for (const pane of ['one', 'two']) assert.doesNotMatch(tmux.screen(pane), KNOCKED_OFF, pane);
  });

  it('hands the connection to the second window when the first quits, losing nothing', async () => {
    tmux.type('one', '/quit');
    await tmux.waitFor('one', /CHAT-EXIT=0/);
    await tmux.waitFor('two', /this window holds it now/);
    await pair.bob.ok(['send', '@alice', 'after the first window quit']);
    await tmux.waitFor('two', /@bob: after the first window quit/);
    tmux.type('two', 'from the window that took over');
    await tmux.waitFor('two', /you: from the window that took over {2}\((sent|delivered|read)\)/);
    assert.deepEqual(jsonLines((await pair.bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['from the window that took over']);
    tmux.type('two', '/quit');
    await tmux.waitFor('two', /CHAT-EXIT=0/);
    // Nothing bob sent is left unread or lost in alice's home.
    const texts = jsonLines((await pair.alice.ok(['history', '@bob', '--json'])).stdout).map((m) => m.text);
    for (const t of ['to both windows', 'still one connection', 'after the first window quit', 'typed in the second window', 'from the window that took over']) assert.ok(texts.includes(t), t);
  });
});
