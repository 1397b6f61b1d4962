// Read receipts between two CLI homes (docs/CLI.md "chat", docs/PROTOCOL.md §12.2 "Read
// receipts"): bob's `inbox` alone leaves alice's message delivered; his `fastchat chat` drawing it
// makes it read in alice's history and her chat; with `/read-receipts off` (kept across chats)
// what his chat shows stays delivered, then and after he turns them back on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusesTo } from './util/fastchat-cli.js';
import { chatPair } from './util/chat-pair.js';
import { until } from './util/until.js';

describe('read receipts', () => {
  const pair = chatPair('fastchat-read');
  const { tmux } = pair;

  /** alice's messages to bob, text → status, after an inbox pass took in the receipts that came. */
  const aliceStatuses = (): Promise<Record<string, string>> => statusesTo(pair.alice, 'bob');

  /** alice's message `text` reaches `delivered`, then stays there for a while (no read receipt). */
  async function staysDelivered(text: string): Promise<void> {
    await until(async () => (await aliceStatuses())[text] === 'delivered', `"${text}" delivered`);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal((await aliceStatuses())[text], 'delivered', `"${text}" was receipted read`);
  }

  it("marks alice's message read once bob's chat shows it, never for inbox alone", async () => {
    await pair.alice.ok(['send', '@bob', 'first, for inbox']);
    await pair.bob.ok(['inbox']);
    await staysDelivered('first, for inbox');

    tmux.startFastchat('bob', pair.bob, ['chat', '@alice']);
    await tmux.waitFor('bob', /@alice: first, for inbox/);
    await until(async () => (await aliceStatuses())['first, for inbox'] === 'read', 'the read receipt of the message bob\'s chat drew');

    // Live: alice's chat shows her line go from delivered to read while bob's chat has it on screen.
    tmux.startFastchat('alice', pair.alice, ['chat', '@bob']);
    await tmux.waitFor('alice', /^@bob> $/m);
    tmux.type('alice', 'seen live');
    await tmux.waitFor('bob', /@alice: seen live/);
    await tmux.waitFor('alice', /you: seen live {2}\(read\)/);
    tmux.type('alice', '/quit');
    await tmux.waitFor('alice', /CHAT-EXIT=0/);
  });

  it('sends none with /read-receipts off, kept across chats; what was shown meanwhile stays delivered', async () => {
    tmux.type('bob', '/read-receipts off');
    await tmux.waitFor('bob', /read receipts are off/);
    tmux.type('bob', '/quit');
    await tmux.waitFor('bob', /CHAT-EXIT=0/);

    await pair.alice.ok(['send', '@bob', 'while off']);
    tmux.startFastchat('bob2', pair.bob, ['chat', '@alice']);
    await tmux.waitFor('bob2', /@alice: while off/);
    tmux.type('bob2', '/read-receipts');
    await tmux.waitFor('bob2', /read receipts are off/);
    await staysDelivered('while off');

    tmux.type('bob2', '/read-receipts on');
    await tmux.waitFor('bob2', /read receipts are on/);
    await pair.alice.ok(['send', '@bob', 'after on again']);
    await tmux.waitFor('bob2', /@alice: after on again/);
    await until(async () => (await aliceStatuses())['after on again'] === 'read', 'the read receipt once they are on again');
    assert.equal((await aliceStatuses())['while off'], 'delivered', 'shown while off, receipted later');

    tmux.type('bob2', '/read-receipts maybe');
    await tmux.waitFor('bob2', /usage: \/read-receipts on\|off/);
    tmux.type('bob2', '/quit');
    await tmux.waitFor('bob2', /CHAT-EXIT=0/);
  });
});
