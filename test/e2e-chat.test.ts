// `fastchat chat` through a real terminal: two tmux panes on a private tmux server, one per home.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { startRelayProcess } from './util/relay-process.js';
import type { TestHome } from './util/fastchat-cli.js';
import { chatPair } from './util/chat-pair.js';

describe('fastchat chat in a terminal', () => {
  const pair = chatPair('fastchat-chat', { converse: false });
  const { tmux } = pair;
  const waitFor = tmux.waitFor.bind(tmux);
  const startChat = (home: TestHome, peer: string): void => tmux.startFastchat(home.name, home, ['chat', `@${peer}`]);

  before(async () => {
    await pair.alice.ok(['send', '@bob', 'sent before the chat opened']);
  });

  it('lets two users exchange lines, answers /who, survives a relay restart, and exits 0 on /quit', async () => {
    const { alice, bob } = pair;
    startChat(alice, 'bob');
    startChat(bob, 'alice');
    await waitFor('alice', /@bob> /);
    await waitFor('bob', /@alice: sent before the chat opened/); // the queued message shows on open
    await waitFor('bob', /@alice is online/);

    tmux.type('alice', 'hello bob, from the chat');
    await waitFor('bob', /@alice: hello bob, from the chat/);

    tmux.type('bob', 'hi alice, typing back');
    await waitFor('alice', /@bob: hi alice, typing back/);

    // A half-typed line survives an incoming message.
    tmux.run('send-keys', '-t', 'bob', '-l', 'half typed');
    tmux.type('alice', 'one more');
    // The message, then the prompt drawn again below it with the half-typed line (a screen read
    // between the two writes shows only the first: wait for both).
    await waitFor('bob', /@alice: one more\n+@alice> half typed\s*$/);

    tmux.type('alice', '/who');
    await waitFor('alice', /online: @alice @bob/);

    // The relay restarts: both chats reconnect by themselves and keep talking.
    const { port, db } = pair.relay;
    await pair.relay.stop();
    await waitFor('alice', /relay is (restarting|unreachable)/);
    pair.relay = await startRelayProcess({ db, port });
    await waitFor('alice', /reconnected to the relay/);
    await waitFor('bob', /reconnected to the relay/);
    tmux.type('alice', 'after the restart');
    await waitFor('bob', /@alice: after the restart/);

    tmux.type('alice', '/quit');
    await waitFor('alice', /CHAT-EXIT=0/);
    // After the last line alice sent: an earlier offline notice (during the restart) must not count.
    await waitFor('bob', /@alice: after the restart[\s\S]*@alice is offline/);

    // What was said in the chat is in the history of both homes.
    const hist = (await bob.ok(['history', '@alice', '--json'])).stdout;
    assert.match(hist, /hello bob, from the chat/);
    assert.match(hist, /hi alice, typing back/);
  });
});
