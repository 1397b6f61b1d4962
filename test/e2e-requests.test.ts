// Message requests and blocking (issue 15), through the real binary and a real relay: a stranger's
// first messages wait as a request (one line in inbox, none of their text, no receipt, no file
// fetched) within a bound on what they may leave on disk; accepting shows them and sends the
// receipts; a group invitation from a stranger waits for accept; a blocked user's messages are
// never kept or shown, and the relay stops queueing them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import type { RelayProcess } from './util/relay-process.js';
import { waitFor } from './util/fault.js';
import { converse, jsonLines, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';

const REQUEST_MAX_BYTES = 64 * 1024;
const REQUEST_MAX_MESSAGES = 20;

/** What alice's store holds from `peer`: message rows and their sealed bytes. */
function stored(home: TestHome, peer: string): { n: number; bytes: number } {
  const db = new Database(join(home.dir, 'store.db'), { readonly: true });
  try {
    return db.prepare("SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS bytes FROM messages WHERE peer = ? AND direction = 'in'").get(peer) as { n: number; bytes: number };
  } finally {
    db.close();
  }
}

/** Deliveries the relay holds for `to` from `from`. */
function queuedAtRelay(dbPath: string, from: string, to: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.username = ? AND m.sender = ?').get(to, from) as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('message requests and blocking', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let dbPath: string;
  let alice: TestHome;
  let bob: TestHome;
  let mallory: TestHome;
  let dave: TestHome;
  let trent: TestHome;

  before(async () => {
    ({ relay, tmp, dbPath, homes: { alice, bob, mallory, dave, trent } } = await startUsers(['alice', 'bob', 'mallory', 'dave', 'trent'], { prefix: 'fastchat-requests-' }));
    for (const h of [alice, bob, mallory, dave, trent]) h.env.FASTCHAT_REQUESTS = 'on';
    await converse(alice, bob); // bob is a contact: his messages are never requests
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it("keeps a stranger's first messages as a request: one line in inbox, none of their text, no receipt, until accepted", async () => {
    for (const t of ['hi alice, it is dave', 'from the conference', 'call me?']) await dave.ok(['send', '@alice', t]);
    await bob.ok(['send', '@alice', 'a contact is shown as always']);
    const r = await alice.ok(['inbox']);
    assert.match(r.stdout, /@bob: a contact is shown as always/);
    assert.match(r.stdout, /message request from @dave \(3 new messages\)/);
    assert.doesNotMatch(r.stdout + r.stderr, /it is dave|conference|call me/);
    assert.equal(r.stdout.split('\n').filter((l) => l.includes('dave')).length, 1, r.stdout);
    // No receipt went back: dave's messages are sent, not delivered.
    await dave.ok(['inbox']);
    const before = jsonLines((await dave.ok(['history', '@alice', '--json'])).stdout);
    assert.deepEqual(before.map((m) => m.status), ['sent', 'sent', 'sent']);
    // The request list shows them (and then inbox stops announcing them).
    const list = jsonLines((await alice.ok(['requests', '--json'])).stdout);
    assert.deepEqual(list[0].request.messages.map((m: any) => m.text), ['hi alice, it is dave', 'from the conference', 'call me?']);
    assert.match((await alice.ok(['inbox'])).stderr, /no new messages/);
    // Not a conversation until accepted.
    assert.ok(!jsonLines((await alice.ok(['conversations', '--json'])).stdout).some((c) => c.user === 'dave'));
    await alice.ok(['requests', 'accept', '@dave']);
    assert.ok(jsonLines((await alice.ok(['conversations', '--json'])).stdout).some((c) => c.user === 'dave'));
    await dave.ok(['inbox']);
    const afterAccept = jsonLines((await dave.ok(['history', '@alice', '--json'])).stdout);
    assert.deepEqual(afterAccept.map((m) => m.status), ['delivered', 'delivered', 'delivered']);
    // From now on dave is a contact: shown at once.
    await dave.ok(['send', '@alice', 'thanks']);
    assert.match((await alice.ok(['inbox'])).stdout, /@dave: thanks/);
  });

  it('a stranger cannot put more than 20 messages or 64 KiB of text, and no file, on your disk before you accept', async () => {
    const big = 'x'.repeat(5000);
    const sends = Array.from({ length: 24 }, (_, i) => `${i} ${big}`);
    for (let i = 0; i < sends.length; i += 4) await Promise.all(sends.slice(i, i + 4).map((t) => mallory.ok(['send', '@alice', t])));
    const file = join(tmp.root, 'unasked.bin');
    writeFileSync(file, randomBytes(300_000));
    await mallory.ok(['send-file', '@alice', file]);
    const r = await alice.ok(['inbox']);
    assert.match(r.stdout, /message request from @mallory/);
    const s = stored(alice, 'mallory');
    assert.ok(s.n <= REQUEST_MAX_MESSAGES, `kept ${s.n} messages`);
    assert.ok(s.bytes <= REQUEST_MAX_BYTES, `kept ${s.bytes} bytes`);
    assert.ok(s.n > 0, 'the first ones are kept');
    const files = join(alice.dir, 'files');
    assert.deepEqual(existsSync(files) ? readdirSync(files).filter((n) => n !== '.partial') : [], [], 'no file fetched');
    assert.deepEqual(existsSync(join(files, '.partial')) ? readdirSync(join(files, '.partial')) : [], [], 'no partial download either');
    const req = jsonLines((await alice.ok(['requests', '--json'])).stdout).find((x) => x.request?.from === 'mallory');
    assert.equal(req.request.messages.length + req.request.notKept, 25, 'what was not kept is counted');
  });

  it('a group invitation from a stranger waits: its messages show only after accept', async () => {
    await trent.ok(['group', 'create', '#party', '@alice', '@bob']);
    await trent.ok(['send', '#party', 'welcome to the party']);
    const r = await alice.ok(['inbox']);
    assert.match(r.stdout, /@trent invited you to #party/);
    assert.doesNotMatch(r.stdout, /welcome to the party/);
    assert.ok(!jsonLines((await alice.ok(['conversations', '--json'])).stdout).some((c) => c.group === 'party'));
    const sendBefore = await alice.run(['send', '#party', 'too early']);
    assert.notEqual(sendBefore.code, 0, 'nothing is sent to a group not joined');
    await alice.ok(['requests', 'accept', '#party']);
    assert.match((await alice.ok(['inbox'])).stdout, /#party @trent: welcome to the party/);

    // In the group now, trent is still no contact of alice's: his small file is fetched, a big one
    // waits for a yes.
    const small = join(tmp.root, 'small.bin');
    const big = join(tmp.root, 'big.bin');
    writeFileSync(small, randomBytes(50_000));
    writeFileSync(big, randomBytes(1_500_000));
    await trent.ok(['send-file', '#party', small]);
    await trent.ok(['send-file', '#party', big]);
    const files = jsonLines((await alice.ok(['inbox', '--json'])).stdout).filter((m) => m.file);
    assert.deepEqual(files.map((m) => [m.file.name, m.file.path !== null, m.file.waiting ?? false]).sort(), [['big.bin', false, true], ['small.bin', true, false]]);
    assert.ok(!existsSync(join(alice.dir, 'files', 'big.bin')));
    await alice.ok(['requests', 'accept', '@trent']);
    const after = jsonLines((await alice.ok(['inbox', '--json'])).stdout).filter((m) => m.file);
    assert.deepEqual(after.map((m) => m.file.name), ['big.bin']);
    assert.ok(existsSync(after[0].file.path), 'fetched once accepted');
  });

  it("never shows a blocked user's messages, and the relay stops queueing them", async () => {
    await alice.ok(['block', '@mallory']);
    const sent = await mallory.ok(['send', '@alice', 'after the block', '--json']);
    assert.equal(JSON.parse(sent.stdout).status, 'sent', 'the relay does not tell the blocked user');
    assert.equal(queuedAtRelay(dbPath, 'mallory', 'alice'), 0);
    // Without the relay's help (a relay that ignores blocks): the client keeps nothing of theirs.
    const db = new Database(dbPath);
    db.prepare("DELETE FROM blocks WHERE blocker = 'alice'").run();
    db.close();
    await mallory.ok(['send', '@alice', 'queued by a relay that ignores the block']);
    assert.equal(queuedAtRelay(dbPath, 'mallory', 'alice'), 1);
    const r = await alice.ok(['inbox']);
    assert.doesNotMatch(r.stdout + r.stderr, /ignores the block|after the block|mallory/);
    const hist = jsonLines((await alice.ok(['history', '@mallory', '-n', '100', '--json'])).stdout);
    assert.ok(!hist.some((m) => /block/.test(m.text ?? '')), 'not stored either');
    // The relay commits an ack-only turn up to a few ms after it (docs/RELAY.md "Durability").
    await waitFor(() => queuedAtRelay(dbPath, 'mallory', 'alice') === 0, 5000, "alice's ack of mallory's message to commit: acknowledged and dropped");
    assert.deepEqual(JSON.parse((await alice.ok(['block', '--json'])).stdout).blocked, ['mallory']);
    await alice.ok(['unblock', '@mallory']);
    await mallory.ok(['send', '@alice', 'after the unblock']);
    assert.match((await alice.ok(['inbox'])).stdout, /message request from @mallory/);
  });
});
