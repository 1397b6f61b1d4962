// What a relay learns from read receipts (docs/THREAT_MODEL.md "Malicious or compromised relay",
// docs/PROTOCOL.md §12.2 "Read receipts"): the relay of test/util/hostile-relay.ts records every
// message two real homes hand it, and bob's real `fastchat chat` (in tmux) sends the read receipts.
// From what it recorded it must not tell a read receipt from a delivery receipt or a short text,
// and with read receipts off, opening a conversation must hand it nothing at all.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { converse, jsonLines, statusesTo, type TestHome } from './util/fastchat-cli.js';
import { startHostileWorld, type HostileRelay, type Seen } from './util/hostile-relay.js';
import { Tmux } from './util/tmux.js';
import { until } from './util/until.js';

describe('what a hostile relay sees of read receipts', () => {
  const tmux = new Tmux('fastchat-rr-relay');
  let hostile: HostileRelay;
  let home: (name: string) => Promise<TestHome>;
  let stop: () => Promise<void>;

  before(async () => {
    ({ hostile, home, stop } = await startHostileWorld('fastchat-rr-relay-'));
  });
  after(async () => {
    tmux.killServer();
    await stop?.();
  });

  /**
   * Every message `from` handed the relay to store (WebSocket `send` frames and POSTs), oldest
   * first. Typing indicators (ephemeral sends, which bob's chat makes as the test types "yes") are
   * not among them: the relay tells those by their flag, as THREAT_MODEL's relay-typing-metadata
   * says; a receipt is never sent that way.
   */
  const sends = (from: string): Seen[] => hostile.log.filter((s) => s.dir === 'up' && s.frame.type === 'send' && s.frame.ephemeral !== true && s.conn?.user === from);

  /** All the relay can compare of one message besides its timing: fields, recipients, client id's form, body length. */
  const looks = (s: Seen) => ({
    fields: Object.keys(s.frame).sort().join(','),
    to: JSON.stringify(s.frame.to),
    randomId: /^[A-Za-z0-9_-]{22}$/.test(s.frame.id),
    length: String(s.frame.body).length,
  });

  async function quit(pane: string): Promise<void> {
    tmux.type(pane, '/quit');
    await tmux.waitFor(pane, /CHAT-EXIT=0/, 30_000);
  }

  it('cannot tell a read receipt from a delivery receipt or a short text: one frame, one length, also where 12 bytes would cross a bucket', async () => {
    const [alice, bob] = await Promise.all([home('alice'), home('bob')]);
    await converse(alice, bob);

    // bob's chat has alice open: her message arrives and is drawn at once, so the chat sends its
    // delivery receipt and its read receipt over one socket; then bob answers with a short text.
    tmux.startFastchat('bob', bob, ['chat', '@alice']);
    await tmux.waitFor('bob', /^@alice> $/m, 30_000);
    // The read receipt of what the chat drew on opening ('hello bob') is out before we count.
    await until(async () => (await statusesTo(alice, bob.name))['hello bob'] === 'read', "the read receipt of the chat's first screen");
    const mark = sends('bob').length;
    await alice.ok(['send', '@bob', 'are you there?']);
    await tmux.waitFor('bob', /@alice: are you there\?/, 30_000);
    await until(async () => (await statusesTo(alice, bob.name))['are you there?'] === 'read', 'the read receipt of the message drawn live');
    const receipts = sends('bob').slice(mark);
    assert.equal(receipts.length, 2, 'one delivery receipt and one read receipt');
    tmux.type('bob', 'yes');
    await until(async () => {
      await alice.ok(['inbox']);
      return jsonLines((await alice.ok(['history', '@bob', '--json'])).stdout).some((m) => m.from === 'bob' && m.text === 'yes');
    }, "bob's short answer");
    const text = sends('bob').slice(mark + 2);
    assert.ok(text.length >= 1, 'the answer went through the relay');
    const seen = [...receipts, ...text];
    assert.deepEqual(new Set(seen.map((s) => s.via)), new Set(['ws']), "all over the chat's one socket");
    for (const s of seen) assert.deepEqual(looks(s), looks(receipts[0]!), 'a delivery receipt, a read receipt and a short text differ to the relay');
    await quit('bob');

    // Three messages: 12 bytes of `"read":true` would take the read receipt naming them into the
    // next padding bucket (PROTOCOL §12.2 "One length for both kinds"). `inbox` sends the delivery
    // receipt naming the three, then bob's chat the read receipt naming the same three.
    const three = ['one', 'two', 'three'];
    for (const t of three) await alice.ok(['send', '@bob', t]);
    const before = sends('bob').length;
    await bob.ok(['inbox']);
    const delivery = sends('bob').slice(before);
    assert.equal(delivery.length, 1, 'one delivery receipt for the three');
    tmux.startFastchat('bob2', bob, ['chat', '@alice']);
    await tmux.waitFor('bob2', /@alice: three/, 30_000);
    await until(async () => {
      const st = await statusesTo(alice, bob.name);
      return three.every((t) => st[t] === 'read');
    }, 'the read receipt naming the three');
    await quit('bob2');
    const read = sends('bob').slice(before + 1);
    assert.equal(read.length, 1, 'one read receipt for the three');
    assert.deepEqual(looks(read[0]!), looks(delivery[0]!), 'the read receipt naming three messages differs from the delivery receipt naming them');
  });

  it('with read receipts off, opening a conversation sends the relay nothing', async () => {
    const [alice, bob] = await Promise.all([home('alice2'), home('bob2')]);
    await converse(alice, bob);

    // On (the control): the whole life of a chat that draws a message owing a read receipt is one
    // message to the relay, that receipt.
    await alice.ok(['send', '@bob2', 'with them on']);
    await bob.ok(['inbox']);
    let mark = sends('bob2').length;
    tmux.startFastchat('on', bob, ['chat', '@alice2']);
    await tmux.waitFor('on', /@alice2: with them on/, 30_000);
    await until(async () => (await statusesTo(alice, bob.name))['with them on'] === 'read', 'the read receipt with them on');
    tmux.type('on', '/read-receipts off');
    await tmux.waitFor('on', /read receipts are off/, 30_000);
    await quit('on');
    assert.equal(sends('bob2').length - mark, 1, 'with read receipts on, the chat sent one message: its read receipt');

    // Off: the same steps send nothing, not even something else in its place.
    await alice.ok(['send', '@bob2', 'with them off']);
    await bob.ok(['inbox']);
    mark = sends('bob2').length;
    tmux.startFastchat('off', bob, ['chat', '@alice2']);
    await tmux.waitFor('off', /@alice2: with them off/, 30_000);
    await new Promise((r) => setTimeout(r, 2_000)); // time for a message that must not go
    await quit('off');
    assert.deepEqual(sends('bob2').slice(mark).map(looks), [], 'opening the conversation with read receipts off sent the relay something');
    assert.equal((await statusesTo(alice, bob.name))['with them off'], 'delivered');
  });
});
