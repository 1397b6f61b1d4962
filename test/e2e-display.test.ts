// What a hostile (or merely misconfigured) peer can make the receiver see, through the real binary
// and, for chat, a real terminal (tmux):
//  - a message cannot draw a line that looks like someone else's: line breaks become indented
//    continuation lines, bidi and other control characters are shown escaped (issue 12.6);
//  - a message that came under a changed identity key carries its mark in inbox, history, --json
//    and chat's backlog, before and after the key is accepted (issue 12.5);
//  - messages show in the order they arrived, with the time they arrived; a sender's clock far
//    from the relay's is shown as the sender's, never used for order (issue 13.7).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jsonLines, makeTempRoot, startUsers, type TestHome } from './util/fastchat-cli.js';
import { withCore } from './util/client-core.js';
import type { RelayProcess } from './util/relay-process.js';
import { Tmux } from './util/tmux.js';

/** Characters that must never reach a terminal raw (client/format.ts). */
const RAW_UNSAFE = /(?![\u200c\u200d])[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
/** A line that names a sender: a timestamp, then who. */
const SENDER_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d {2}(\S+)/;
/** Four lines pretending to be others' (\n, \r, U+2028), a tab and bidi controls. */
const HOSTILE =
  'see you at noon\n2025-01-31 12:04  @mia: wire 500 to the usual account\ttoday\r2025-01-31 12:05  @mia: \u202eyas I tahw od\u202c \u2066ok\u2069\u2028* @mia left the chat';
const HOSTILE_LINES = 4;

const tmux = new Tmux('fastchat-display');

function endSession(name: string): void {
  try {
    tmux.run('kill-session', '-t', name);
  } catch {
    // already gone
  }
}

/** The lines of `stdout` that name a sender, and who each names. */
function senders(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => SENDER_LINE.exec(l)?.[1])
    .filter((w): w is string => w !== undefined);
}

function assertOneBlock(stdout: string, from: string): void {
  assert.doesNotMatch(stdout.replace(/\n/g, ''), RAW_UNSAFE, 'no raw control, bidi or format character');
  assert.deepEqual([...new Set(senders(stdout))], [`@${from}:`], `only @${from} speaks:\n${stdout}`);
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  const start = lines.findIndex((l) => l.includes('see you at noon'));
  assert.ok(start >= 0);
  const block = lines.slice(start, start + HOSTILE_LINES);
  assert.equal(block.length, HOSTILE_LINES);
  for (const l of block.slice(1)) assert.match(l, /^ {2,}\S/, `a continuation line is indented: ${JSON.stringify(l)}`);
  assert.match(block[1]!, /^ +2025-01-31 12:04  @mia: wire 500 to the usual account\\x09today$/);
  assert.match(block[2]!, /\\u202e/);
}

describe('what a peer can make the receiver see', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let carol: TestHome;
  let dave: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob, carol, dave } } = await startUsers(['alice', 'bob', 'carol', 'dave']));
  });
  after(async () => {
    tmux.killServer();
    await relay?.stop();
    tmp?.cleanup();
  });

  it("prints a hostile peer's line breaks, tabs and bidi controls as one indented block in inbox and history, and keeps --json exact", async () => {
    await alice.ok(['send', '@bob', HOSTILE]);
    assertOneBlock((await bob.ok(['inbox'])).stdout, 'alice');
    assertOneBlock((await bob.ok(['history', '@alice'])).stdout, 'alice');
    await alice.ok(['send', '@bob', HOSTILE]);
    const raw = (await bob.ok(['inbox', '--json'])).stdout;
    assert.doesNotMatch(raw.replace(/\n$/, ''), RAW_UNSAFE, 'the JSON text escapes them');
    assert.deepEqual(jsonLines(raw).map((m) => m.text), [HOSTILE], 'and parses to the exact text');
    assert.deepEqual(jsonLines((await bob.ok(['history', '@alice', '--json'])).stdout).map((m) => m.text), [HOSTILE, HOSTILE]);
  });

  it("shows a hostile peer's message as one indented block in chat, in the backlog and live", async (t) => {
    tmux.startFastchat('bob-alice', bob, ['chat', '@alice']);
    // A chat left open would knock the next chat of this home off the relay: always end it.
    t.after(() => endSession('bob-alice'));
    await tmux.waitFor('bob-alice', /^@alice> ?$/m);
    await alice.ok(['send', '@bob', `live ${HOSTILE}`]);
    const screen = await tmux.waitFor('bob-alice', /live see you at noon[\s\S]*\* @mia left the chat/);
    const lines = screen.split('\n');
    for (const l of lines) {
      const who = SENDER_LINE.exec(l)?.[1];
      if (who !== undefined) assert.ok(who === '@alice:' || who === 'you:', `a line speaks as ${who}: ${l}`);
    }
    assert.ok(!lines.some((l) => /^\* @mia/.test(l)), 'no line looks like a notice about @mia');
    const continuation = lines.filter((l) => /^ +2025-01-31 12:0[45] {2}@mia:/.test(l));
    assert.ok(continuation.length >= 2, `the fake lines are shown indented:\n${screen}`);
    // Padding meant to make the terminal wrap a fake sender line to the start of a row (the pane is
    // 160 columns; the message starts after `2025-01-31 12:03  @alice: `, 26 columns).
    await alice.ok(['send', '@bob', `padded${' '.repeat(160 - 26 - 6)}2025-01-31 12:06  @mia: wrapped to look like mine`]);
    await tmux.waitFor('bob-alice', /wrapped to look like mine/);
    const rows = tmux.run('capture-pane', '-p', '-t', 'bob-alice').split('\n'); // as displayed, rows not joined
    assert.ok(!rows.some((r) => /^2025-01-31 12:06 {2}@mia/.test(r)), `no row starts as @mia:\n${rows.join('\n')}`);
    tmux.type('bob-alice', '/quit');
    await tmux.waitFor('bob-alice', /CHAT-EXIT=0/);
  });

  it('keeps the key-change mark on a message in inbox, history, --json and chat, before and after the key is accepted', async (t) => {
    await carol.ok(['send', '@bob', 'before the change']);
    await bob.ok(['inbox']);
    await carol.ok(['keygen', '--force', '--yes']); // a new identity: what a forger with carol's account would have
    await carol.ok(['send', '@bob', 'trust me, new phone']);
    const seen = await bob.ok(['inbox']);
    assert.match(seen.stdout, /@carol \[KEY CHANGED\]: trust me, new phone/);
    assert.match(seen.stderr, /identity key of @carol has CHANGED/);

    const check = async (when: string): Promise<void> => {
      const text = (await bob.ok(['history', '@carol'])).stdout;
      assert.match(text, /@carol \[KEY CHANGED\]: trust me, new phone/, `history ${when}`);
      assert.match(text, /@carol: before the change/, `history ${when}: the earlier message carries no mark`);
      const json = jsonLines((await bob.ok(['history', '@carol', '--json'])).stdout);
      assert.equal(json.find((m) => m.text === 'trust me, new phone')?.identityChanged, true, `history --json ${when}`);
      assert.equal(json.find((m) => m.text === 'before the change')?.identityChanged, undefined);
      tmux.startFastchat(`bob-carol-${when}`, bob, ['chat', '@carol']);
      t.after(() => endSession(`bob-carol-${when}`));
      await tmux.waitFor(`bob-carol-${when}`, /@carol \[KEY CHANGED\]: trust me, new phone/);
      // Typed only once chat reads its input (a line typed while it still checks carol's key is lost).
      await tmux.waitFor(`bob-carol-${when}`, /\* @carol is (online|offline)/);
      tmux.type(`bob-carol-${when}`, '/quit');
      await tmux.waitFor(`bob-carol-${when}`, /CHAT-EXIT=0/);
    };
    await check('before');
    const compared = JSON.parse((await bob.ok(['fingerprint', '@carol', '--json'])).stdout).safetyNumber as string;
    await bob.ok(['verify', '@carol', '--accept', compared]);
    await check('after');
  });

  it("lists messages in arrival order with their arrival time, and flags a sender's clock far from the relay's", async () => {
    await bob.ok(['send', '@dave', 'question: lunch?']);
    await dave.ok(['inbox']);
    // dave's clock is three hours behind: his answer claims to be written before the question.
    await withCore(dave, async (c) => {
      const { queueText } = await import('../client/core/outbox.js');
      c.now = () => Date.now() - 3 * 3600_000;
      queueText(c, 'bob', 'answer: yes');
    });
    await dave.ok(['inbox']); // sends it
    const inbox = await bob.ok(['inbox']);
    assert.match(inbox.stdout, /@dave: answer: yes {2}\(sender's clock: \d{4}-\d\d-\d\d \d\d:\d\d\)/);

    const history = (await bob.ok(['history', '@dave'])).stdout.split('\n').filter(Boolean);
    assert.deepEqual(history.map((l) => /(question|answer)/.exec(l)?.[1]), ['question', 'answer'], 'arrival order');
    const times = history.map((l) => l.slice(0, 16));
    assert.ok(times[0]! <= times[1]!, `the answer is not shown before the question:\n${history.join('\n')}`);
    const json = jsonLines((await bob.ok(['history', '@dave', '--json'])).stdout);
    const answer = json.find((m) => m.text === 'answer: yes');
    assert.equal(answer.clockSkew, true);
    assert.ok(Date.parse(answer.storedAt) - Date.parse(answer.sentAt) > 2 * 3600_000, 'sentAt stays the sender\'s claim, storedAt the relay\'s clock');
    assert.equal(json.find((m) => m.text === 'question: lunch?')?.clockSkew, undefined);
  });
});
