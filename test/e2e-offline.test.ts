// Store-and-forward through relay restarts, the local outbox while the relay is down, and the
// relay's blindness: after all this traffic its database and logs hold no plaintext and no
// private key of any home.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromBase64url, toBase64url, toHex } from '../crypto/encoding.js';
import { parsePublicIdentity } from '../crypto/identity.js';
import { sodiumReady, systemRandom } from '../crypto/sodium.js';
import { makeSealer } from '../client/core/at-rest.js';
import { openDb } from '../client/node/sqlite.js';
import { readKeystore } from '../client/core/keystore.js';
import { allOneTimePreKeys, getSignedPreKey } from '../client/core/prekey-store.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { jsonLines, makeTempRoot, type TestHome, startUsers } from './util/fastchat-cli.js';

describe('offline delivery, outbox and a blind relay', () => {
  let tmp: ReturnType<typeof makeTempRoot>;
  let dbPath: string;
  let relay: RelayProcess;
  const relayLogs: string[] = [];
  let alice: TestHome;
  let bob: TestHome;
  const plaintexts: string[] = [];

  async function restartRelay(): Promise<void> {
    const port = relay.port;
    await relay.stop();
    relayLogs.push(...relay.stdout, ...relay.stderr);
    relay = await startRelayProcess({ db: dbPath, port });
  }

  before(async () => {
    ({ relay, tmp, dbPath, homes: { alice, bob } } = await startUsers(['alice', 'bob']));
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('gives an offline bob all 20 messages in order, exactly once, across a relay restart', async () => {
    const texts = Array.from({ length: 20 }, (_, i) => `offline message ${i + 1} of 20, secret-${i}-${Math.random().toString(36).slice(2)}`);
    plaintexts.push(...texts);
    for (const [i, text] of texts.entries()) {
      if (i === 10) await restartRelay();
      const r = await alice.ok(['send', '@bob', text]);
      assert.match(r.stdout, /sent to @bob/);
    }
    await restartRelay();
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(got.map((m) => m.text), texts);
    assert.equal(new Set(got.map((m) => m.id)).size, 20);
    assert.ok(got.every((m) => m.from === 'alice' && m.group === null));
    const again = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.equal(again.length, 0);
  });

  it('queues a send while the relay is down (exit 0) and delivers it with the next command', async () => {
    const text = `sent while the relay was down ${Math.random().toString(36).slice(2)}`;
    plaintexts.push(text);
    const port = relay.port;
    await relay.stop();
    relayLogs.push(...relay.stdout, ...relay.stderr);
    const queued = await alice.run(['send', '@bob', text]);
    assert.equal(queued.code, 0, queued.stderr);
    assert.match(queued.stdout, /queued locally/);
    const json = await alice.run(['send', '--json', '@bob', `${text} (json)`]);
    plaintexts.push(`${text} (json)`);
    assert.equal(JSON.parse(json.stdout).status, 'queued');
    const hist = jsonLines((await alice.ok(['history', '@bob', '--json'])).stdout);
    assert.equal(hist.at(-1)?.status, 'queued');

    relay = await startRelayProcess({ db: dbPath, port });
    await alice.ok(['who']); // any command that reaches the relay flushes the outbox
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(got.map((m) => m.text), [text, `${text} (json)`]);
  });

  it('delivers a backlog queued while the relay was down in order when inbox sends it over its WebSocket', async () => {
    const texts = Array.from({ length: 30 }, (_, i) => `backlog ${i + 1} of 30 ${Math.random().toString(36).slice(2)}`);
    plaintexts.push(...texts);
    const port = relay.port;
    await relay.stop();
    relayLogs.push(...relay.stdout, ...relay.stderr);
    for (const text of texts) assert.match((await alice.ok(['send', '@bob', text])).stdout, /queued locally/);
    relay = await startRelayProcess({ db: dbPath, port });
    // inbox flushes the outbox over its socket, many sends in flight at once.
    await alice.ok(['inbox']);
    const hist = jsonLines((await alice.ok(['history', '@bob', '-n', '30', '--json'])).stdout);
    assert.ok(hist.every((m) => m.status === 'sent' || m.status === 'delivered'), JSON.stringify(hist.map((m) => m.status)));
    const got = jsonLines((await bob.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(got.map((m) => m.text), texts);
  });

  it('leaves no plaintext and no private key of any home in the relay database or logs', async () => {
    await sodiumReady();
    const reply = `bob's reply that the relay must not read ${Math.random().toString(36).slice(2)}`;
    plaintexts.push(reply);
    await bob.ok(['send', '@alice', reply]);
    await alice.ok(['inbox']);
    await relay.stop(); // flushes the WAL into the db file too
    relayLogs.push(...relay.stdout, ...relay.stderr);
    relay = await startRelayProcess({ db: dbPath, port: relay.port });

    const secrets: { what: string; bytes: Uint8Array }[] = [];
    for (const h of [alice, bob]) {
      const s = await readKeystore(join(h.dir, 'keystore.json'), h.env.FASTCHAT_PASSPHRASE!);
      secrets.push({ what: `${h.name} identity dh`, bytes: s.identity.dh.privateKey });
      secrets.push({ what: `${h.name} identity signing seed`, bytes: s.identity.signPrivate.slice(0, 32) });
      secrets.push({ what: `${h.name} storage key`, bytes: s.storageKey });
      const db = openDb(join(h.dir, 'store.db'));
      const sealer = makeSealer(s.storageKey, systemRandom());
      for (const k of allOneTimePreKeys(db, sealer)) secrets.push({ what: `${h.name} one-time prekey ${k.id}`, bytes: k.keyPair.privateKey });
      for (const { id } of db.prepare('SELECT id FROM signed_prekeys').all() as { id: number }[]) {
        secrets.push({ what: `${h.name} signed prekey ${id}`, bytes: getSignedPreKey(db, sealer, id)!.keyPair.privateKey });
      }
      db.close();
    }
    assert.ok(secrets.length > 200, 'the scan covers every prekey, not only identities');

    const haystacks: { name: string; data: Buffer }[] = [];
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(dbPath + suffix)) haystacks.push({ name: `relay.db${suffix}`, data: readFileSync(dbPath + suffix) });
    }
    relayLogs.push(...relay.stdout, ...relay.stderr);
    haystacks.push({ name: 'relay logs', data: Buffer.from(relayLogs.join('\n')) });
    assert.ok(haystacks[0]!.data.length > 0);

    const hits: string[] = [];
    for (const h of haystacks) {
      const text = h.data.toString('latin1');
      for (const p of plaintexts) {
        if (h.data.includes(Buffer.from(p))) hits.push(`plaintext "${p}" in ${h.name}`);
      }
      for (const s of secrets) {
        if (h.data.includes(Buffer.from(s.bytes))) hits.push(`${s.what} (raw) in ${h.name}`);
        if (text.includes(toBase64url(s.bytes))) hits.push(`${s.what} (base64url) in ${h.name}`);
        if (text.includes(toHex(s.bytes))) hits.push(`${s.what} (hex) in ${h.name}`);
      }
    }
    assert.deepEqual(hits, []);
    // The scan can find things: the relay does hold alice's public identity key.
    const pub = parsePublicIdentity(fromBase64url(JSON.parse(readFileSync(join(alice.dir, 'config.json'), 'utf8')).identity as string));
    const db = haystacks[0]!.data;
    assert.ok(db.includes(Buffer.from(pub.dhPublic)) || db.toString('latin1').includes(toBase64url(pub.dhPublic)), 'the public key is found');
  });
});
