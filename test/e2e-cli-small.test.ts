// The small things of issue 15, with the real binary (prompts through a real terminal in tmux):
// case-folded usernames, the #group a shell ate, three passphrase tries with hints worded by where
// the passphrase came from, a password's length rule told before it is typed, one JSON form for a
// peer, and chat --help naming every in-chat command.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { jsonLines, makeHome, type TestHome } from './util/fastchat-cli.js';
import { chatPair } from './util/chat-pair.js';

describe('small things people hit on their first day', () => {
  const pair = chatPair('fastchat-small', { converse: false });
  const { tmux } = pair;
  /** alice's home, with no passphrase or password in the environment: prompts are asked. */
  let aliceTyping: TestHome;

  before(() => {
    aliceTyping = makeHome(pair.tmp.root, 'alice', { FASTCHAT_PASSPHRASE: '', FASTCHAT_PASSWORD: '' });
  });

  it('folds @Bob to @bob everywhere a username is read, as the relay does', async () => {
    const sent = JSON.parse((await pair.alice.ok(['send', '@Bob', 'to a capital B', '--json'])).stdout);
    assert.equal(sent.to, 'bob');
    const got = jsonLines((await pair.bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(got.map((m) => [m.from, m.text]), [['alice', 'to a capital B']]);
    assert.equal(JSON.parse((await pair.alice.ok(['fingerprint', '@BOB', '--json'])).stdout).username, 'bob');
    assert.equal(jsonLines((await pair.alice.ok(['history', '@bOb', '--json'])).stdout).length, 1);
    const carol = makeHome(pair.tmp.root, 'carol');
    await carol.ok(['keygen']);
    assert.match((await carol.ok(['register', 'Carol', '--relay', pair.relay.url])).stdout, /^registered @carol /m);
  });

  it('says to quote a #group when the shell took it for a comment', async () => {
    // `fastchat chat #team` reaches fastchat as `fastchat chat`.
    for (const args of [['chat'], ['send'], ['group', 'info']]) {
      const r = await pair.alice.run(args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^fastchat: error: missing required argument/m);
      assert.match(r.stderr, /^hint: if you typed a #group, quote it: in a shell # starts a comment/m, args.join(' '));
      assert.match(r.stderr, new RegExp(`fastchat ${args.join(' ')} '#team'`));
    }
  });

  it('names every in-chat command, /file too, in chat --help', async () => {
    const help = (await pair.alice.ok(['chat', '--help'])).stdout;
    for (const cmd of ['/who', '/history', '/verify', '/file', '/help', '/quit']) assert.ok(help.includes(cmd), cmd);
  });

  it('has one JSON form for a peer: to is the bare username or null, group the label or null', async () => {
    await pair.alice.ok(['group', 'create', '#team', '@bob']);
    const user = JSON.parse((await pair.alice.ok(['send', '@bob', 'x', '--json'])).stdout);
    assert.deepEqual([user.to, user.group], ['bob', null]);
    const group = JSON.parse((await pair.alice.ok(['send', '#team', 'y', '--json'])).stdout);
    assert.deepEqual([group.to, group.group], [null, 'team']);
  });

  it('gives three tries at the passphrase prompt, and never mentions FASTCHAT_PASSPHRASE to someone typing', async () => {
    tmux.startFastchat('tries', aliceTyping, ['history', '@bob', '-n', '1']);
    await tmux.waitFor('tries', /passphrase: $/m);
    tmux.type('tries', 'wrong once');
    await tmux.waitFor('tries', /wrong passphrase; try again\npassphrase: $/m);
    tmux.type('tries', pair.alice.env.FASTCHAT_PASSPHRASE!);
    const ok = await tmux.waitFor('tries', /CHAT-EXIT=\d+/);
    assert.match(ok, /CHAT-EXIT=0/);
    assert.match(ok, /you: /);

    tmux.startFastchat('three', aliceTyping, ['history', '@bob']);
    for (let i = 0; i < 3; i++) {
      await tmux.waitFor('three', new RegExp(`(passphrase: [\\s\\S]*){${i + 1}}$`));
      tmux.type('three', `wrong ${i}`);
    }
    const failed = await tmux.waitFor('three', /CHAT-EXIT=\d+/);
    assert.match(failed, /^fastchat: error: wrong passphrase \(3 tries\); nothing was changed$/m);
    assert.match(failed, /CHAT-EXIT=1/);
    assert.doesNotMatch(failed, /FASTCHAT_PASSPHRASE/);
    // From the environment, the hint names the variable.
    const env = await pair.alice.run(['history', '@bob'], { env: { FASTCHAT_PASSPHRASE: 'not it' } });
    assert.match(env.stderr, /^hint: check FASTCHAT_PASSPHRASE/m);
  });

  it('words a wrong password\'s hint by where the password came from', async () => {
    tmux.startFastchat('password', aliceTyping, ['login', 'alice']);
    await tmux.waitFor('password', /passphrase: $/m);
    tmux.type('password', pair.alice.env.FASTCHAT_PASSPHRASE!);
    await tmux.waitFor('password', /relay password: $/m);
    tmux.type('password', 'not the password');
    const typed = await tmux.waitFor('password', /CHAT-EXIT=\d+/);
    assert.match(typed, /^fastchat: error: wrong username or password for @alice$/m);
    assert.match(typed, /^hint: check the username and the password you typed/m);
    assert.doesNotMatch(typed, /FASTCHAT_PASSWORD/);
    const env = await pair.alice.run(['login', 'alice'], { env: { FASTCHAT_PASSWORD: 'not the password' } });
    assert.match(env.stderr, /^hint: check FASTCHAT_PASSWORD$/m);
  });

  it('asks for the passphrase at a terminal once the agent is locked', async () => {
    await pair.alice.ok(['unlock', '--for', '1h']);
    tmux.startFastchat('unlocked', aliceTyping, ['history', '@bob', '-n', '1']);
    assert.match(await tmux.waitFor('unlocked', /CHAT-EXIT=\d+/), /CHAT-EXIT=0/);
    assert.doesNotMatch(tmux.screen('unlocked'), /passphrase:/);
    await pair.alice.ok(['lock']);
    tmux.startFastchat('locked', aliceTyping, ['history', '@bob', '-n', '1']);
    await tmux.waitFor('locked', /passphrase: $/m);
    tmux.type('locked', pair.alice.env.FASTCHAT_PASSPHRASE!);
    assert.match(await tmux.waitFor('locked', /CHAT-EXIT=\d+/), /CHAT-EXIT=0/);
  });

  it('tells the password length rule before it is typed and checks it before asking again', async () => {
    const dave = makeHome(pair.tmp.root, 'dave', { FASTCHAT_PASSWORD: '' });
    await dave.ok(['keygen']);
    tmux.startFastchat('register', dave, ['register', 'dave', '--relay', pair.relay.url]);
    await tmux.waitFor('register', /relay password \(8 to 1024 characters\): $/m);
    tmux.type('register', 'short');
    const screen = await tmux.waitFor('register', /too short: at least 8 characters; try again\nrelay password \(8 to 1024 characters\): $/m);
    assert.doesNotMatch(screen, /again\): /, 'not asked to confirm a password that cannot be used');
    tmux.type('register', 'long enough now');
    await tmux.waitFor('register', /relay password \(again\): $/m);
    tmux.type('register', 'long enough now');
    const done = await tmux.waitFor('register', /CHAT-EXIT=\d+/);
    assert.match(done, /^registered @dave /m);
    assert.match(done, /CHAT-EXIT=0/);
    const erin = makeHome(pair.tmp.root, 'erin', { FASTCHAT_PASSWORD: 'short' });
    await erin.ok(['keygen']);
    const env = await erin.run(['register', 'erin', '--relay', pair.relay.url]);
    assert.equal(env.code, 2);
    assert.match(env.stderr, /the relay password in FASTCHAT_PASSWORD is too short: at least 8 characters/);
  });
});
