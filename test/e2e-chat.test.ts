// `fastchat chat` through a real terminal: two tmux panes on a private tmux server, one per home.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FASTCHAT_BIN } from './util/paths.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { makeHome, makeTempRoot, setUpUser, TEST_CLIENT_ENV, type TestHome } from './util/fastchat-cli.js';

const SOCKET = `fastchat-test-${process.pid}-${Date.now()}`;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}

function screen(pane: string): string {
  return tmux('capture-pane', '-p', '-J', '-t', pane);
}

async function waitFor(pane: string, re: RegExp, timeoutMs = 15_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let s = '';
  while (Date.now() < until) {
    s = screen(pane);
    if (re.test(s)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pane ${pane}: ${re} did not appear within ${timeoutMs} ms; screen:\n${s}`);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function startChat(home: TestHome, peer: string): void {
  const env = { ...TEST_CLIENT_ENV, ...home.env };
  const vars = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`);
  const cmd = `env ${vars.join(' ')} ${shellQuote(process.execPath)} ${shellQuote(FASTCHAT_BIN)} chat @${peer}; echo "CHAT-EXIT=$?"; sleep 60`;
  tmux('new-session', '-d', '-s', home.name, '-x', '160', '-y', '40', cmd);
}

describe('fastchat chat in a terminal', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;

  before(async () => {
    tmp = makeTempRoot();
    relay = await startRelayProcess({ db: join(tmp.root, 'relay.db') });
    alice = makeHome(tmp.root, 'alice');
    bob = makeHome(tmp.root, 'bob');
    await Promise.all([setUpUser(alice, relay.url), setUpUser(bob, relay.url)]);
    await alice.ok(['send', '@bob', 'sent before the chat opened']);
  });
  after(async () => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    await relay?.stop();
    tmp?.cleanup();
  });

  it('lets two users exchange lines, answers /who, survives a relay restart, and exits 0 on /quit', async () => {
    startChat(alice, 'bob');
    startChat(bob, 'alice');
    await waitFor('alice', /@bob> /);
    await waitFor('bob', /@alice: sent before the chat opened/); // the queued message shows on open
    await waitFor('bob', /@alice is online/);

    tmux('send-keys', '-t', 'alice', '-l', 'hello bob, from the chat');
    tmux('send-keys', '-t', 'alice', 'Enter');
    await waitFor('bob', /@alice: hello bob, from the chat/);

    tmux('send-keys', '-t', 'bob', '-l', 'hi alice, typing back');
    tmux('send-keys', '-t', 'bob', 'Enter');
    await waitFor('alice', /@bob: hi alice, typing back/);

    // A half-typed line survives an incoming message.
    tmux('send-keys', '-t', 'bob', '-l', 'half typed');
    tmux('send-keys', '-t', 'alice', '-l', 'one more');
    tmux('send-keys', '-t', 'alice', 'Enter');
    const bobScreen = await waitFor('bob', /@alice: one more/);
    assert.match(bobScreen, /@alice> half typed\s*$/);

    tmux('send-keys', '-t', 'alice', '-l', '/who');
    tmux('send-keys', '-t', 'alice', 'Enter');
    await waitFor('alice', /online: @alice @bob/);

    // The relay restarts: both chats reconnect by themselves and keep talking.
    const port = relay.port;
    await relay.stop();
    await waitFor('alice', /relay is (restarting|unreachable)/);
    relay = await startRelayProcess({ db: join(tmp.root, 'relay.db'), port });
    await waitFor('alice', /reconnected to the relay/);
    await waitFor('bob', /reconnected to the relay/);
    tmux('send-keys', '-t', 'alice', '-l', 'after the restart');
    tmux('send-keys', '-t', 'alice', 'Enter');
    await waitFor('bob', /@alice: after the restart/);

    tmux('send-keys', '-t', 'alice', '-l', '/quit');
    tmux('send-keys', '-t', 'alice', 'Enter');
    await waitFor('alice', /CHAT-EXIT=0/);
    await waitFor('bob', /@alice is offline/);

    // What was said in the chat is in the history of both homes.
    const hist = (await bob.ok(['history', '@alice', '--json'])).stdout;
    assert.match(hist, /hello bob, from the chat/);
    assert.match(hist, /hi alice, typing back/);
  });
});
