// Receive path without a relay: two in-process clients on temp homes hand envelopes to each other.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { publicOneTimePreKey, publicSignedPreKey, type PreKeyBundle } from '../../crypto/prekeys.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { assembleClient } from './assemble.js';
import { getContact, readContact } from './contacts.js';
import type { Client } from './context.js';
import { openReader, openTestStore as openDb } from '../../test/util/client-store.js';
import { homePaths } from './home.js';
import { INCOMING_PAGE_FRAMES, IncomingPager, processIncoming, type Incoming } from './incoming.js';
import { checkBundles, encryptQueued, flushOutbox, outboxRowKey, queueReceipts, queueText, queueTexts } from './outbox.js';
import type { MessageFrame, RelaySocket } from './relay-ws.js';
import { encodePayload, MAX_RECEIPT_IDS, parsePayload, receiptIds } from './payload.js';
import { loadSession } from './sessions.js';
import { queueReadReceipts, readReceiptsOn, setReadReceipts } from './read-receipts.js';
import { encryptMessage, initiateSession } from '../../crypto/session.js';
import { allOneTimePreKeys, currentSignedPreKey } from './prekey-store.js';
import { createInitialPreKeys } from './prekeys.js';
import { acceptSenderKeyDistribution, createGroup, createSenderKey, encodeSenderKeyDistribution, encryptGroupMessage, groupMessageSignatureInput, parseGroupChange, parseGroupMessage, proposeChange, senderKeyDistribution } from '../../crypto/group/index.js';
import { getMeta, nextArrival } from './db.js';
import { noteListChecked } from './fanout.js';
import { generateAccountKey } from '../../crypto/account.js';
import { firstDeviceList, signDeviceEntry } from '../../crypto/device-list.js';
import { storeApplied } from './group-change.js';
import { queueControl } from './group-keys.js';
import { loadTheirKey, saveTheirKey } from './group-store.js';

let root: string;
let seq = 0;

function makeClient(user: string): Client {
  const random = systemRandom();
  const dir = join(root, `${user}-${seq++}`);
  const home = homePaths(dir);
  mkdirSync(dir, { recursive: true });
  const secrets = { identity: generateIdentity(random), storageKey: random(32) };
  const c: Client = assembleClient({ home, config: { username: user, deviceId: 1 }, secrets, db: openDb(home.store), random, keystoreWasCurrent: false });
  createInitialPreKeys(c);
  return c;
}

function bundleOf(c: Client): PreKeyBundle {
  return {
    address: { user: c.config.username!, device: 1 },
    identity: publicIdentity(c.secrets.identity),
    signedPreKey: publicSignedPreKey(currentSignedPreKey(c.db, c.sealer)!),
    oneTimePreKey: publicOneTimePreKey(allOneTimePreKeys(c.db, c.sealer)[0]!),
  };
}

/** Sends `text` from `a` to `b` the way the CLI does, and returns the frames the relay would push. */
async function send(a: Client, b: Client, text: string) {
  queueText(a, b.config.username!, text);
  // As `send` does: the bundle's identity is recorded (TOFU) before anything is encrypted for it.
  const bundle = bundleOf(b);
  checkBundles(a, b.config.username!, [bundle]);
  await encryptQueued(a, undefined, new Map([[b.config.username!, [bundle]]]));
  return takeEncrypted(a, "kind = 'text'");
}

/** Takes `a`'s encrypted outbox rows (those `where` names) as the frames the relay would push, and empties the encrypted part of its outbox. */
function takeEncrypted(a: Client, where: string, ...params: string[]) {
  const rows = a.db.prepare(`SELECT seq, client_id, envelope FROM outbox WHERE envelope IS NOT NULL AND ${where} ORDER BY seq`).all(...params) as { seq: number; client_id: string; envelope: Buffer }[];
  a.db.prepare('DELETE FROM outbox WHERE envelope IS NOT NULL').run();
  return rows.map((r) => ({
    type: 'message' as const,
    id: String(r.seq),
    clientId: r.client_id,
    from: { user: a.config.username!, device: 1 },
    body: toBase64url(new Uint8Array(r.envelope)),
    sentAt: new Date().toISOString(),
  }));
}

/** The message ids each receipt queued in `c`'s outbox names, in outbox order. */
function queuedReceipts(c: Client): string[][] {
  const rows = c.db.prepare("SELECT message_id, peer, payload FROM outbox WHERE kind = 'receipt' AND envelope IS NULL ORDER BY seq").all() as { message_id: string; peer: string; payload: Buffer }[];
  return rows.map((r) => {
    const p = parsePayload(c.sealer.open('outbox', outboxRowKey(r.peer, r.message_id, 'receipt'), new Uint8Array(r.payload)));
    assert.equal(p.type, 'receipt');
    return p.type === 'receipt' ? receiptIds(p) : [];
  });
}

/** Encrypts what `a` has queued for `b` (over the sessions it has) and returns the frames, as `send` does. */
async function framesOfQueued(a: Client, b: Client) {
  await encryptQueued(a, undefined, new Map());
  return takeEncrypted(a, 'peer = ?', b.config.username!);
}

/** Counts the row updates of `table` in `c`'s store from now on (a temporary trigger). */
function countUpdates(c: Client, table: string, when = '1'): () => number {
  return countRows(c, 'UPDATE', table, when);
}

/** Counts the rows inserted into `table` in `c`'s store from now on (a temporary trigger). */
function countInserts(c: Client, table: string, when = '1'): () => number {
  return countRows(c, 'INSERT', table, when);
}

function countRows(c: Client, event: 'UPDATE' | 'INSERT', table: string, when: string): () => number {
  const counter = `${event.toLowerCase()}s_of_${table}`;
  c.db.exec(`CREATE TEMP TABLE ${counter} (n INTEGER); CREATE TEMP TRIGGER count_${counter} AFTER ${event} ON ${table} WHEN ${when} BEGIN INSERT INTO ${counter} VALUES (1); END`);
  return () => (c.db.prepare(`SELECT count(*) AS n FROM ${counter}`).get() as { n: number }).n;
}

/** Counts the outermost transactions `c` runs from now on (each one commit). */
function countTransactions(c: Client): () => number {
  let n = 0;
  const open = c.db.transaction.bind(c.db);
  c.db.transaction = <T,>(fn: () => T) => {
    const t = open(fn);
    const counting = () => t();
    counting.deferred = () => t.deferred();
    counting.immediate = () => {
      n++;
      return t.immediate();
    };
    return counting;
  };
  return () => n;
}

/** An IncomingPager on `c` keeping the texts it stored and the failures it heard; `page` stores frames as one page. */
function recordingPager(c: Client) {
  const texts: string[] = [];
  const failures: unknown[] = [];
  const pager = new IncomingPager(c, { result: (r) => r.kind === 'text' && texts.push(r.text), fail: (e) => failures.push(e) });
  return {
    texts,
    failures,
    page(frames: MessageFrame[]): void {
      for (const f of frames) pager.push(f, () => undefined);
      pager.flush();
    },
  };
}

/** Stores `frames` as one page and returns the texts it stored, in order (no failure expected). */
function receivePage(c: Client, frames: MessageFrame[]): string[] {
  const r = recordingPager(c);
  r.page(frames);
  assert.deepEqual(r.failures, []);
  return r.texts;
}

/**
 * A group alice made with bob in it, as bob holds it (the create record applied), with alice's
 * sending chain distributed to bob; `frame` is alice's next group text as the relay pushes it.
 */
function groupWith(alice: Client, bob: Client, name = 'team', ids = 'g') {
  const created = createGroup({ user: 'alice', identity: alice.secrets.identity }, name, [{ user: 'bob', signPublic: bob.secrets.identity.signPublic }], alice.random);
  const { record } = created;
  let { state } = created;
  storeApplied(bob, null, [{ record, change: parseGroupChange(record), state }]);
  let ours = createSenderKey(state, 'alice', alice.random);
  const sender = state.members.find((m) => m.user === 'alice')!;
  saveTheirKey(bob, acceptSenderKeyDistribution(state, sender, encodeSenderKeyDistribution(senderKeyDistribution(ours, state))), 1);
  let n = 0;
  return {
    /** alice starts a new chain and queues its distribution to bob (as a pairwise message), as a send after a key is retired does. */
    newChain() {
      ours = createSenderKey(state, 'alice', alice.random);
      queueControl(alice, 'bob', { v: 1, type: 'sender_key', id: `k${n}`, sentAt: new Date().toISOString(), distribution: toBase64url(encodeSenderKeyDistribution(senderKeyDistribution(ours, state))) });
      return ours.signPublic;
    },
    /** alice renames the group and queues the record to bob (as a pairwise message); her chain goes on. */
    rename(name: string) {
      const r = proposeChange(state, { user: 'alice', identity: alice.secrets.identity }, { op: 'rename', name });
      state = r.state;
      queueControl(alice, 'bob', { v: 1, type: 'group_change', id: `c${n++}`, sentAt: new Date().toISOString(), records: [toBase64url(r.record)] });
    },
    frame(text: string) {
      const id = `${ids}${n++}`;
      const r = encryptGroupMessage(ours, state, encodePayload({ v: 1, type: 'text', id, text, sentAt: new Date().toISOString() }), alice.random);
      ours = r.state;
      return { type: 'message' as const, id: `relay-${id}`, clientId: `client-${id}`, from: { user: 'alice', device: 1 }, body: toBase64url(r.message), sentAt: new Date().toISOString() };
    },
    /** The counter of alice's chain as bob's store holds it (the next message it has no key for). */
    storedCounter: () => loadTheirKey(bob, state.groupId, 'alice', 1, 0)!.counter,
    storedSignPublic: () => loadTheirKey(bob, state.groupId, 'alice', 1, 0)!.signPublic,
  };
}

describe('receiving messages', () => {
  const requests = process.env.FASTCHAT_REQUESTS;
  before(async () => {
    await sodiumReady();
    root = mkdtempSync(join(tmpdir(), 'fastchat-incoming-'));
    // These are about sessions and receipts between people who talk; a stranger's first message
    // is a request (requests.ts), tested on its own below.
    process.env.FASTCHAT_REQUESTS = 'off';
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
    if (requests === undefined) delete process.env.FASTCHAT_REQUESTS;
    else process.env.FASTCHAT_REQUESTS = requests;
  });

  it('keeps a stranger\'s first message as a request: stored, flagged, no receipt queued', async () => {
    process.env.FASTCHAT_REQUESTS = 'on';
    try {
      const alice = makeClient('alice');
      const bob = makeClient('bob');
      const [f] = await send(alice, bob, 'hello bob');
      const r = processIncoming(bob, f!);
      assert.equal(r.kind === 'text' && r.request, true, JSON.stringify(r));
      const receipts = bob.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'receipt'").get() as { n: number };
      assert.equal(receipts.n, 0);
      assert.equal((bob.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE peer = 'alice'").get() as { n: number }).n, 1);
    } finally {
      process.env.FASTCHAT_REQUESTS = 'off';
    }
  });

  it('decrypts a first message, trusts the sender on first use and queues a receipt', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [f] = await send(alice, bob, 'hello bob');
    const r = processIncoming(bob, f!);
    assert.equal(r.kind, 'text');
    assert.equal(r.kind === 'text' && r.text, 'hello bob');
    assert.equal(r.kind === 'text' && r.newContact, true);
    assert.equal(getContact(bob, 'alice')?.trust, 'unverified');
    const receipts = bob.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'receipt'").get() as { n: number };
    assert.equal(receipts.n, 1);
  });

  it('reports a redelivered frame as a duplicate and stores the message once', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [f] = await send(alice, bob, 'once');
    processIncoming(bob, f!);
    assert.equal(processIncoming(bob, f!).kind, 'duplicate');
    assert.equal((bob.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE direction = 'in'").get() as { n: number }).n, 1);
  });

  it('reports a tampered message with its sender and a typed reason, and the session still works', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [first] = await send(alice, bob, 'first');
    processIncoming(bob, first!);
    const [second] = await send(alice, bob, 'second');
    const body = Buffer.from(second!.body, 'base64url');
    body[body.length - 1]! ^= 1;
    const bad = processIncoming(bob, { ...second!, clientId: `${second!.clientId}x`, body: toBase64url(body) });
    assert.equal(bad.kind, 'failed');
    assert.equal(bad.kind === 'failed' && bad.from, 'alice');
    assert.equal(bad.kind === 'failed' && bad.reason, 'decrypt_failed');
    const good = processIncoming(bob, second!);
    assert.equal(good.kind === 'text' && good.text, 'second');
  });

  it('says no_session for a normal message from someone it never talked to', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const carol = makeClient('bob');
    const [first] = await send(alice, bob, 'to the first bob');
    processIncoming(bob, first!);
    const [reply] = await send(bob, alice, 'reply');
    processIncoming(alice, reply!);
    const [normal] = await send(alice, bob, 'now a normal message');
    const r = processIncoming(carol, normal!);
    assert.equal(r.kind === 'failed' && r.reason, 'no_session');
  });

  it('keeps talking when both sides start a session at the same time', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [a1] = await send(alice, bob, 'alice starts');
    const [b1] = await send(bob, alice, 'bob starts too');
    assert.equal(processIncoming(bob, a1!).kind, 'text');
    assert.equal(processIncoming(alice, b1!).kind, 'text');
    const [a2] = await send(alice, bob, 'alice again');
    const [b2] = await send(bob, alice, 'bob again');
    const r1 = processIncoming(bob, a2!);
    const r2 = processIncoming(alice, b2!);
    assert.equal(r1.kind === 'text' && r1.text, 'alice again', JSON.stringify(r1));
    assert.equal(r2.kind === 'text' && r2.text, 'bob again');
  });

  it('flags a different identity for a known name as changed', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [f] = await send(alice, bob, 'hi');
    processIncoming(bob, f!);
    const impostor = makeClient('alice');
    const [g] = await send(impostor, bob, 'it is me, alice');
    const r = processIncoming(bob, g!);
    assert.equal(r.kind === 'text' && r.identityChanged, true);
    assert.equal(getContact(bob, 'alice')?.trust, 'changed');
    const receipts = bob.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'receipt'").get() as { n: number };
    assert.equal(receipts.n, 1, 'no receipt goes to the changed identity');
  });
  it('refuses a "sent by me" copy from another user: only devices of our own account send those', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [f] = await send(alice, bob, 'hi');
    processIncoming(bob, f!);
    // bob, through his real session with alice, claims alice sent carol something.
    const id = 'forged-copy-id';
    const sentAt = new Date().toISOString();
    const copy = encodePayload({ v: 1, type: 'sync', id, sentAt, to: 'carol', message: { v: 1, type: 'text', id, text: 'alice never wrote this', sentAt } });
    const out = encryptMessage(loadSession(bob.db, bob.sealer, 'alice', 1)!, copy, systemRandom());
    const r = processIncoming(alice, { type: 'message', id: 'relay-1', clientId: 'copy-1', from: { user: 'bob', device: 1 }, body: toBase64url(out.envelope), sentAt });
    assert.equal(r.kind === 'failed' && r.reason, 'bad_payload', JSON.stringify(r));
    assert.equal((alice.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE peer = 'carol'").get() as { n: number }).n, 0, 'nothing stored as sent to carol');
  });

  it('refuses a replayed first message made without a one-time prekey, leaving the session as it was', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    // No one-time prekey: the X3DH ephemeral is the only thing that makes this first message unique.
    queueText(alice, 'bob', 'first');
    checkBundles(alice, 'bob', [bundleOf(bob)]);
    await encryptQueued(alice, undefined, new Map([['bob', [{ ...bundleOf(bob), oneTimePreKey: null }]]]));
    const [first] = await send(alice, bob, 'unused');
    assert.equal(processIncoming(bob, first!).kind, 'text');
    // Enough round trips that the first message's chain is no longer kept by bob's ratchet.
    for (let i = 0; i < 8; i++) {
      for (const f of await send(bob, alice, `b${i}`)) assert.equal(processIncoming(alice, f).kind, 'text');
      for (const f of await send(alice, bob, `a${i}`)) assert.equal(processIncoming(bob, f).kind, 'text');
    }
    const sessionRow = () => bob.db.prepare("SELECT state, previous FROM sessions WHERE username = 'alice'").get();
    const before = sessionRow();
    const replay = processIncoming(bob, { ...first!, id: 'relay-9', clientId: 'replayed-under-a-new-id' });
    assert.equal(replay.kind, 'failed');
    assert.equal(replay.kind === 'failed' && replay.reason, 'decrypt_failed');
    assert.deepEqual(sessionRow(), before);
    const [next] = await send(alice, bob, 'after the replay');
    const r = processIncoming(bob, next!);
    assert.equal(r.kind === 'text' && r.text, 'after the replay');
  });

  // ---- IncomingPager: a burst in one transaction, acked after it commits ----------------------

  /** What another process sees of bob's store: only committed rows. */
  function committedSeen(c: Client, clientIds: string[]): string[] {
    const other = openReader(c.home.store, c.db);
    try {
      return clientIds.filter((id) => other.prepare('SELECT 1 FROM seen WHERE client_id = ?').get(id) !== undefined);
    } finally {
      other.close();
    }
  }

  it('stores a burst of frames and acks each only once another connection can read the whole burst committed', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const frames = [];
    for (let i = 0; i < 5; i++) frames.push(...(await send(alice, bob, `burst ${i}`)));
    const clientIds = frames.map((f) => f.clientId);
    const acked: { id: string; committed: string[] }[] = [];
    const results: Incoming[] = [];
    const pager = new IncomingPager(bob, { result: (r) => results.push(r), fail: (e) => assert.fail(String(e)) });
    for (const f of frames) pager.push(f, (id) => acked.push({ id, committed: committedSeen(bob, clientIds) }));
    assert.equal(acked.length, 0, 'nothing is acked in the turn the frames arrive');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(acked.map((a) => a.id), frames.map((f) => f.id));
    // At the first ack the whole burst is already committed: one transaction, acked after it.
    for (const a of acked) assert.deepEqual(a.committed, clientIds, `ack of ${a.id}`);
    assert.deepEqual(results.map((r) => r.kind === 'text' && r.text), ['burst 0', 'burst 1', 'burst 2', 'burst 3', 'burst 4']);
  });

  it('stores what a list check held back a page at a time, acking each page once it committed', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const team = groupWith(alice, bob);
    // A first message from a device of bob's own account that his kept list does not hold: the
    // pager checks his lists before it stores anything after it, and the relay goes on pushing.
    const twin = initiateSession(generateIdentity(bob.random), { user: 'bob', device: 2 }, bundleOf(bob), bob.random, Date.now());
    const unlisted = encryptMessage(twin, encodePayload({ v: 1, type: 'text', id: 'twin', text: 'from a device not listed', sentAt: new Date().toISOString() }), bob.random).envelope;
    const frames: MessageFrame[] = [
      { type: 'message', id: 'relay-twin', clientId: 'client-twin', from: { user: 'bob', device: 2 }, body: toBase64url(unlisted), sentAt: new Date().toISOString() },
      ...Array.from({ length: 2 * INCOMING_PAGE_FRAMES + 10 }, (_, i) => team.frame(`group ${i}`)),
    ];
    let endCheck!: () => void;
    const checks: string[] = [];
    const results: Incoming[] = [];
    const pager = new IncomingPager(bob, {
      result: (r) => results.push(r),
      fail: (e) => assert.fail(String(e)),
      refreshLists: (user) => {
        checks.push(user);
        return new Promise<void>((r) => (endCheck = r));
      },
    });
    const seenRows = (): number => {
      const other = openReader(bob.home.store, bob.db);
      try {
        return (other.prepare('SELECT count(*) AS n FROM seen').get() as { n: number }).n;
      } finally {
        other.close();
      }
    };
    const committedAtAck: number[] = [];
    for (const f of frames) pager.push(f, () => committedAtAck.push(seenRows()));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(checks, ['bob']);
    assert.equal(committedAtAck.length, 0, 'nothing is stored while the check holds the frames');
    endCheck();
    await pager.settled();
    assert.equal(committedAtAck.length, frames.length);
    // Three transactions of at most a page each, every ack after its own page's commit (with one
    // transaction for all, every ack saw all of them committed).
    assert.deepEqual([...new Set(committedAtAck)], [INCOMING_PAGE_FRAMES, 2 * INCOMING_PAGE_FRAMES, frames.length]);
    assert.deepEqual(results.map((r) => r.kind), ['failed', ...frames.slice(1).map(() => 'text')]);
    assert.equal(results[0]!.kind === 'failed' && results[0]!.reason, 'device_not_listed');
  });

  it('a frame that fails to store stops the page: the frames before it are committed and acked, it and the rest are not', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const frames = [];
    for (let i = 0; i < 4; i++) frames.push(...(await send(alice, bob, `page ${i}`)));
    const clientIds = frames.map((f) => f.clientId);
    // A store failure on the third frame (a disk error, say): not a message that fails to decrypt.
    bob.db.exec(`CREATE TEMP TRIGGER fail_third BEFORE INSERT ON seen WHEN NEW.client_id = '${clientIds[2]}' BEGIN SELECT RAISE(ABORT, 'injected store failure'); END`);
    const acked: string[] = [];
    const failures: unknown[] = [];
    const results: Incoming[] = [];
    const pager = new IncomingPager(bob, { result: (r) => results.push(r), fail: (e) => failures.push(e) });
    for (const f of frames) pager.push(f, (id) => acked.push(id));
    pager.flush();
    assert.deepEqual(acked, [frames[0]!.id, frames[1]!.id]);
    assert.equal(failures.length, 1);
    assert.match(String(failures[0]), /injected store failure/);
    assert.deepEqual(committedSeen(bob, clientIds), clientIds.slice(0, 2));
    // The relay pushes the unacked frames again; once the store works they are taken in order.
    bob.db.exec('DROP TRIGGER fail_third');
    for (const f of frames.slice(2)) pager.push(f, (id) => acked.push(id));
    pager.flush();
    assert.deepEqual(acked, frames.map((f) => f.id));
    assert.deepEqual(results.map((r) => r.kind === 'text' && r.text), ['page 0', 'page 1', 'page 2', 'page 3']);
  });

  it("answers a page's messages with one receipt naming them all, which marks each delivered at the sender", async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const frames = [];
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      frames.push(...(await send(alice, bob, `page ${i}`)));
      sent.push((alice.db.prepare("SELECT id FROM messages WHERE direction = 'out' ORDER BY rowid DESC LIMIT 1").get() as { id: string }).id);
    }
    alice.db.prepare("UPDATE messages SET status = 'sent' WHERE direction = 'out'").run();
    const pager = new IncomingPager(bob, { result: () => undefined, fail: (e) => assert.fail(String(e)) });
    for (const f of frames) pager.push(f, () => undefined);
    pager.flush();
    assert.deepEqual(queuedReceipts(bob), [sent], 'one receipt, the ids in arrival order');
    const [receipt, ...more] = await framesOfQueued(bob, alice);
    assert.equal(more.length, 0, 'one message to the relay for the five receipts');
    const r = processIncoming(alice, receipt!);
    assert.deepEqual(r.kind === 'receipt' && r.ids, sent);
    const status = alice.db.prepare("SELECT status FROM messages WHERE direction = 'out'").all() as { status: string }[];
    assert.deepEqual(status.map((x) => x.status), sent.map(() => 'delivered'));
  });

  it('receipts of several pages waiting for the same peer leave as one, naming every message in arrival order', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const sent: string[] = [];
    const pager = new IncomingPager(bob, { result: () => undefined, fail: (e) => assert.fail(String(e)) });
    for (let i = 0; i < 3; i++) {
      for (const f of await send(alice, bob, `page ${i}`)) pager.push(f, () => undefined);
      sent.push((alice.db.prepare("SELECT id FROM messages WHERE direction = 'out' ORDER BY rowid DESC LIMIT 1").get() as { id: string }).id);
      pager.flush();
    }
    assert.equal(queuedReceipts(bob).length, 3, 'one receipt queued per page');
    const [receipt, ...more] = await framesOfQueued(bob, alice);
    assert.equal(more.length, 0, 'one message to the relay for the three pages');
    const r = processIncoming(alice, receipt!);
    assert.deepEqual(r.kind === 'receipt' && r.ids, sent);
  });

  it('sends a read receipt for the messages shown, once each and apart from delivery receipts; it marks them read, and a later delivery receipt leaves them read', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const frames = [];
    for (let i = 0; i < 3; i++) frames.push(...(await send(alice, bob, `read ${i}`)));
    const sent = (alice.db.prepare("SELECT id FROM messages WHERE direction = 'out' ORDER BY rowid").all() as { id: string }[]).map((x) => x.id);
    alice.db.prepare("UPDATE messages SET status = 'sent' WHERE direction = 'out'").run();
    const pager = recordingPager(bob);
    pager.page(frames);
    // Two of the three shown; the delivery receipt (queued with the page) is still in the outbox.
    assert.equal(queueReadReceipts(bob, 'alice', sent.slice(0, 2)), 2);
    assert.equal(queueReadReceipts(bob, 'alice', sent.slice(0, 2)), 0, 'each message is receipted read once');
    assert.equal(queueReadReceipts(bob, 'alice', ['not-theirs']), 0);
    // Its bytes have the key order docs/PROTOCOL.md §12.2 shows.
    const row = bob.db.prepare("SELECT message_id, payload FROM outbox WHERE kind = 'receipt' ORDER BY seq DESC LIMIT 1").get() as { message_id: string; payload: Buffer };
    const bytes = bob.sealer.open('outbox', outboxRowKey('alice', row.message_id, 'receipt'), new Uint8Array(row.payload));
    assert.deepEqual(Object.keys(JSON.parse(new TextDecoder().decode(bytes))), ['v', 'type', 'id', 'ids', 'text', 'sentAt', 'read']);
    const [delivery, read, ...more] = await framesOfQueued(bob, alice);
    assert.equal(more.length, 0, 'one delivery receipt and one read receipt: merged each with its own kind');
    // The read receipt first (its marks stand), then the delivery receipt: it does not undo them.
    const r = processIncoming(alice, read!);
    assert.ok(r.kind === 'receipt' && r.read === true);
    assert.deepEqual(r.kind === 'receipt' && r.ids, sent.slice(0, 2));
    const d = processIncoming(alice, delivery!);
    assert.ok(d.kind === 'receipt' && d.read === undefined);
    assert.deepEqual(d.kind === 'receipt' && d.ids, sent);
    const status = () => (alice.db.prepare("SELECT status FROM messages WHERE direction = 'out' ORDER BY rowid").all() as { status: string }[]).map((x) => x.status);
    assert.deepEqual(status(), ['read', 'read', 'delivered']);

    // Turned off: the third is shown, nothing is queued, and it owes nothing once they are on again.
    setReadReceipts(bob, false);
    assert.equal(readReceiptsOn(bob), false);
    assert.equal(queueReadReceipts(bob, 'alice'), 0);
    setReadReceipts(bob, true);
    assert.equal(queueReadReceipts(bob, 'alice'), 0);
    assert.deepEqual(await framesOfQueued(bob, alice), []);
  });

  it('encrypts a delivery receipt and a read receipt naming as many messages to one length, for every count one may name, and one naming a message as long as a short text', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    receivePage(bob, await send(alice, bob, 'hello'));
    await framesOfQueued(bob, alice); // the delivery receipt of 'hello'
    const random = systemRandom();
    const ids = Array.from({ length: MAX_RECEIPT_IDS }, () => toBase64url(random(16)));
    const apart: string[] = [];
    for (let k = 1; k <= MAX_RECEIPT_IDS; k++) {
      queueReceipts(bob, 'alice', ids.slice(0, k));
      queueReceipts(bob, 'alice', ids.slice(0, k), true);
      const [delivery, read, ...more] = await framesOfQueued(bob, alice);
      assert.equal(more.length, 0, `${k} ids: one receipt of each kind`);
      if (k === 1) {
        // They are what they claim to be: the first a delivery receipt, the second a read receipt.
        const kinds = [delivery!, read!].map((f) => processIncoming(alice, f)).map((r) => r.kind === 'receipt' && (r.read ?? false));
        assert.deepEqual(kinds, [false, true]);
        queueText(bob, 'alice', 'ok');
        const [text] = await framesOfQueued(bob, alice);
        assert.equal(text!.body.length, read!.body.length, 'a short text is as long as a receipt naming one message');
      }
      if (delivery!.body.length !== read!.body.length) apart.push(`${k}: ${delivery!.body.length} vs ${read!.body.length}`);
    }
    assert.deepEqual(apart, [], 'counts of ids where a read receipt is not as long as the delivery receipt');
  });

  it('a page stopped by a store failure still queues the receipt of the frames committed before it, and names none after', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const frames = [];
    for (let i = 0; i < 3; i++) frames.push(...(await send(alice, bob, `page ${i}`)));
    const ids = (alice.db.prepare("SELECT id FROM messages WHERE direction = 'out' ORDER BY rowid").all() as { id: string }[]).map((x) => x.id);
    // A store failure (a disk error, say) on the third message's history row.
    bob.db.exec(`CREATE TEMP TRIGGER fail_third AFTER INSERT ON messages WHEN NEW.id = '${ids[2]}' BEGIN SELECT RAISE(ABORT, 'injected store failure'); END`);
    const pager = recordingPager(bob);
    pager.page(frames);
    assert.equal(pager.failures.length, 1);
    assert.deepEqual(queuedReceipts(bob), [ids.slice(0, 2)]);
    // The failed frame had decrypted before its row failed: the session step it took (in the
    // page's session cache) is undone with its savepoint, so the relay's redelivery opens again.
    bob.db.exec('DROP TRIGGER fail_third');
    pager.page(frames.slice(2));
    assert.deepEqual(pager.texts, ['page 0', 'page 1', 'page 2']);
  });

  // ---- sending: acknowledged rows leave the outbox together ---------------------------------

  it('removes the sends the relay answered in one turn together, after that turn, and none before its answer', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    for (let i = 0; i < 5; i++) queueText(alice, 'bob', `window ${i}`);
    const bundle = bundleOf(bob);
    checkBundles(alice, 'bob', [bundle]);
    await encryptQueued(alice, undefined, new Map([['bob', [bundle]]]));
    // A socket whose relay answers only when told to.
    const answers: (() => void)[] = [];
    const socket = { open: true, submit: () => new Promise<string>((r) => answers.push(() => r(new Date().toISOString()))) } as unknown as RelaySocket;
    const rows = (): number => (alice.db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
    const flushed = flushOutbox(alice, { url: 'http://127.0.0.1:9' }, socket);
    while (answers.length < 5) await new Promise((r) => setImmediate(r));
    assert.equal(rows(), 5, 'nothing leaves before its answer');
    for (const answer of answers) answer();
    for (let i = 0; i < 10; i++) await Promise.resolve();
    assert.equal(rows(), 5, 'answered in this turn: removed together once it ends, not one commit each');
    const report = await flushed;
    assert.equal(report.sent, 5);
    assert.equal(rows(), 0);
    const status = alice.db.prepare("SELECT status FROM messages WHERE direction = 'out'").all() as { status: string }[];
    assert.deepEqual(status.map((x) => x.status), ['sent', 'sent', 'sent', 'sent', 'sent']);
  });

  it('queues several lines as their own messages in one transaction: they arrive in order, and a line that fails to store leaves none queued', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const counted = countTransactions(alice);
    const queued = queueTexts(alice, 'bob', ['one', 'two', 'three']);
    assert.equal(counted(), 1, 'one commit for the three lines');
    assert.equal(new Set(queued.map((q) => q.id)).size, 3);
    const bundle = bundleOf(bob);
    checkBundles(alice, 'bob', [bundle]);
    await encryptQueued(alice, undefined, new Map([['bob', [bundle]]]));
    const pager = recordingPager(bob);
    pager.page(takeEncrypted(alice, "kind = 'text'"));
    assert.deepEqual(pager.texts, ['one', 'two', 'three']);
    // A store failure on the second line's history row: the first is not left queued alone (the
    // session now exists, so the lines are encrypted as they are queued: nor is its envelope).
    alice.db.exec("CREATE TEMP TRIGGER fail_second AFTER INSERT ON messages WHEN (SELECT COUNT(*) FROM messages WHERE direction = 'out') = 5 BEGIN SELECT RAISE(ABORT, 'injected store failure'); END");
    assert.throws(() => queueTexts(alice, 'bob', ['four', 'five']), /injected store failure/);
    alice.db.exec('DROP TRIGGER fail_second');
    assert.equal((alice.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE direction = 'out'").get() as { n: number }).n, 3);
    assert.equal((alice.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n, 0);
    // The ratchet step of the rolled-back line went with it: the next line opens after 'three'.
    queueTexts(alice, 'bob', ['six']);
    await encryptQueued(alice, undefined, new Map());
    pager.page(takeEncrypted(alice, "kind = 'text'"));
    assert.deepEqual(pager.texts, ['one', 'two', 'three', 'six']);
  });

  it('encrypts a line in the transaction that queues it once a session exists: no sealed payload row, and the saved session goes on', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const frames = await send(alice, bob, 'first');
    const payloadRows = countInserts(alice, 'outbox', 'NEW.envelope IS NULL');
    const counted = countTransactions(alice);
    queueText(alice, 'bob', 'second');
    queueTexts(alice, 'bob', ['third', 'fourth']);
    assert.equal(counted(), 2, 'one commit per call: queued and encrypted together');
    assert.equal(payloadRows(), 0, 'no sealed payload row written');
    const rows = alice.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'text' AND envelope IS NOT NULL AND client_id IS NOT NULL").get() as { n: number };
    assert.equal(rows.n, 3, 'the envelope rows a resend finds');
    // One line while encrypted ones still wait to leave (a burst): queued, for the next pass to
    // encrypt with whatever follows it in one transaction.
    queueText(alice, 'bob', 'fifth');
    assert.equal(payloadRows(), 1, 'a line of a burst waits for the encryption pass');
    await encryptQueued(alice, undefined, new Map());
    // Each line took its own ratchet step, saved with its envelope: bob opens all in order.
    assert.deepEqual(receivePage(bob, [...frames, ...takeEncrypted(alice, "kind = 'text'")]), ['first', 'second', 'third', 'fourth', 'fifth']);
  });

  it('queues a line as a sealed payload, encrypted later, while a check of the contact\'s device list is due, and after it while an earlier line waits', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    // bob's account key and list, pinned by alice with his bundle (as `send` pins them).
    const accountKey = generateAccountKey(systemRandom());
    const list = firstDeviceList(accountKey, 'bob', [signDeviceEntry(bob.secrets.identity, { user: 'bob', accountKey: accountKey.publicKey }, 1, 1000)]);
    const bundle = bundleOf(bob);
    checkBundles(alice, 'bob', [bundle], { kind: 'accepted', account: { key: accountKey.publicKey, list: list.bytes }, list: list.list });
    queueText(alice, 'bob', 'first');
    await encryptQueued(alice, undefined, new Map([['bob', [bundle]]]));
    const frames = takeEncrypted(alice, "kind = 'text'");
    const payloadRows = countInserts(alice, 'outbox', 'NEW.envelope IS NULL');
    // No check of bob's list in this process yet: the next encryption (with a relay) checks it first.
    queueText(alice, 'bob', 'second');
    assert.equal(payloadRows(), 1, 'queued for encryptQueued, which checks the list first');
    // Checked now; but 'second' still waits unencrypted, and 'third' must not leave before it.
    noteListChecked(alice, 'bob');
    queueText(alice, 'bob', 'third');
    assert.equal(payloadRows(), 2, 'queued behind the line that waits');
    await encryptQueued(alice, undefined, new Map());
    frames.push(...takeEncrypted(alice, "kind = 'text'"));
    queueText(alice, 'bob', 'fourth');
    assert.equal(payloadRows(), 2, 'nothing waits and the check is fresh: encrypted as it is queued');
    frames.push(...takeEncrypted(alice, "kind = 'text'"));
    assert.deepEqual(receivePage(bob, frames), ['first', 'second', 'third', 'fourth']);
  });

  // ---- the contact read per message (contacts.ts keeps checks of unchanged records) ----------

  it('a key change in the middle of a page flags the frames after it, and no receipt goes for them', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [first] = await send(alice, bob, 'first');
    processIncoming(bob, first!);
    const [before] = await send(alice, bob, 'before the change');
    const impostor = makeClient('alice');
    const [change] = await send(impostor, bob, 'it is me, alice');
    const [after] = await send(alice, bob, 'after the change');
    bob.db.prepare('DELETE FROM outbox').run();
    const seen: [string, boolean][] = [];
    const pager = new IncomingPager(bob, { result: (r) => r.kind === 'text' && seen.push([r.text, r.identityChanged]), fail: (e) => assert.fail(String(e)) });
    for (const f of [before!, change!, after!]) pager.push(f, () => undefined);
    pager.flush();
    // The record read for the first frame was unchanged-and-trusted; the second rewrote it.
    assert.deepEqual(seen, [['before the change', false], ['it is me, alice', true], ['after the change', true]]);
    const sent = (alice.db.prepare("SELECT id FROM messages WHERE direction = 'out' ORDER BY rowid").all() as { id: string }[]).map((x) => x.id);
    assert.deepEqual(queuedReceipts(bob), [[sent[1]]], 'a receipt for the frame before the change only');
  });

  it('sees a contact record edited on disk after it was read and found sound', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [first] = await send(alice, bob, 'first');
    processIncoming(bob, first!);
    assert.equal(readContact(bob, 'alice')?.integrity, 'ok');
    // The readable copy says verified; the sealed record does not: an edit, whatever was read before.
    bob.db.prepare("UPDATE contacts SET trust = 'verified' WHERE username = 'alice'").run();
    assert.deepEqual(readContact(bob, 'alice'), { username: 'alice', integrity: 'failed', why: 'altered' });
    bob.db.prepare("UPDATE contacts SET trust = 'unverified' WHERE username = 'alice'").run();
    assert.equal(readContact(bob, 'alice')?.integrity, 'ok');
  });

  it('saves the session a page decrypted with once, at the page\'s end, and the saved state opens what comes next', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [first] = await send(alice, bob, 'first');
    processIncoming(bob, first!);
    const frames = [];
    for (let i = 0; i < 6; i++) frames.push(...(await send(alice, bob, `page ${i}`)));
    const sessionWrites = countUpdates(bob, 'sessions');
    assert.deepEqual(receivePage(bob, frames), ['page 0', 'page 1', 'page 2', 'page 3', 'page 4', 'page 5']);
    assert.equal(sessionWrites(), 1);
    const [next] = await send(alice, bob, 'after the page');
    const r = processIncoming(bob, next!);
    assert.equal(r.kind === 'text' && r.text, 'after the page');
  });

  // ---- group receiving chains and arrival numbers once per page ----------------------------

  it('saves a group sender chain a page opened once, at the page\'s end, and the saved chain refuses a replay of what it opened', () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const team = groupWith(alice, bob);
    const frames = [0, 1, 2, 3, 4, 5].map((i) => team.frame(`group ${i}`));
    const keyWrites = countUpdates(bob, 'group_sender_keys');
    assert.deepEqual(receivePage(bob, frames), ['group 0', 'group 1', 'group 2', 'group 3', 'group 4', 'group 5']);
    assert.equal(keyWrites(), 1, 'one write of the chain for the page');
    assert.equal(team.storedCounter(), 6, 'the chain as the page left it');
    // The relay handing the first frame again under a new id: the chain knows it, whatever the history says.
    const r = processIncoming(bob, { ...frames[0]!, id: 'again', clientId: 'again' });
    assert.deepEqual(r, { kind: 'duplicate', from: 'alice', replayed: true });
    const next = processIncoming(bob, team.frame('after the page'));
    assert.equal(next.kind === 'text' && next.text, 'after the page');
  });

  it('opens the frame it is given, not the message parsed on arrival that a check ahead for other bytes carries', () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const team = groupWith(alice, bob);
    const first = team.frame('first');
    const second = team.frame('second');
    // The check (passed, for alice's real key) and parse of the first frame, handed with the second.
    const other = parseGroupMessage(fromBase64url(first.body));
    const input = groupMessageSignatureInput(other);
    const check = { signPublic: team.storedSignPublic(), message: input.message, signature: input.signature, valid: true, parsed: other };
    const r = processIncoming(bob, second, { signature: check });
    assert.equal(r.kind === 'text' && r.text, 'second');
    // With its own bytes, the parse it carries is the one opened.
    const body = fromBase64url(first.body);
    const own = parseGroupMessage(body);
    const mine = processIncoming(bob, first, { signature: { ...check, parsed: own }, envelope: body });
    assert.equal(mine.kind === 'text' && mine.text, 'first');
  });

  it('a page stopped by a store failure in a group message takes the chain step of that frame back, so its redelivery opens', () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const team = groupWith(alice, bob);
    const frames = [0, 1, 2, 3].map((i) => team.frame(`group ${i}`));
    // A store failure (a disk error, say) on the third message's row, after its chain stepped.
    bob.db.exec("CREATE TEMP TRIGGER fail_third AFTER INSERT ON group_messages WHEN NEW.id = 'g2' BEGIN SELECT RAISE(ABORT, 'injected store failure'); END");
    const pager = recordingPager(bob);
    pager.page(frames);
    assert.equal(pager.failures.length, 1);
    assert.deepEqual(pager.texts, ['group 0', 'group 1']);
    assert.equal(team.storedCounter(), 2, 'the chain as the two stored frames left it');
    bob.db.exec('DROP TRIGGER fail_third');
    pager.page(frames.slice(2));
    assert.deepEqual(pager.texts, ['group 0', 'group 1', 'group 2', 'group 3']);
  });

  it('a sender key arriving in the middle of a page replaces the chain the page holds: what follows opens with the new one, and the page\'s end does not put the old one back', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [first] = await send(alice, bob, 'first');
    processIncoming(bob, first!);
    const team = groupWith(alice, bob);
    const before = [team.frame('old chain 0'), team.frame('old chain 1')];
    const newKey = team.newChain();
    await encryptQueued(alice, undefined, new Map());
    const distribution = takeEncrypted(alice, "kind = 'group'");
    assert.equal(distribution.length, 1);
    const frames = [...before, ...distribution, team.frame('new chain 0'), team.frame('new chain 1')];
    assert.deepEqual(receivePage(bob, frames), ['old chain 0', 'old chain 1', 'new chain 0', 'new chain 1']);
    assert.deepEqual(team.storedSignPublic(), newKey);
    assert.equal(team.storedCounter(), 2, 'the new chain as the page left it');
  });

  // ---- reads a page keeps (db.ts pageRead) ---------------------------------------------------

  it('a rename in the middle of a page is read by the frames after it: the renamed group at its new epoch, and the labels of both groups that now share a name', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [first] = await send(alice, bob, 'first');
    processIncoming(bob, first!);
    const team = groupWith(alice, bob);
    const other = groupWith(alice, bob, 'other', 'o');
    const before = team.frame('before the rename');
    other.rename('team');
    await encryptQueued(alice, undefined, new Map());
    const change = takeEncrypted(alice, "kind = 'group'");
    assert.equal(change.length, 1);
    const frames = [before, ...change, team.frame('after the rename'), other.frame('renamed, at epoch 1')];
    const seen: string[] = [];
    const pager = new IncomingPager(bob, { result: (r) => r.kind === 'text' && seen.push(`#${r.group?.label}: ${r.text}`), fail: (e) => assert.fail(String(e)) });
    for (const f of frames) pager.push(f, () => undefined);
    pager.flush();
    // With the labels kept past the rename, the third is still "#team"; with the renamed group's
    // row kept, the last is held (its epoch 1 is ahead of the kept state) and never shown.
    assert.equal(seen.length, 3, seen.join(' | '));
    assert.equal(seen[0], '#team: before the rename');
    assert.match(seen[1]!, /^#team~[0-9a-f]{4,}: after the rename$/);
    assert.match(seen[2]!, /^#team~[0-9a-f]{4,}: renamed, at epoch 1$/);
    assert.notEqual(seen[1]!.split(':')[0], seen[2]!.split(':')[0]);
  });

  it('numbers the unread messages of a page in order, pairwise and group alike, and writes the counter once, where the next message continues', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    const [first] = await send(alice, bob, 'first');
    processIncoming(bob, first!);
    const team = groupWith(alice, bob);
    const frames = [team.frame('group 0'), ...(await send(alice, bob, 'pairwise 0')), team.frame('group 1'), ...(await send(alice, bob, 'pairwise 1'))];
    const counterWrites = countUpdates(bob, 'meta', "NEW.key = 'arrival'");
    const before = Number(getMeta(bob.db, 'arrival'));
    assert.equal(receivePage(bob, frames).length, 4);
    const unread = (bob.db.prepare("SELECT unread FROM messages WHERE direction = 'in' AND unread > ? UNION ALL SELECT unread FROM group_messages WHERE unread > ? ORDER BY unread").all(before, before) as { unread: number }[]).map((r) => r.unread);
    assert.deepEqual(unread, [before + 1, before + 2, before + 3, before + 4]);
    assert.equal(counterWrites(), 1, 'one write of the counter for the page');
    assert.equal(nextArrival(bob.db), before + 5, 'the next number, outside any page, follows the page\'s last');
  });
});
