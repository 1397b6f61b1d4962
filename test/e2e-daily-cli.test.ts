// The everyday commands of issue 15, through the real binary: the conversation list with unread
// counts, `send @user -` from stdin, `fastchat passphrase`, `keygen --force` saying what it deletes
// and asking for the username, and colours only where they belong (a terminal, no NO_COLOR).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FASTCHAT_BIN } from './util/paths.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { converse, jsonLines, makeTempRoot, processEnded, TEST_CLIENT_ENV, type TestHome, startUsers } from './util/fastchat-cli.js';
import { Tmux } from './util/tmux.js';

function runWithStdin(home: TestHome, args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FASTCHAT_BIN, ...args], { env: { ...process.env, ...TEST_CLIENT_ENV, ...home.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const ESC = '\u001b[';


describe('everyday commands', () => {
  const tmux = new Tmux('fastchat-daily-cli');
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let carol: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob, carol } } = await startUsers(['alice', 'bob', 'carol'], { prefix: 'fastchat-daily-' }));
    await converse(alice, bob);
    await converse(alice, carol);
  });
  after(async () => {
    tmux.killServer();
    await relay?.stop();
    tmp?.cleanup();
  });

  it('send @user - reads the whole message from stdin: several lines make one message', async () => {
    const r = await runWithStdin(bob, ['send', '@alice', '-'], 'first line\nsecond line\n');
    assert.equal(r.code, 0, r.stderr);
    const got = jsonLines((await alice.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(got.map((m) => m.text), ['first line\nsecond line']);
  });

  it('lists conversations with their unread counts, last message and time, most recent first, in text and --json', async () => {
    await bob.ok(['send', '@alice', 'bob one']);
    await bob.ok(['send', '@alice', 'bob two']);
    await carol.ok(['send', '@alice', 'carol one']);
    await alice.ok(['inbox', '--wait', '0']);
    // inbox showed them: nothing unread. Two more arrive and are only stored (history, not inbox).
    await bob.ok(['send', '@alice', 'bob three']);
    await bob.ok(['send', '@alice', 'bob four']);
    tmux.startFastchat('recv', alice, ['chat', '@carol']); // receives and stores bob's, leaves them unread
    await tmux.waitFor('recv', /\[@bob 2\] @carol> /);
    tmux.type('recv', '/quit');
    await tmux.waitFor('recv', /CHAT-EXIT=0/);
    const list = jsonLines((await alice.ok(['chats', '--json'])).stdout);
    assert.deepEqual(list.map((c) => [c.conversation, c.unread]), [['@bob', 2], ['@carol', 0]]);
    assert.equal(list[0].last.text, 'bob four');
    assert.equal(list[0].last.from, 'bob');
    const text = (await alice.ok(['conversations'])).stdout;
    assert.match(text, /^@bob\s+2 unread\s+\d\d:\d\d\s+@bob: bob four$/m);
    assert.match(text, /^@carol\s+\d\d:\d\d\s+@carol: carol one$/m);
    assert.ok(!text.includes(ESC), 'no colour into a pipe');
  });

  it('colours only a terminal, and never with NO_COLOR', async () => {
    tmux.startFastchat('colour', alice, ['conversations']);
    await tmux.waitFor('colour', /CHAT-EXIT=0/);
    assert.ok(tmux.run('capture-pane', '-p', '-e', '-t', 'colour').includes(ESC), 'colours on a terminal');
    tmux.startFastchat('nocolour', { ...alice, env: { ...alice.env, NO_COLOR: '1' } }, ['conversations']);
    await tmux.waitFor('nocolour', /CHAT-EXIT=0/);
    const plain = tmux.run('capture-pane', '-p', '-e', '-t', 'nocolour');
    assert.match(plain, /@bob/);
    assert.ok(!plain.includes(`${ESC}3`), `NO_COLOR is respected:\n${JSON.stringify(plain)}`);
  });

  it('passphrase changes the keystore\'s passphrase: the old one stops working, keys and history stay, the unlock agent is locked', async () => {
    const before = jsonLines((await alice.ok(['history', '@bob', '--json'])).stdout).length;
    const agent = JSON.parse((await alice.ok(['unlock', '--json'])).stdout) as { pid: number };
    const noPassphrase = { FASTCHAT_PASSPHRASE: '' };
    // With the agent running, the current passphrase is still asked for: the agent's copy is not enough.
    const viaAgent = await alice.run(['passphrase'], { env: { ...noPassphrase, FASTCHAT_NEW_PASSPHRASE: 'taken over' } });
    assert.equal(viaAgent.code, 1);
    assert.match(viaAgent.stderr, /no passphrase/);
    const wrong = await alice.run(['passphrase'], { env: { FASTCHAT_PASSPHRASE: 'not the passphrase', FASTCHAT_NEW_PASSPHRASE: 'new-one' } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong passphrase/);
    const changed = JSON.parse((await alice.ok(['passphrase', '--json'], { env: { FASTCHAT_NEW_PASSPHRASE: 'a brand new passphrase' } })).stdout);
    assert.equal(changed.agentLocked, true);
    const afterLock = await alice.run(['history', '@bob'], { env: noPassphrase });
    assert.equal(afterLock.code, 1, 'the agent no longer hands out the keys');
    // The agent process ends (bounded wait).
    for (let i = 0; i < 100 && !processEnded(agent.pid); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(processEnded(agent.pid), 'the agent ended');
    const old = await alice.run(['history', '@bob']);
    assert.equal(old.code, 1, 'the old passphrase no longer opens the keystore');
    alice.env.FASTCHAT_PASSPHRASE = 'a brand new passphrase';
    assert.equal(jsonLines((await alice.ok(['history', '@bob', '--json'])).stdout).length, before);
    await alice.ok(['send', '@bob', 'still me']);
    assert.deepEqual(jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['still me']);
    assert.equal(readFileSync(join(alice.dir, 'keystore.json'), 'utf8').includes('a brand new passphrase'), false);
  });

  it('inbox says when it sent what was queued, not only that nothing new arrived', async () => {
    const { port, db } = relay;
    await relay.stop();
    const queued = JSON.parse((await bob.ok(['send', '@alice', 'written while the relay was down', '--json'])).stdout);
    assert.equal(queued.status, 'queued');
    relay = await startRelayProcess({ db, port });
    const r = await bob.ok(['inbox']);
    assert.match(r.stderr, /^sent 1 queued message$/m);
    assert.match(r.stderr, /^no new messages$/m);
  });

  it('keygen --force says what it deletes and asks for the username; without a terminal it needs --yes', async () => {
    const fp = (await carol.ok(['fingerprint', '--json'])).stdout;
    const r = await carol.run(['keygen', '--force']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /deletes:/);
    assert.match(r.stderr, /\d+ contacts? with their verification/);
    assert.match(r.stderr, /\d+ messages? of history/);
    assert.match(r.stderr, /add --yes/);
    assert.equal((await carol.ok(['fingerprint', '--json'])).stdout, fp, 'nothing changed');

    // In a terminal: a wrong name changes nothing, the right one replaces the keys.
    tmux.startFastchat('kg-wrong', carol, ['keygen', '--force']);
    await tmux.waitFor('kg-wrong', /type the username \(carol\) to go on: $/m);
    tmux.type('kg-wrong', 'alice');
    await tmux.waitFor('kg-wrong', /CHAT-EXIT=1/);
    assert.match(tmux.screen('kg-wrong'), /not confirmed; nothing was changed/);
    assert.equal((await carol.ok(['fingerprint', '--json'])).stdout, fp);
    tmux.startFastchat('kg-right', carol, ['keygen', '--force']);
    await tmux.waitFor('kg-right', /type the username \(carol\) to go on: $/m);
    tmux.type('kg-right', 'carol');
    await tmux.waitFor('kg-right', /CHAT-EXIT=0/);
    assert.notEqual((await carol.ok(['fingerprint', '--json'])).stdout, fp, 'replaced');
  });
});
