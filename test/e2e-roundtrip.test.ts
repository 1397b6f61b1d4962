// Two and three homes talking through a real relay with the real binary: the round trip, receipts,
// the clear errors of the first-run commands, and a contact's key change blocking sends (exit 4).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RelayProcess } from './util/relay-process.js';
import { jsonLines, makeHome, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';

describe('fastchat between two homes', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob']));
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('delivers a message from alice to bob and a reply from bob to alice', async () => {
    const sent = await alice.ok(['send', '@bob', 'hello', 'bob']);
    assert.match(sent.stdout, /sent to @bob/);
    const inbox = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.equal(inbox.length, 1);
    assert.equal(inbox[0].from, 'alice');
    assert.equal(inbox[0].text, 'hello bob');
    assert.equal(inbox[0].group, null);
    for (const k of ['sentAt', 'receivedAt']) assert.ok(!Number.isNaN(Date.parse(inbox[0][k])), `${k} is ISO 8601`);
    assert.match(inbox[0].id, /^[A-Za-z0-9_-]+$/);

    await bob.ok(['send', '@alice', 'hi alice, got it']);
    const back = jsonLines((await alice.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(back.map((m) => [m.from, m.text]), [['bob', 'hi alice, got it']]);
  });

  it('marks a sent message delivered once the encrypted receipt comes back', async () => {
    const hist = jsonLines((await alice.ok(['history', '@bob', '--json'])).stdout);
    const first = hist.find((m) => m.text === 'hello bob');
    assert.equal(first?.status, 'delivered');
    assert.equal(first?.from, 'alice');
    assert.equal(first?.to, 'bob');
  });

  it('shows each message once even when inbox runs again', async () => {
    const again = await bob.ok(['inbox', '--json']);
    assert.equal(jsonLines(again.stdout).length, 0);
    const hist = jsonLines((await bob.ok(['history', '@alice', '-n', '50', '--json'])).stdout);
    assert.equal(hist.filter((m) => m.text === 'hello bob').length, 1);
  });

  it('spends none of the peer\'s one-time prekeys once a session exists', async () => {
    const db = new Database(relay.db, { readonly: true });
    try {
      const count = (): number => (db.prepare("SELECT count(*) AS n FROM one_time_prekeys WHERE username = 'bob'").get() as { n: number }).n;
      const before = count();
      for (const text of ['one', 'two', 'three']) await alice.ok(['send', '@bob', text]);
      assert.equal(count(), before);
    } finally {
      db.close();
    }
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout).map((m) => m.text);
    assert.deepEqual(got, ['one', 'two', 'three']);
  });

  it('refuses keygen on a home with keys unless --force, changing nothing', async () => {
    const before = readFileSync(join(alice.dir, 'keystore.json'));
    const r = await alice.run(['keygen']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^fastchat: error: keys already exist/m);
    assert.match(r.stderr, /^hint: .*--force/m);
    assert.deepEqual(readFileSync(join(alice.dir, 'keystore.json')), before);
  });

  it('fails with exit 1 and changes nothing on a wrong passphrase', async () => {
    const before = readFileSync(join(alice.dir, 'keystore.json'));
    const r = await alice.run(['send', '@bob', 'never sent'], { env: { FASTCHAT_PASSPHRASE: 'not the passphrase' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^fastchat: error: wrong passphrase/m);
    assert.deepEqual(readFileSync(join(alice.dir, 'keystore.json')), before);
    const hist = jsonLines((await alice.ok(['history', '@bob', '--json'])).stdout);
    assert.equal(hist.some((m) => m.text === 'never sent'), false);
  });

  it('asks for FASTCHAT_PASSPHRASE when there is no terminal', async () => {
    const r = await alice.run(['history', '@bob'], { env: { FASTCHAT_PASSPHRASE: '' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no passphrase/);
    assert.match(r.stderr, /^hint: set FASTCHAT_PASSPHRASE/m);
  });

  it('refuses to register a taken username with a hint to log in', async () => {
    const carol = makeHome(tmp.root, 'carol');
    await carol.ok(['keygen']);
    const r = await carol.run(['register', 'bob', '--relay', relay.url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^fastchat: error: the username @bob is already taken/m);
    assert.match(r.stderr, /fastchat login bob/);
  });

  it('reports an unknown user and an unknown group with exit 1', async () => {
    const unknown = await alice.run(['send', '@nobody_here', 'hi']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown user @nobody_here/);
    const group = await alice.run(['send', '#team', 'hi']);
    assert.equal(group.code, 1);
    assert.match(group.stderr, /no group named #team/);
    const usage = await alice.run(['send', '@bob']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^fastchat: error: missing required argument/m);
  });

  it('blocks sending with exit 4 after the peer re-keys, until verify --accept', async () => {
    const fpBefore = JSON.parse((await alice.ok(['fingerprint', '@bob', '--json'])).stdout);
    await bob.ok(['keygen', '--force', '--yes']); // re-publishes the new keys, since bob is logged in
    const blocked = await alice.run(['send', '@bob', 'are you still you?']);
    assert.equal(blocked.code, 4);
    assert.match(blocked.stderr, /identity key of @bob has changed/);
    assert.match(blocked.stderr, /verify @bob --accept <safety number>/);
    const contacts = jsonLines((await alice.ok(['contacts', '--json'])).stdout);
    assert.equal(contacts.find((c) => c.username === 'bob')?.trust, 'changed');
    const fpAfter = JSON.parse((await alice.ok(['fingerprint', '@bob', '--json'])).stdout);
    assert.notEqual(fpAfter.safetyNumber, fpBefore.safetyNumber);

    const plainVerify = await alice.run(['verify', '@bob']);
    assert.equal(plainVerify.code, 4);
    const bare = await alice.run(['verify', '@bob', '--accept']);
    assert.equal(bare.code, 2, 'accepting names the key compared');
    await alice.ok(['verify', '@bob', '--accept', ...fpAfter.safetyNumber.split(' ')]);
    await alice.ok(['send', '@bob', 'welcome back']);
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(got.map((m) => m.text), ['welcome back']);
  });

  it('answers --help on every command', async () => {
    for (const cmd of ['keygen', 'register', 'login', 'logout', 'whoami', 'send', 'inbox', 'chat', 'history', 'who', 'contacts', 'fingerprint', 'verify', 'reset-sessions', 'group']) {
      const r = await alice.run([cmd, '--help']);
      assert.equal(r.code, 0, cmd);
      assert.match(r.stdout, new RegExp(`^Usage: fastchat ${cmd}`, 'm'));
    }
  });
});
