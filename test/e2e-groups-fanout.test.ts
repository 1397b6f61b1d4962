// A 20-member group: one `fastchat send #big` (the real binary) is one upload that the relay stores
// once and fans out to 19 recipients. Nineteen homes are set up through the client core in this
// process (keygen + register through the binary would cost two process starts each).
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import { closeAgents } from '../client/core/relay-http.js';
import { withCore } from './util/client-core.js';
import { jsonLines, makeHome, makeTempRoot, setUpUser, TEST_CLIENT_ENV, type TestHome } from './util/fastchat-cli.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';

/** keygen + register for one home through the core; the core reads its home and secrets from env. */
async function setUpInProcess(home: TestHome, relayUrl: string): Promise<void> {
  const { keygen } = await import('../client/core/keygen.js');
  const { register } = await import('../client/core/account.js');
  const saved = { ...process.env };
  Object.assign(process.env, TEST_CLIENT_ENV, home.env);
  try {
    const c = await keygen({ force: false });
    try {
      await register(c, home.name, relayUrl, undefined);
    } finally {
      c.close();
    }
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

async function storedTotal(relay: RelayProcess): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  const m = /^fastchat_messages_stored_total (\d+)/m.exec(text);
  assert.ok(m, 'the relay exports fastchat_messages_stored_total');
  return Number(m[1]);
}

describe('a 20-member group', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let others: TestHome[];

  before(async () => {
    relay = await startRelayProcess({ args: ['--rate-limit-address', '1000'] }); // many logins from 127.0.0.1
    tmp = makeTempRoot('fastchat-fanout-');
    alice = makeHome(tmp.root, 'alice');
    others = Array.from({ length: 19 }, (_, i) => makeHome(tmp.root, `m${String(i + 1).padStart(2, '0')}`));
    await setUpUser(alice, relay.url);
    for (const h of others) await setUpInProcess(h, relay.url);
  });
  after(async () => {
    closeAgents();
    await relay?.stop();
    tmp?.cleanup();
  });

  it('sends one message as one upload that the relay fans out to the 19 other members, after one key per member on the first', async () => {
    const start = await storedTotal(relay);
    const created = JSON.parse((await alice.ok(['group', 'create', '#big', ...others.map((h) => `@${h.name}`), '--json'])).stdout);
    assert.equal(created.members.length, 20);
    assert.equal((await storedTotal(relay)) - start, 19, 'the create cost one record per member, nothing more');

    const first = await storedTotal(relay);
    const hello = JSON.parse((await alice.ok(['send', '#big', 'the first message', '--json'])).stdout);
    assert.equal(hello.status, 'sent');
    assert.equal((await storedTotal(relay)) - first, 19 + 1, 'the first message: her key to each member, then one upload');

    const before = await storedTotal(relay);
    const sent = JSON.parse((await alice.ok(['send', '#big', 'one upload for all', '--json'])).stdout);
    assert.equal(sent.status, 'sent');
    assert.equal(sent.recipients, 19);
    assert.equal((await storedTotal(relay)) - before, 1, 'the relay stored exactly one message for the send');

    const db = new Database(relay.db, { readonly: true, fileMustExist: true });
    try {
      // The group message is the last body alice stored (client ids are random and name nothing).
      const rows = db.prepare("SELECT id, body FROM messages WHERE sender = 'alice' ORDER BY id DESC LIMIT 1").all() as { id: number; body: Uint8Array }[];
      assert.equal(rows.length, 1, 'one stored body');
      assert.equal(rows[0]!.body[1], 0x33, 'a group message (tag 0x33)');
      const to = db.prepare('SELECT username FROM deliveries WHERE message_id = ? ORDER BY username').all(rows[0]!.id) as { username: string }[];
      assert.deepEqual(to.map((r) => r.username), others.map((h) => h.name), 'one delivery per other member');
    } finally {
      db.close();
    }

    // Two recipients read it: one through the binary, one through the core.
    const read = jsonLines((await others[0]!.ok(['inbox', '--json'])).stdout);
    assert.deepEqual(read.map((m) => [m.group, m.from, m.text]), [['big', 'alice', 'the first message'], ['big', 'alice', 'one upload for all']]);
    const last = await withCore(others[18]!, async (c) => {
      const { syncInbox } = await import('../client/core/sync.js');
      const { relayTarget } = await import('../client/core/context.js');
      const got: { from: string; text: string; group?: string }[] = [];
      await syncInbox(c, relayTarget(c), { onIncoming: (m) => void (m.kind === 'text' && got.push({ from: m.from, text: m.text, group: m.group?.label })), onWarning: () => {} });
      return got;
    });
    assert.deepEqual(last, [{ from: 'alice', text: 'the first message', group: 'big' }, { from: 'alice', text: 'one upload for all', group: 'big' }]);
  });
});
