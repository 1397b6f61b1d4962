// Typing indicators between two real `fastchat chat` processes in tmux on a real relay (docs/CLI.md
// "chat", docs/PROTOCOL.md §12.2 "Typing indicators"): what alice types shows in bob's prompt as
// "alice is typing…" and clears once she stops or sends; with /typing off nothing shows; and what
// she typed while bob was away (dropped by the relay) leaves no "never arrived" notice at bob.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chatPair } from './util/chat-pair.js';

describe('typing indicators in chat', () => {
  const pair = chatPair('fastchat-typing');
  const { tmux } = pair;

  /** Keys typed into a pane without Enter. */
  const keys = (pane: string, text: string): void => void tmux.run('send-keys', '-t', pane, '-l', text);
  const typingLine = /alice is typing…/;

  it("shows alice typing in bob's chat, and clears it when she stops and when she sends", async () => {
    tmux.startFastchat('bob', pair.bob, ['chat', '@alice']);
    tmux.startFastchat('alice', pair.alice, ['chat', '@bob']);
    // Connected (the presence line follows the connection), not only drawn: keys before that send nothing yet.
    await tmux.waitFor('bob', /\* @alice is (online|offline)/, 30_000);
    await tmux.waitFor('alice', /\* @bob is (online|offline)/, 30_000);

    keys('alice', 'typed');
    await tmux.waitFor('bob', typingLine);
    // Idle for TYPING_IDLE_MS (5 s): "stopped", and bob's prompt is plain again.
    await tmux.waitFor('bob', /^@alice> $/m, 15_000);
    assert.doesNotMatch(tmux.screen('bob'), typingLine);

    keys('alice', ' live');
    await tmux.waitFor('bob', typingLine);
    tmux.run('send-keys', '-t', 'alice', 'Enter');
    await tmux.waitFor('bob', /@alice: typed live/);
    await tmux.waitFor('bob', /^@alice> $/m, 5_000);
  });

  it('shows nothing while alice has /typing off, and again once she turns it on', async () => {
    tmux.type('alice', '/typing off');
    await tmux.waitFor('alice', /typing indicators are off/);
    keys('alice', 'quiet typing');
    await new Promise((r) => setTimeout(r, 3_000));
    assert.doesNotMatch(tmux.screen('bob'), typingLine);
    tmux.run('send-keys', '-t', 'alice', 'Enter');
    await tmux.waitFor('bob', /@alice: quiet typing/);

    tmux.type('alice', '/typing on');
    await tmux.waitFor('alice', /typing indicators are on/);
    keys('alice', 'loud');
    await tmux.waitFor('bob', typingLine);
    tmux.run('send-keys', '-t', 'alice', 'Enter');
    await tmux.waitFor('bob', /@alice: loud/);
    tmux.type('alice', '/typing maybe');
    await tmux.waitFor('alice', /usage: \/typing on\|off/);
  });

  it('leaves no "never arrived" notice for what alice typed while bob was away', async () => {
    tmux.type('bob', '/quit');
    await tmux.waitFor('bob', /CHAT-EXIT=0/);
    // Well past the relay's presence grace: bob's device is not connected, every indicator is dropped.
    for (let i = 0; i < 3; i++) {
      keys('alice', `x${i}`);
      await new Promise((r) => setTimeout(r, 1_500));
    }
    tmux.run('send-keys', '-t', 'alice', 'Enter');
    await tmux.waitFor('alice', /you: x0x1x2/);
    const inbox = await pair.bob.ok(['inbox'], { env: { FASTCHAT_GAP_GRACE_SECONDS: '0' } });
    assert.match(inbox.stdout, /x0x1x2/);
    assert.doesNotMatch(inbox.stdout + inbox.stderr, /never arrived/);
    const again = await pair.bob.ok(['inbox'], { env: { FASTCHAT_GAP_GRACE_SECONDS: '0' } });
    assert.doesNotMatch(again.stdout + again.stderr, /never arrived/);
    tmux.type('alice', '/quit');
    await tmux.waitFor('alice', /CHAT-EXIT=0/);
  });
});
