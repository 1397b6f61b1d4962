// A whole day in `fastchat chat` (issue 15, "done when"), in tmux with the real binary and a real
// relay: unlock once in the morning, a stranger's request accepted, a spammer blocked, other
// conversations counted in the prompt and listed, a multi-line paste, a refused line recovered, a
// relay restart — and at the end nothing typed or sent is lost on either side.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { converse, jsonLines, makeTempRoot, processEnded, type TestHome, startUsers } from './util/fastchat-cli.js';
import { Tmux } from './util/tmux.js';

const NO_PASSPHRASE = { FASTCHAT_PASSPHRASE: '' };


describe('a day in the terminal', () => {
  const tmux = new Tmux('fastchat-day');
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let dbPath: string;
  let alice: TestHome;
  let bob: TestHome;
  let dave: TestHome;
  let mallory: TestHome;
  let agentPid = 0;

  before(async () => {
    ({ relay, tmp, dbPath, homes: { alice, bob, dave, mallory } } = await startUsers(['alice', 'bob', 'dave', 'mallory'], { prefix: 'fastchat-day-' }));
    await converse(alice, bob); // yesterday's contact
    for (const h of [alice, bob, dave, mallory]) h.env.FASTCHAT_REQUESTS = 'on';
  });
  after(async () => {
    tmux.killServer();
    if (agentPid && !processEnded(agentPid)) process.kill(agentPid, 'SIGTERM');
    await relay?.stop();
    tmp?.cleanup();
  });

  it('goes through a day without losing a line', async () => {
    // Morning: unlock once; the chat then needs no passphrase.
    agentPid = JSON.parse((await alice.ok(['unlock', '--json'])).stdout).pid;
    const aliceNoPass = { ...alice, env: { ...alice.env, ...NO_PASSPHRASE } };
    tmux.startFastchat('day', aliceNoPass, ['chat', '@bob']);
    await tmux.waitFor('day', /^@bob> $/m);

    // A stranger writes: one request line, none of the text; alice reads it, accepts, answers.
    await dave.ok(['send', '@alice', 'hi alice, dave from the conference']);
    await tmux.waitFor('day', /message request from @dave/);
    await tmux.waitFor('day', /\[1 request\] @bob> $/m);
    assert.doesNotMatch(tmux.screen('day'), /from the conference/);
    tmux.type('day', '@dave');
    await tmux.waitFor('day', /@dave: hi alice, dave from the conference/);
    tmux.type('day', '/accept');
    await tmux.waitFor('day', /accepted @dave/);
    tmux.type('day', 'hello dave, good to hear from you');
    await tmux.waitFor('day', /you: hello dave, good to hear from you {2}\((sent|delivered|read)\)/);
    assert.deepEqual(jsonLines((await dave.ok(['inbox', '--json'])).stdout).map((m) => m.text), ['hello dave, good to hear from you']);

    // A spammer: blocked from the chat; the relay stops queueing for alice from them.
    await mallory.ok(['send', '@alice', 'buy cheap followers']);
    await tmux.waitFor('day', /message request from @mallory/);
    tmux.type('day', '/block @mallory');
    await tmux.waitFor('day', /blocked @mallory/);
    const blockedAtRelay = async (): Promise<boolean> => {
      const db = new Database(dbPath, { readonly: true });
      try {
        return db.prepare("SELECT 1 FROM blocks WHERE blocker = 'alice' AND blocked = 'mallory'").get() !== undefined;
      } finally {
        db.close();
      }
    };
    for (let i = 0; i < 100 && !(await blockedAtRelay()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(await blockedAtRelay(), 'the relay was told');
    await mallory.ok(['send', '@alice', 'buy more followers']);

    // bob writes while alice talks to dave: counted in the prompt, listed by /list.
    await bob.ok(['send', '@alice', 'lunch at noon?']);
    await bob.ok(['send', '@alice', 'the usual place']);
    await tmux.waitFor('day', /\[@bob 2\] @dave> $/m);
    tmux.type('day', '/list');
    await tmux.waitFor('day', /^@bob\s+2 unread\s+\d\d:\d\d\s+@bob: the usual place$/m);
    tmux.type('day', '@bob');
    await tmux.waitFor('day', /@bob: the usual place/);
    await tmux.waitFor('day', /^@bob> $/m);

    // A multi-line paste, asked about once, sent as one message.
    tmux.run('set-buffer', '-b', 'p', 'sure, see you there\nI will bring the slides\nand the cake');
    tmux.run('paste-buffer', '-p', '-b', 'p', '-t', 'day');
    await tmux.waitFor('day', /send 3 lines as one message\? \[Y\/s\/n\] $/m);
    tmux.run('send-keys', '-t', 'day', 'Enter');
    await tmux.waitFor('day', /and the cake {2}\((sent|delivered|read)\)/);

    // A line that is no command stays in the input; // sends it.
    tmux.type('day', '/shrug that is life');
    await tmux.waitFor('day', /^@bob> \/shrug that is life$/m);
    tmux.run('send-keys', '-t', 'day', 'C-u');
    tmux.type('day', '//shrug that is life');
    await tmux.waitFor('day', /you: \/shrug that is life {2}\((sent|delivered|read)\)/);

    // The relay restarts: a line typed meanwhile is queued, then sent and delivered.
    const { port, db } = relay;
    await relay.stop();
    await tmux.waitFor('day', /relay is (restarting|unreachable)|connection dropped/);
    tmux.type('day', 'typed while the relay was away');
    await tmux.waitFor('day', /you: typed while the relay was away {2}\(queued\)/);
    relay = await startRelayProcess({ db, port });
    await tmux.waitFor('day', /you: typed while the relay was away {2}\(sent\)/, 30_000);

    const bobGot = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(bobGot, ['sure, see you there\nI will bring the slides\nand the cake', '/shrug that is life', 'typed while the relay was away']);
    await tmux.waitFor('day', /you: typed while the relay was away {2}\(delivered\)/);
    tmux.type('day', '/quit');
    await tmux.waitFor('day', /CHAT-EXIT=0/);

    // Evening: nothing lost, nothing left unread, the spammer never shown; then lock.
    const convs = jsonLines((await alice.ok(['conversations', '--json'], { env: NO_PASSPHRASE })).stdout);
    assert.deepEqual(convs.map((c) => [c.conversation, c.unread]).sort(), [['@bob', 0], ['@dave', 0]]);
    const withBob = jsonLines((await alice.ok(['history', '@bob', '-n', '100', '--json'], { env: NO_PASSPHRASE })).stdout).map((m) => m.text);
    for (const t of ['lunch at noon?', 'the usual place', 'sure, see you there\nI will bring the slides\nand the cake', '/shrug that is life', 'typed while the relay was away']) assert.ok(withBob.includes(t), t);
    const inbox = await alice.ok(['inbox'], { env: NO_PASSPHRASE });
    assert.doesNotMatch(inbox.stdout + inbox.stderr, /followers|mallory/);
    await alice.ok(['lock']);
    const locked = await alice.run(['history', '@bob'], { env: NO_PASSPHRASE });
    assert.equal(locked.code, 1, 'after lock the passphrase is needed again');
  });
});
