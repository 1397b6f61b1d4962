// Typing indicators without a relay (typing.ts): two in-process clients hand envelopes to each
// other as the relay would, dropping some on the way as an ephemeral send may be dropped.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toBase64url } from '../../crypto/encoding.js';
import { generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { publicOneTimePreKey, publicSignedPreKey } from '../../crypto/prekeys.js';
import { encodeSession } from '../../crypto/session.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { openTestStore } from '../../test/util/client-store.js';
import { assembleClient } from './assemble.js';
import type { Client } from './context.js';
import { takeGaps } from './gaps.js';
import { homePaths } from './home.js';
import { processIncoming } from './incoming.js';
import { checkBundles, encryptQueued, queueText } from './outbox.js';
import { allOneTimePreKeys, currentSignedPreKey } from './prekey-store.js';
import { createInitialPreKeys } from './prekeys.js';
import { block } from './requests.js';
import type { RelaySocket } from './relay-ws.js';
import { loadSession } from './sessions.js';
import { openTyping, sealTyping, sendTyping, setTyping, TYPING_IDLE_MS, TYPING_REPEAT_MS, TYPING_SHOW_MS, TypingSender, TypingShown, type Timers, type TypingState } from './typing.js';

let root: string;
let seq = 0;

function makeClient(user: string): Client {
  const random = systemRandom();
  const dir = join(root, `${user}-${seq++}`);
  mkdirSync(dir, { recursive: true });
  const home = homePaths(dir);
  const c = assembleClient({ home, config: { username: user, deviceId: 1 }, secrets: { identity: generateIdentity(random), storageKey: random(32) }, db: openTestStore(home.store), random, keystoreWasCurrent: false });
  createInitialPreKeys(c);
  return c;
}

/** What `a` queued for `b`, encrypted (with b's bundle when a has no session) and taken as the frames the relay would push. */
async function framesTo(a: Client, b: Client) {
  const peer = b.config.username!;
  const bundle = {
    address: { user: peer, device: 1 },
    identity: publicIdentity(b.secrets.identity),
    signedPreKey: publicSignedPreKey(currentSignedPreKey(b.db, b.sealer)!),
    oneTimePreKey: publicOneTimePreKey(allOneTimePreKeys(b.db, b.sealer)[0]!),
  };
  checkBundles(a, peer, [bundle]);
  await encryptQueued(a, undefined, new Map([[peer, [bundle]]]));
  // Receipts too: one left out would be a gap at the receiver, as a dropped message is.
  const rows = a.db.prepare('SELECT seq, client_id, envelope FROM outbox WHERE envelope IS NOT NULL ORDER BY seq').all() as { seq: number; client_id: string; envelope: Buffer }[];
  a.db.prepare('DELETE FROM outbox').run();
  return rows.map((r) => ({ type: 'message' as const, id: String(r.seq), clientId: r.client_id, from: { user: a.config.username!, device: 1 }, body: toBase64url(new Uint8Array(r.envelope)), sentAt: new Date().toISOString() }));
}

/** `a` says `text` to `b` (with the receipts it owes b); returns the texts b's receive took in. */
async function say(a: Client, b: Client, text: string) {
  queueText(a, b.config.username!, text);
  return (await framesTo(a, b)).map((f) => processIncoming(b, f)).filter((r) => r.kind !== 'receipt');
}

/** alice and bob after one message each way: contacts, and sessions past their first messages. */
async function pair(): Promise<{ alice: Client; bob: Client }> {
  const alice = makeClient('alice');
  const bob = makeClient('bob');
  await say(alice, bob, 'hi bob');
  await say(bob, alice, 'hi alice'); // writing back accepts alice's request
  return { alice, bob };
}

/** The typing envelopes `from` seals for `to`, as the ephemeral frames the relay pushes. */
function typingFrames(from: Client, to: string, state: TypingState) {
  return sealTyping(from, to, state).map((e) => ({ type: 'ephemeral' as const, clientId: e.clientId, from: { user: from.config.username!, device: 1 }, body: e.body, sentAt: new Date().toISOString() }));
}

const sessionBytes = (c: Client, peer: string) => Buffer.from(encodeSession(loadSession(c.db, c.sealer, peer, 1)!)).toString('hex');

describe('typing indicators', () => {
  before(async () => {
    await sodiumReady();
    root = mkdtempSync(join(tmpdir(), 'fastchat-typing-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('shows a contact typing, and neither side keeps any session state for it', async () => {
    const { alice, bob } = await pair();
    const [aliceBefore, bobBefore] = [sessionBytes(alice, 'bob'), sessionBytes(bob, 'alice')];
    const frames = typingFrames(alice, 'bob', 'started');
    assert.equal(frames.length, 1);
    assert.deepEqual(openTyping(bob, frames[0]!), { from: 'alice', state: 'started' });
    assert.deepEqual(openTyping(bob, typingFrames(alice, 'bob', 'stopped')[0]!), { from: 'alice', state: 'stopped' });
    assert.equal(sessionBytes(alice, 'bob'), aliceBefore);
    assert.equal(sessionBytes(bob, 'alice'), bobBefore);
  });

  it('leaves no gap and no skipped key when the relay drops indicators: the next message opens, nothing is missing', async () => {
    const { alice, bob } = await pair();
    // A typist over two minutes whose indicators all went to a bob who was not connected.
    for (let i = 0; i < 30; i++) typingFrames(alice, 'bob', i % 2 ? 'stopped' : 'started');
    const r = await say(alice, bob, 'after typing');
    assert.deepEqual(
      r.map((x) => x.kind === 'text' && x.text),
      ['after typing'],
    );
    assert.equal(loadSession(bob.db, bob.sealer, 'alice', 1)!.ratchet.MKSKIPPED.length, 0);
    assert.deepEqual(takeGaps(bob, Date.now() + 1, 0), [], 'a dropped indicator reported as a missing message');
  });

  it('takes an indicator the relay turned into a stored message as nothing: not kept, and the next message still opens', async () => {
    const { alice, bob } = await pair();
    const e = sealTyping(alice, 'bob', 'started')[0]!;
    const stored = processIncoming(bob, { type: 'message', id: '1', clientId: e.clientId, from: { user: 'alice', device: 1 }, body: e.body, sentAt: new Date().toISOString() });
    assert.deepEqual(stored, { kind: 'dropped', from: 'alice', reason: 'typing' });
    const r = await say(alice, bob, 'same position, still read');
    assert.deepEqual(
      r.map((x) => x.kind === 'text' && x.text),
      ['same position, still read'],
    );
    assert.equal((bob.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE peer = 'alice' AND direction = 'in'").get() as { n: number }).n, 2, 'hi bob and the message after the indicator, nothing else');
  });

  it('a relay sees a typing indicator as a short message: the same size for started and stopped as for a short text', async () => {
    const { alice, bob } = await pair();
    const sizes = new Set<number>();
    for (let i = 0; i < 20; i++) for (const state of ['started', 'stopped'] as const) sizes.add(typingFrames(alice, 'bob', state)[0]!.body.length);
    queueText(alice, 'bob', 'ok');
    const text = (await framesTo(alice, bob)).at(-1);
    assert.deepEqual([...sizes], [text!.body.length]);
  });

  it('ignores an indicator that is not one: a real message in an ephemeral frame, or one that does not open', async () => {
    const { alice, bob } = await pair();
    queueText(alice, 'bob', 'a text is never ephemeral');
    const text = (await framesTo(alice, bob)).at(-1);
    assert.equal(openTyping(bob, { ...text!, type: 'ephemeral' }), undefined);
    const t = typingFrames(alice, 'bob', 'started')[0]!;
    const flipped = t.body.slice(0, -2) + (t.body.endsWith('A') ? 'BA' : 'AA');
    assert.equal(openTyping(bob, { ...t, body: flipped }), undefined);
    assert.equal(openTyping(bob, { ...t, from: { user: 'carol', device: 1 } }), undefined);
  });

  it('stops sending on a connection whose relay refused an ephemeral send as a bad frame (a relay that predates them)', async () => {
    const { alice } = await pair();
    const tried: string[] = [];
    const socket = (refuse: string | undefined) =>
      ({
        open: true,
        submitEphemeral: async (id: string) => {
          tried.push(id);
          if (refuse) throw Object.assign(new Error(refuse), { code: refuse });
        },
      }) as unknown as RelaySocket;
    const old = socket('bad_request');
    await sendTyping(alice, old, 'bob', 'started');
    await sendTyping(alice, old, 'bob', 'stopped');
    assert.equal(tried.length, 1, 'a second bad frame on a relay that closes the socket after five');
    // A refusal that is no bad frame (rate limited) loses only that indicator.
    const busy = socket('rate_limited');
    await sendTyping(alice, busy, 'bob', 'started');
    await sendTyping(alice, busy, 'bob', 'stopped');
    assert.equal(tried.length, 3);
  });

  it('sends none with the setting off, and none to or from a blocked user or an unaccepted request', async () => {
    const { alice, bob } = await pair();
    setTyping(alice, false);
    assert.deepEqual(sealTyping(alice, 'bob', 'started'), []);
    setTyping(alice, true);
    const frame = typingFrames(alice, 'bob', 'started')[0]!;
    block(bob, 'alice');
    assert.deepEqual(sealTyping(bob, 'alice', 'started'), []);
    assert.equal(openTyping(bob, frame), undefined);

    // carol wrote to dave once; dave has not accepted: a request both ways has no typing.
    const carol = makeClient('carol');
    const dave = makeClient('dave');
    await say(carol, dave, 'hello?');
    assert.deepEqual(sealTyping(dave, 'carol', 'started'), []);
    // carol's session still sends first messages: none from her either.
    assert.deepEqual(sealTyping(carol, 'dave', 'started'), []);
  });
});

/** A clock and timers the test moves by hand. */
function fakeTimers(): Timers & { advance(ms: number): void } {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  return {
    now: () => now,
    set(fn, ms) {
      const id = ++ids;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clear(id) {
      timers = timers.filter((t) => t.id !== id);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        timers = timers.filter((t) => t !== next);
        now = next.at;
        next.fn();
      }
      now = end;
    },
  };
}

describe('when typing indicators go', () => {
  it('sends "started" at most once per TYPING_REPEAT_MS while keys come, never one per key, and "stopped" once idle', () => {
    const clock = fakeTimers();
    const sent: string[] = [];
    const s = new TypingSender((peer, state) => sent.push(`${clock.now()} ${peer} ${state}`), clock);
    // A key every 150 ms for a minute: 400 keys.
    let text = '';
    for (let t = 0; t < 60_000; t += 150) {
      text += 'x';
      s.input('bob', text);
      clock.advance(150);
    }
    assert.equal(sent.filter((x) => x.endsWith('started')).length, 60_000 / TYPING_REPEAT_MS);
    assert.equal(sent.filter((x) => x.endsWith('stopped')).length, 0);
    clock.advance(TYPING_IDLE_MS);
    assert.equal(sent.at(-1), `${60_000 - 150 + TYPING_IDLE_MS} bob stopped`);
    assert.equal(sent.length, 60_000 / TYPING_REPEAT_MS + 1);
  });

  it('says "stopped" at once when the message is sent, the input emptied or made a command, or the conversation changes', () => {
    const clock = fakeTimers();
    const sent: string[] = [];
    const s = new TypingSender((peer, state) => sent.push(`${peer} ${state}`), clock);
    s.input('bob', 'h');
    s.stop(); // sent
    s.input('bob', 'x');
    s.input('bob', '');
    s.input('bob', 'y');
    s.input('bob', '/quit');
    s.input('bob', 'z');
    s.input('carol', 'z');
    s.input(null, 'to a group');
    s.stop(); // nothing stands: nothing more
    assert.deepEqual(sent, ['bob started', 'bob stopped', 'bob started', 'bob stopped', 'bob started', 'bob stopped', 'bob started', 'bob stopped', 'carol started', 'carol stopped']);
  });

  it('shows a typist until "stopped", their message, or TYPING_SHOW_MS after the last "started"', () => {
    const shown = new TypingShown();
    shown.heard('bob', 'started', 0);
    assert.ok(shown.isTyping('bob', TYPING_SHOW_MS - 1));
    assert.ok(!shown.isTyping('bob', TYPING_SHOW_MS));
    shown.heard('bob', 'started', 0);
    shown.heard('bob', 'stopped', 1);
    assert.ok(!shown.isTyping('bob', 2));
    shown.heard('bob', 'started', 0);
    shown.ended('bob');
    assert.ok(!shown.isTyping('bob', 1));
    assert.ok(!shown.isTyping('carol', 0));
  });
});
