// What happens to a line typed in `fastchat chat` (issue 15, bugs 2 and 3), through the real binary
// in tmux: a line is never lost — a refused one stays in the input, or is queued and sent once the
// cause is resolved — and a line is shown as yours only with its state (queued, sent, delivered,
// failed), updated in place as it changes. An open group chat stays bound to the group it was
// opened on when another group of the same name appears.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RelayProcess } from './util/relay-process.js';
import { converse, jsonLines, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';
import { Tmux } from './util/tmux.js';

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** One of our lines as the pane shows it, with its state: "2025-01-31 14:05  you: text  (sent)". */
const ownLine = (text: string, state: string): RegExp => new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d  you: ${esc(text)}  \\(${state}\\)\\s*$`, 'm');

async function history(home: TestHome, peer: string): Promise<any[]> {
  return jsonLines((await home.ok(['history', peer, '-n', '100', '--json'])).stdout);
}

describe('chat: typed lines are never lost', () => {
  const tmux = new Tmux('fastchat-lines');
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let carol: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob, carol } } = await startUsers(['alice', 'bob', 'carol'], { prefix: 'fastchat-lines-' }));
    await converse(alice, bob);
    await converse(alice, carol);
  });
  after(async () => {
    tmux.killServer();
    relay?.proc.kill('SIGCONT');
    await relay?.stop();
    tmp?.cleanup();
  });

  it('keeps a line typed while chat still checks the peer\'s key, and sends it', async () => {
    // The relay is paused, so the key check at start hangs until it resumes.
    relay.proc.kill('SIGSTOP');
    try {
      tmux.startFastchat('start', alice, ['chat', '@bob']);
      await tmux.waitFor('start', /chat with @bob as @alice/);
      tmux.type('start', 'typed while starting');
      await tmux.waitFor('start', /typed while starting/);
    } finally {
      relay.proc.kill('SIGCONT');
    }
    await tmux.waitFor('start', ownLine('typed while starting', '(sent|delivered|read)'));
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['typed while starting']);
    await tmux.waitFor('start', ownLine('typed while starting', 'delivered'));
    tmux.type('start', '/quit');
    await tmux.waitFor('start', /CHAT-EXIT=0/);
  });

  it('asks about a paste of several lines made while chat still checks the peer\'s key, instead of sending each line', async () => {
    relay.proc.kill('SIGSTOP');
    try {
      tmux.startFastchat('pastestart', alice, ['chat', '@bob']);
      await tmux.waitFor('pastestart', /chat with @bob as @alice/);
      tmux.paste('pastestart', 'pasted one\npasted two');
      await tmux.waitFor('pastestart', /send 2 lines as one message\? \[Y\/s\/n\] $/m);
      tmux.run('send-keys', '-t', 'pastestart', 'Enter');
    } finally {
      relay.proc.kill('SIGCONT');
    }
    await tmux.waitFor('pastestart', /you: pasted one\n {2,}pasted two {2}\((sent|delivered|read)\)/);
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['pasted one\npasted two']);
    tmux.type('pastestart', '/quit');
    await tmux.waitFor('pastestart', /CHAT-EXIT=0/);
  });

  it('refuses a chat with a user that does not exist, before anything is typed', async () => {
    tmux.startFastchat('nobody', alice, ['chat', '@nosuchuser']);
    const s = await tmux.waitFor('nobody', /CHAT-EXIT=\d/);
    assert.match(s, /unknown user @nosuchuser/);
    assert.match(s, /CHAT-EXIT=1/);
  });

  it('keeps a line that is no command in the input, and sends a leading slash written as //', async () => {
    tmux.startFastchat('slash', alice, ['chat', '@bob']);
    await tmux.waitFor('slash', /^@bob> $/m);
    tmux.type('slash', '/shrug it happens');
    // Refused, said so, and still there to be edited.
    await tmux.waitFor('slash', /unknown command \/shrug/);
    await tmux.waitFor('slash', /^@bob> \/shrug it happens$/m);
    // Clear the input (Ctrl-U), then the escape: // sends one leading slash.
    tmux.run('send-keys', '-t', 'slash', 'C-u');
    tmux.type('slash', '//shrug it happens');
    await tmux.waitFor('slash', ownLine('/shrug it happens', '(sent|delivered|read)'));
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['/shrug it happens']);
    tmux.type('slash', '/quit');
    await tmux.waitFor('slash', /CHAT-EXIT=0/);
  });

  it('keeps a line over the length limit in the input: one character less is then sent whole', async () => {
    tmux.startFastchat('long', alice, ['chat', '@bob']);
    await tmux.waitFor('long', /^@bob> $/m);
    const text = `${'x'.repeat(15_990)}0123456789Z`; // 16 001 characters
    tmux.type('long', text);
    // The refusal is said above the input, which is then put back (a hundred rows: it scrolls the
    // message off a 40-row pane, hence the scrollback).
    await tmux.waitFor('long', /16001 characters, over the limit of 16000/, 15_000, { scrolled: true });
    // Still in the input: delete its last character and send what is left.
    tmux.run('send-keys', '-t', 'long', 'BSpace');
    tmux.run('send-keys', '-t', 'long', 'Enter');
    await tmux.waitFor('long', /you: x{20}/, 15_000, { scrolled: true });
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, [text.slice(0, 16_000)]);
    tmux.type('long', '/quit');
    await tmux.waitFor('long', /CHAT-EXIT=0/);
  });

  it('shows a line as queued while the relay is down, then sent and delivered in place', async () => {
    tmux.startFastchat('state', alice, ['chat', '@bob']);
    await tmux.waitFor('state', /^@bob> $/m);
    const { port, db } = relay;
    await relay.stop();
    await tmux.waitFor('state', /relay is (restarting|unreachable)/);
    tmux.type('state', 'written while the relay is down');
    await tmux.waitFor('state', ownLine('written while the relay is down', 'queued'));
    const { startRelayProcess } = await import('./util/relay-process.js');
    relay = await startRelayProcess({ db, port });
    await tmux.waitFor('state', ownLine('written while the relay is down', 'sent'), 30_000);
    await bob.ok(['inbox']);
    const s = await tmux.waitFor('state', ownLine('written while the relay is down', 'delivered'));
    // One line for the message, its state changed in place.
    assert.equal(s.split('\n').filter((l) => l.includes('you: written while the relay is down')).length, 1, s);
    tmux.type('state', '/quit');
    await tmux.waitFor('state', /CHAT-EXIT=0/);
  });

  it('queues a line to a contact whose key changed, and sends it once the new key is accepted', async () => {
    // bob re-keys: alice's client sees a changed identity key.
    await bob.ok(['keygen', '--force', '--yes']);
    tmux.startFastchat('changed', alice, ['chat', '@bob']);
    await tmux.waitFor('changed', /identity key of @bob CHANGED/);
    tmux.type('changed', 'are you really bob?');
    await tmux.waitFor('changed', ownLine('are you really bob?', 'queued: the identity key of @bob changed; /verify'));
    assert.equal((await history(alice, '@bob')).filter((m) => m.text === 'are you really bob?').length, 1, 'stored, waiting');
    tmux.type('changed', '/verify');
    await tmux.waitFor('changed', /type \/verify confirm/);
    tmux.type('changed', '/verify confirm');
    await tmux.waitFor('changed', ownLine('are you really bob?', '(sent|delivered|read)'));
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['are you really bob?']);
    tmux.type('changed', '/quit');
    await tmux.waitFor('changed', /CHAT-EXIT=0/);
  });

  it('keeps an open group chat on its group when another group of the same name appears', async () => {
    await alice.ok(['group', 'create', '#team', '@carol']);
    await carol.ok(['inbox']);
    tmux.startFastchat('team', alice, ['chat', '#team']);
    await tmux.waitFor('team', /^#team> $/m);
    // bob (anyone who can add alice to a group) makes another #team.
    await bob.ok(['group', 'create', '#team', '@alice']);
    // alice's chat learns of it: both groups are now told apart by their id.
    await tmux.waitFor('team', /^#team~[0-9a-f]{4,}> $/m);
    tmux.type('team', 'still for the first team');
    await tmux.waitFor('team', ownLine('still for the first team', 'sent'));
    const got = jsonLines((await carol.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['still for the first team']);
    tmux.type('team', '/quit');
    await tmux.waitFor('team', /CHAT-EXIT=0/);
  });
  it('opens a group chat for a group it was added to a moment ago, before any inbox ran', async () => {
    await carol.ok(['group', 'create', '#fresh', '@alice']);
    // alice has not received the invitation yet: chat runs the receive pass that brings it.
    tmux.startFastchat('fresh', alice, ['chat', '#fresh']);
    await tmux.waitFor('fresh', /^#fresh> $/m);
    tmux.type('fresh', 'hello new group');
    await tmux.waitFor('fresh', ownLine('hello new group', 'sent'));
    const got = jsonLines((await carol.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['hello new group']);
    tmux.type('fresh', '/quit');
    await tmux.waitFor('fresh', /CHAT-EXIT=0/);
    // The same for send: a group created for alice is found without an inbox first.
    await carol.ok(['group', 'create', '#fresher', '@alice']);
    await alice.ok(['send', '#fresher', 'sent by name at once']);
    assert.deepEqual(jsonLines((await carol.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['sent by name at once']);
  });
});
