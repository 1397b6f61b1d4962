// alice and bob, two real `fastchat` homes on one real relay process, with a tmux server for their
// terminals: the fixture of the tests that drive `fastchat chat`, `inbox` and prompts in panes
// (e2e-chat, e2e-cli-small, e2e-typing, e2e-read-receipts, e2e-chat-two-windows,
// e2e-files-terminal). Call it in a describe: it registers the before and after hooks there.
//
//   const pair = chatPair('fastchat-typing');
//   const { tmux } = pair;
//   it('…', async () => { tmux.startFastchat('bob', pair.bob, ['chat', '@alice']); … });
import { after, before } from 'node:test';
import type { RelayProcess } from './relay-process.js';
import { converse, makeTempRoot, startUsers, type TestHome } from './fastchat-cli.js';
import { Tmux } from './tmux.js';

export interface ChatPair {
  /** The tmux server named after the fixture, ready at once. */
  readonly tmux: Tmux;
  /** The rest are set by the describe's before hook: read them in its tests, not when it is declared. */
  relay: RelayProcess;
  tmp: ReturnType<typeof makeTempRoot>;
  alice: TestHome;
  bob: TestHome;
}

/**
 * Before the describe's tests: a relay, alice and bob registered on it (their homes and the
 * relay's database under one temporary root named `name-…`) and, unless `converse` is false, one
 * message each way read by the other's inbox, so each holds a session with the other. After them:
 * the tmux server killed, the relay stopped, the root removed.
 */
export function chatPair(name: string, opts: { converse?: boolean } = {}): ChatPair {
  const pair = { tmux: new Tmux(name) } as ChatPair;
  before(async () => {
    const { relay, tmp, homes } = await startUsers(['alice', 'bob'], { prefix: `${name}-` });
    Object.assign(pair, { relay, tmp, alice: homes.alice, bob: homes.bob });
    if (opts.converse !== false) await converse(pair.alice, pair.bob);
  });
  after(async () => {
    pair.tmux.killServer();
    await pair.relay?.stop();
    pair.tmp?.cleanup();
  });
  return pair;
}
