// A disk thief against real homes: someone who can read and rewrite every file in FASTCHAT_HOME
// but does not know the passphrase (docs/THREAT_MODEL.md "Disk thief"). Each test sets up homes
// that talk through a real relay with the real binary, edits store.db (or config.json, or the
// counter file) with sqlite or the file system while no fastchat runs, often with a hostile relay
// serving the attacker's keys under the victim's name, then runs the real `fastchat` again.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { converse, jsonLines, startScenarios, type TestHome } from './util/fastchat-cli.js';
import type { RelayProcess } from './util/relay-process.js';
import { queuedFor, serveKeysOf, withStoreFile } from './util/tamper.js';
import { withCore } from './util/client-core.js';

describe('a disk thief without the passphrase', () => {
  let relay: RelayProcess;
  let scenarios: Awaited<ReturnType<typeof startScenarios>>;
  const homes = <N extends string>(...names: N[]): Promise<Record<N, TestHome>> => scenarios.homes(...names);

  before(async () => {
    scenarios = await startScenarios('fastchat-thief-');
    relay = scenarios.relay;
  });
  after(async () => {
    await scenarios?.close();
  });

  /** encodePublicIdentity of a home, as config.json holds it (public). */
  function publicIdentityBytes(h: TestHome): Buffer {
    return Buffer.from(JSON.parse(readFileSync(join(h.dir, 'config.json'), 'utf8')).identity, 'base64url');
  }

  it('a contact re-pinned to the attacker key in store.db is refused, not used', async () => {
    const { alice, bob, mallory } = await homes('alice', 'bob', 'mallory');
    await converse(alice, bob);
    // The thief pins mallory's key for bob (marked verified) and deletes the session, so the next
    // send must start a new one; the relay serves mallory's keys as bob's.
    withStoreFile(alice, (db) => {
      db.prepare("UPDATE contacts SET identity = ?, trust = 'verified' WHERE username = ?").run(publicIdentityBytes(mallory), bob.name);
      db.prepare('DELETE FROM sessions WHERE username = ?').run(bob.name);
    });
    serveKeysOf(relay.db, bob.name, mallory.name);
    const queued = queuedFor(relay.db, bob.name);
    const sent = await alice.run(['send', `@${bob.name}`, 'the launch code is 4711']);
    assert.equal(sent.code, 4, sent.stdout + sent.stderr);
    assert.match(sent.stderr, /failed its integrity check/);
    assert.equal(queuedFor(relay.db, bob.name), queued, 'nothing was encrypted to the attacker');
    const contacts = jsonLines((await alice.ok(['contacts', '--json'])).stdout);
    const rec = contacts.find((c) => c.username === bob.name);
    assert.equal(rec.integrity, 'failed');
    assert.equal(rec.trust, null, 'the forged "verified" is not shown');
    const fp = await alice.ok(['fingerprint', `@${bob.name}`]);
    assert.match(fp.stdout, /FAILED ITS INTEGRITY CHECK/);
  });

  it('a contact record deleted from store.db is not trusted again on first use', async () => {
    const { alice, bob, mallory } = await homes('alice', 'bob', 'mallory');
    // alice looked bob up and verified him in person; they have not talked yet (no session).
    const sn = JSON.parse((await alice.ok(['fingerprint', `@${bob.name}`, '--json'])).stdout).safetyNumber as string;
    await alice.ok(['verify', `@${bob.name}`, sn]);
    // Without the record, the next send would trust whatever the relay serves, as for a stranger.
    withStoreFile(alice, (db) => db.prepare('DELETE FROM contacts WHERE username = ?').run(bob.name));
    serveKeysOf(relay.db, bob.name, mallory.name);
    const queued = queuedFor(relay.db, bob.name);
    const sent = await alice.run(['send', `@${bob.name}`, 'are you there?']);
    assert.equal(sent.code, 4, sent.stdout + sent.stderr);
    assert.match(sent.stderr, /failed its integrity check/);
    assert.equal(queuedFor(relay.db, bob.name), queued);
    const rec = jsonLines((await alice.ok(['contacts', '--json'])).stdout).find((c) => c.username === bob.name);
    assert.equal(rec?.integrity, 'failed', 'the deleted record is still listed, as failed');
  });

  it('a session row deleted or put back from an older copy is refused until the user re-verifies', async () => {
    const { alice, bob } = await homes('alice', 'bob');
    await converse(alice, bob);
    const old = withStoreFile(alice, (db) => db.prepare('SELECT state, previous FROM sessions WHERE username = ?').get(bob.name) as { state: Buffer; previous: Buffer | null });
    await alice.ok(['send', `@${bob.name}`, 'two']);
    await alice.ok(['send', `@${bob.name}`, 'three']);
    // The older copy of the row goes back: encrypting with it would reuse message keys.
    withStoreFile(alice, (db) => db.prepare('UPDATE sessions SET state = ?, previous = ? WHERE username = ?').run(old.state, old.previous, bob.name));
    const refused = await alice.run(['send', `@${bob.name}`, 'four']);
    assert.equal(refused.code, 4, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /session \(device 1\) of @\w+ failed its integrity check/);
    const rec = jsonLines((await alice.ok(['contacts', '--json'])).stdout).find((c) => c.username === bob.name);
    assert.equal(rec.integrity, 'failed');
    // The way out: compare, accept the key by its number; the bad session is dropped, a new one starts.
    const sn = JSON.parse((await alice.ok(['fingerprint', `@${bob.name}`, '--json'])).stdout).safetyNumber as string;
    await alice.ok(['verify', `@${bob.name}`, '--accept', sn]);
    await alice.ok(['send', `@${bob.name}`, 'five']);
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['two', 'three', 'five']);
  });

  it('a message body moved to another row of the history does not open there', async () => {
    const { alice, bob, carol } = await homes('alice', 'bob', 'carol');
    await alice.ok(['send', `@${bob.name}`, 'for bob']);
    await alice.ok(['send', `@${carol.name}`, 'for carol only']);
    withStoreFile(alice, (db) => {
      const carolBody = db.prepare('SELECT body FROM messages WHERE peer = ?').get(carol.name) as { body: Buffer };
      db.prepare('UPDATE messages SET body = ? WHERE peer = ?').run(carolBody.body, bob.name);
    });
    const h = await alice.run(['history', `@${bob.name}`, '--json']);
    assert.doesNotMatch(h.stdout, /for carol only/);
    assert.equal(h.code, 0, 'the rest of the history still reads');
    assert.deepEqual(
      jsonLines(h.stdout).map((m) => [m.text, m.error ?? null]),
      [[null, 'stored_body_unreadable']],
      'the moved value does not open there: the message is listed without text',
    );
    const plain = await alice.ok(['history', `@${bob.name}`]);
    assert.match(plain.stdout, /failed the integrity check/);
  });

  it('one altered message body does not stop inbox: the others print, that one is named', async () => {
    const { alice, bob } = await homes('alice', 'bob');
    for (const t of ['first', 'second', 'third']) await alice.ok(['send', `@${bob.name}`, t]);
    await bob.ok(['inbox']);
    // Stored but not yet shown (as after a crash before printing), and one body altered.
    withStoreFile(bob, (db) => {
      db.prepare("UPDATE messages SET unread = seq WHERE direction = 'in'").run();
      const second = db.prepare("SELECT seq, body FROM messages WHERE direction = 'in' ORDER BY seq LIMIT 1 OFFSET 1").get() as { seq: number; body: Buffer };
      second.body[second.body.length - 1]! ^= 1;
      db.prepare('UPDATE messages SET body = ? WHERE seq = ?').run(second.body, second.seq);
    });
    const r = await bob.ok(['inbox', '--json']);
    assert.deepEqual(
      jsonLines(r.stdout).map((m) => [m.text, m.error?.code ?? null]),
      [['first', null], [null, 'stored_body_unreadable'], ['third', null]],
    );
    assert.match(r.stderr, /failed its integrity check/);
    assert.match((await bob.ok(['inbox'])).stderr, /no new messages/, 'each is shown once');
  });

  it('a store.db put back from an older copy is noticed: sending is refused until reset-sessions', async () => {
    const { alice, bob } = await homes('alice', 'bob');
    await converse(alice, bob);
    const store = join(alice.dir, 'store.db');
    copyFileSync(store, join(scenarios.root, `backup-${alice.name}.db`));
    await alice.ok(['send', `@${bob.name}`, 'after the backup']);
    await bob.ok(['inbox']);
    // The older copy goes back (a backup restore, or a thief undoing the last messages).
    for (const f of ['-wal', '-shm']) rmSync(store + f, { force: true });
    copyFileSync(join(scenarios.root, `backup-${alice.name}.db`), store);
    const queued = queuedFor(relay.db, bob.name);
    const refused = await alice.run(['send', `@${bob.name}`, 'would reuse a message key']);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /rolled back/);
    assert.match(refused.stderr, /fastchat reset-sessions/);
    assert.equal(queuedFor(relay.db, bob.name), queued);
    // Receiving still works, with the warning.
    const inbox = await alice.ok(['inbox']);
    assert.match(inbox.stderr, /rolled back/);
    // Still refused on the next run: the alarm is kept in the (sealed) store.
    assert.equal((await alice.run(['send', `@${bob.name}`, 'again'])).code, 1);
    const reset = await alice.ok(['reset-sessions', '--json']);
    assert.equal(JSON.parse(reset.stdout).wasRolledBack, true);
    await alice.ok(['send', `@${bob.name}`, 'after the reset']);
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['after the reset']);
  });

  it('a deleted counter file or a store.db swapped for an empty one is noticed, not trusted', async () => {
    const { alice, bob, carol, mallory } = await homes('alice', 'bob', 'carol', 'mallory');
    await converse(alice, bob);
    await converse(carol, bob);
    rmSync(join(alice.dir, 'store.counter'));
    const a = await alice.run(['send', `@${bob.name}`, 'x']);
    assert.equal(a.code, 1, a.stderr);
    assert.match(a.stderr, /counter missing/);
    // An empty store would make every contact new again (trust on first use of whatever the relay serves).
    for (const f of ['store.db', 'store.db-wal', 'store.db-shm']) rmSync(join(carol.dir, f), { force: true });
    serveKeysOf(relay.db, bob.name, mallory.name);
    const c = await carol.run(['send', `@${bob.name}`, 'y']);
    assert.equal(c.code, 1, c.stderr);
    assert.match(c.stderr, /store replaced/);
  });

  it('safety numbers use the keystore identity, not a config.json the thief rewrote', async () => {
    const { alice, bob, mallory } = await homes('alice', 'bob', 'mallory');
    await converse(alice, bob);
    const before = JSON.parse((await alice.ok(['fingerprint', `@${bob.name}`, '--json'])).stdout).safetyNumber;
    const ownBefore = JSON.parse((await alice.ok(['fingerprint', '--json'])).stdout).fingerprint;
    const configPath = join(alice.dir, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    writeFileSync(configPath, JSON.stringify({ ...config, identity: JSON.parse(readFileSync(join(mallory.dir, 'config.json'), 'utf8')).identity }));
    const after = await alice.ok(['fingerprint', `@${bob.name}`, '--json']);
    assert.equal(JSON.parse(after.stdout).safetyNumber, before);
    assert.match(after.stderr, /config\.json named another identity key/);
    assert.equal(JSON.parse(readFileSync(configPath, 'utf8')).identity, config.identity, 'repaired from the keystore');
    assert.equal(JSON.parse((await alice.ok(['fingerprint', '--json'])).stdout).fingerprint, ownBefore);
  });

  it('a session made with another key than the pinned one is never used to send', async () => {
    const { alice, bob, mallory } = await homes('alice', 'bob', 'mallory');
    await converse(alice, bob);
    // What a first message injected by a hostile relay ("from bob", made with mallory's key) leaves
    // behind if any path installed it: bob's record stays pinned and trusted, the session is mallory's.
    const malloryBundle = await withCore(mallory, async (m) => {
      const { currentSignedPreKey } = await import('../client/core/prekey-store.js');
      const { publicSignedPreKey } = await import('../crypto/prekeys.js');
      const { publicIdentity } = await import('../crypto/identity.js');
      return { address: { user: bob.name, device: 1 }, identity: publicIdentity(m.secrets.identity), signedPreKey: publicSignedPreKey(currentSignedPreKey(m.db, m.sealer)!), oneTimePreKey: null };
    });
    await withCore(alice, async (c) => {
      const { initiateSession } = await import('../crypto/session.js');
      const { saveSession } = await import('../client/core/sessions.js');
      const { tx } = await import('../client/core/db.js');
      tx(c.db, () => saveSession(c.db, c.sealer, bob.name, 1, initiateSession(c.secrets.identity, { user: alice.name, device: 1 }, malloryBundle, c.random, c.now()), c.now()));
    });
    const queued = queuedFor(relay.db, bob.name);
    const r = await alice.run(['send', `@${bob.name}`, 'for bob only']);
    assert.equal(r.code, 4, r.stdout + r.stderr);
    assert.match(r.stderr, /made with another identity key/);
    assert.equal(queuedFor(relay.db, bob.name), queued);
  });
});
