// A group message the relay acknowledged to its sender but never stored (docs/THREAT_MODEL.md
// "Group metadata", PROTOCOL.md G.9 rule 10): the member it was for is told it never arrived once a
// later message of the same sender chain did and the grace passed, once, as for pairwise messages
// (test/hostile-relay.test.ts). Its own file: the pairwise file already runs close to the per-file
// time limit on a loaded machine.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jsonLines, type TestHome } from './util/fastchat-cli.js';
import { isGroupBody } from './util/group-e2e.js';
import { startHostileWorld, type HostileRelay } from './util/hostile-relay.js';

async function inbox(h: TestHome, env: Record<string, string> = {}): Promise<{ messages: any[]; stderr: string }> {
  const r = await h.ok(['inbox', '--json'], { env });
  return { messages: jsonLines(r.stdout), stderr: r.stderr };
}

const texts = (ms: any[]): string[] => ms.filter((m) => m.text !== null && m.text !== undefined).map((m) => `${m.from}:${m.text}`);

describe('a hostile relay against the sender chains of a group', () => {
  let hostile: HostileRelay;
  let home: (name: string) => Promise<TestHome>;
  let stop: () => Promise<void>;

  before(async () => {
    ({ hostile, home, stop } = await startHostileWorld('fastchat-hostile-group-gaps-'));
  });
  after(async () => {
    await stop?.();
  });

  it('drops a group message it acked: once a later one from the same sender arrives and the bound passes, the member is told one is missing', async () => {
    const [alice, bob] = await Promise.all([home('alice'), home('bob')]);
    await alice.ok(['group', 'create', '#gaps', '@bob']);
    await alice.ok(['send', '#gaps', 'first']);
    assert.deepEqual(texts((await inbox(bob)).messages), ['alice:first']);
    let lied = 0;
    const off = hostile.onSend((f, from) => (from?.user === alice.name && isGroupBody(f) && lied++ === 0 ? 'lie' : undefined));
    assert.equal(JSON.parse((await alice.ok(['send', '#gaps', 'lost on the way', '--json'])).stdout).status, 'sent');
    off();
    assert.equal(lied, 1, 'the relay acked one group message without storing it');
    await alice.ok(['send', '#gaps', 'arrives']);
    // Within the bound a gap may still be a reordering: nothing is said yet.
    const early = await inbox(bob);
    assert.deepEqual(texts(early.messages), ['alice:arrives']);
    assert.doesNotMatch(early.stderr, /never arrived/);
    const late = await inbox(bob, { FASTCHAT_GAP_GRACE_SECONDS: '0' });
    assert.deepEqual(late.messages.map((m) => [m.from, m.text, m.gap?.missing]), [['alice', null, 1]]);
    assert.match(late.stderr, /1 message from @alice never arrived/);
    // Said once.
    assert.deepEqual((await inbox(bob, { FASTCHAT_GAP_GRACE_SECONDS: '0' })).messages, []);
  });
});
