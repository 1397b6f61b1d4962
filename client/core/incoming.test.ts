// Receive path without a relay: two in-process clients on temp homes hand envelopes to each other.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toBase64url } from '../../crypto/encoding.js';
import { generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { publicOneTimePreKey, publicSignedPreKey, type PreKeyBundle } from '../../crypto/prekeys.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { assembleClient } from './assemble.js';
import { getContact } from './contacts.js';
import type { Client } from './context.js';
import { openDb } from './db.js';
import { homePaths } from './home.js';
import { processIncoming } from './incoming.js';
import { checkBundles, encryptQueued, queueText } from './outbox.js';
import { allOneTimePreKeys, currentSignedPreKey } from './prekey-store.js';
import { createInitialPreKeys } from './prekeys.js';

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
  const rows = a.db.prepare("SELECT seq, client_id, envelope FROM outbox WHERE envelope IS NOT NULL AND kind = 'text' ORDER BY seq").all() as { seq: number; client_id: string; envelope: Buffer }[];
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
});
