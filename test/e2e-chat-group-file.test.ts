// `fastchat chat` through a real terminal, the parts e2e-chat.test.ts leaves out: a group
// conversation (`chat '#team'`) with a third member on the plain CLI, and `/file PATH` typed in a
// chat, received by `inbox --json` and by the peer's own chat pane, byte for byte.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RelayProcess } from './util/relay-process.js';
import { jsonLines, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';
import { Tmux } from './util/tmux.js';

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * One chat line as the pane shows it: "2025-01-31 14:05  @bob: text" (the text matched exactly);
 * our own lines end with their state, "  (sent)".
 */
const chatLine = (who: string, text: string): RegExp =>
  new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d  ${who}: ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${who === 'you' ? '  \\((queued|sent|delivered|read)\\)' : ''}$`, 'm');

async function inbox(home: TestHome): Promise<any[]> {
  return jsonLines((await home.ok(['inbox', '--json'])).stdout);
}

describe('fastchat chat in a terminal: groups and files', () => {
  const tmux = new Tmux();
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let carol: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob, carol } } = await startUsers(['alice', 'bob', 'carol']));
  });
  after(async () => {
    tmux.killServer();
    await relay?.stop();
    tmp?.cleanup();
  });

  it('shows each member of #team the others\' lines under the group, sends typed lines to the members, and exits 0 on /quit', async () => {
    await alice.ok(['group', 'create', '#team', '@bob', '@carol']);
    await bob.ok(['inbox']);
    await carol.ok(['inbox']);

    tmux.startFastchat('alice-team', alice, ['chat', '#team']);
    tmux.startFastchat('bob-team', bob, ['chat', '#team']);
    for (const [pane, me] of [['alice-team', 'alice'], ['bob-team', 'bob']] as const) {
      await tmux.waitFor(pane, new RegExp(`chat with #team as @${me}`));
      await tmux.waitFor(pane, /^#team> ?$/m);
    }

    // carol, outside any chat, writes to the group: both panes show it under her name.
    await carol.ok(['send', '#team', 'carol from the command line']);
    await tmux.waitFor('alice-team', chatLine('@carol', 'carol from the command line'));
    await tmux.waitFor('bob-team', chatLine('@carol', 'carol from the command line'));

    tmux.type('alice-team', 'alice typed this in #team');
    const aliceScreen = await tmux.waitFor('alice-team', chatLine('you', 'alice typed this in #team'));
    await tmux.waitFor('bob-team', chatLine('@alice', 'alice typed this in #team'));

    tmux.type('bob-team', 'bob answers the team');
    await tmux.waitFor('alice-team', chatLine('@bob', 'bob answers the team'));

    // carol's inbox has both typed lines, from the right members, marked as #team messages.
    const got = await inbox(carol);
    assert.deepEqual(
      got.map((m) => `${m.group}:${m.from}:${m.text}`),
      ['team:alice:alice typed this in #team', 'team:bob:bob answers the team'],
    );

    tmux.type('alice-team', '/quit');
    tmux.type('bob-team', '/quit');
    await tmux.waitFor('alice-team', /CHAT-EXIT=0/);
    await tmux.waitFor('bob-team', /CHAT-EXIT=0/);
    for (const pane of ['alice-team', 'bob-team']) {
      const s = tmux.screen(pane);
      // The group's messages showed in the group conversation, not as a notice about another one.
      assert.doesNotMatch(s, /new message in #/, `${pane}:\n${s}`);
      assert.doesNotMatch(s, /^\* queued|^! /m, `${pane}:\n${s}`);
    }
    assert.doesNotMatch(aliceScreen, chatLine('@alice', 'alice typed this in #team'), 'her own line shows as "you"');
    // Each line is in the group's history exactly once, whoever sent it.
    const hist = jsonLines((await bob.ok(['history', '#team', '--json'])).stdout);
    assert.deepEqual(hist.map((m) => `${m.from}:${m.text}`).sort(), [
      'alice:alice typed this in #team',
      'bob:bob answers the team',
      'carol:carol from the command line',
    ]);
  });

  it('sends a file typed as /file PATH in a chat, which arrives byte-equal in the inbox and in the peer\'s chat', async () => {
    const dir = join(tmp.root, 'pictures');
    mkdirSync(join(dir, 'second one'), { recursive: true });
    const photo = join(dir, 'photo.bin');
    writeFileSync(photo, randomBytes(300_000)); // five 64 KiB pieces and a partial one
    const again = join(dir, 'second one', 'photo.bin'); // same name; a path with a space
    writeFileSync(again, randomBytes(123_456));

    tmux.startFastchat('alice-file', alice, ['chat', '@bob']);
    await tmux.waitFor('alice-file', /^@bob> ?$/m);
    tmux.type('alice-file', `/file ${photo}`);
    await tmux.waitFor('alice-file', chatLine('you', '[file] photo.bin (300 kB)'));

    // bob is not in a chat: his inbox downloads, checks and saves it.
    const got = await inbox(bob);
    assert.equal(got.length, 1, JSON.stringify(got));
    const [m] = got;
    assert.equal(m.from, 'alice');
    assert.equal(m.group, null);
    assert.equal(m.file.name, 'photo.bin');
    assert.equal(m.file.size, 300_000);
    assert.equal(m.file.path, join(bob.dir, 'files', 'photo.bin'));
    assert.equal(sha(m.file.path), sha(photo));

    // Now bob is in a chat with alice: the file shows as a line and is saved as it arrives.
    tmux.startFastchat('bob-file', bob, ['chat', '@alice']);
    await tmux.waitFor('bob-file', /^@alice> ?$/m);
    tmux.type('alice-file', `/file ${again}`);
    await tmux.waitFor('alice-file', chatLine('you', '[file] photo.bin (123 kB)'));
    await tmux.waitFor('bob-file', chatLine('@alice', '[file] photo.bin (123 kB)'));
    const saved = join(bob.dir, 'files', 'photo (1).bin'); // never replaces the first one
    const savedLine = /^\* saved photo\.bin from @alice to (.+)$/m; // the sender's name, then where it went
    const s = await tmux.waitFor('bob-file', savedLine);
    assert.equal(savedLine.exec(s)![1], saved);
    assert.equal(sha(saved), sha(again));
    assert.equal(sha(m.file.path), sha(photo), 'the first file is untouched');
    assert.deepEqual(await inbox(bob), [], 'the chat took the file: nothing left for inbox');
    assert.ok(!existsSync(join(bob.dir, 'files', 'photo (2).bin')));

    tmux.type('alice-file', '/quit');
    tmux.type('bob-file', '/quit');
    await tmux.waitFor('alice-file', /CHAT-EXIT=0/);
    await tmux.waitFor('bob-file', /CHAT-EXIT=0/);
    assert.doesNotMatch(tmux.screen('alice-file'), /file not sent|^! /m);
  });
});
