// The stale-epoch fence (docs/RELAY.md): a group message for an epoch older than one already stored
// for its group is refused, on both transports, unless the sender says it synced; in-process.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { GROUP_FORMAT_TAGS, GROUP_VERSION } from '../../crypto/consts.js';
import { toBase64url, u32 } from '../../crypto/encoding.js';
import { startRelay } from '../server.js';
import { RelayHttp, RelayWs } from '../../test/util/relay-client.js';

/** Just the cleartext prefix the relay reads, and some bytes: it verifies nothing else. */
function groupBody(groupId: number, epoch: number): string {
  const b = new Uint8Array(2 + 32 + 4 + 100);
  b[0] = GROUP_VERSION;
  b[1] = GROUP_FORMAT_TAGS.groupMessage;
  b.fill(groupId, 2, 34);
  b.set(u32(epoch), 34);
  return toBase64url(b);
}

async function relay(t: TestContext) {
  let clock = 1_700_000_000_000;
  const r = await startRelay({ port: 0, db: ':memory:', argon2MemoryKiB: 256, argon2Time: 1, logLevel: 'silent', messageTtlMs: 60_000 }, { now: () => clock });
  t.after(() => r.close());
  const user = async (name: string) => {
    const http = new RelayHttp(r.url);
    await http.signup(name, 'password123', 1);
    const ws = await RelayWs.connect(`${r.url.replace('http', 'ws')}/v1/ws`, http.token!);
    t.after(() => ws.terminate());
    await ws.next('hello');
    await ws.next('drained');
    return { http, ws };
  };
  const queued = async (u: string) => (await r.ctx.store.pending({ user: u, device: 1 }, 0, 1000)).map((m) => m.clientId);
  return { r, user, queued, advance: (ms: number) => (clock += ms) };
}

test('refuses a group message older than the newest epoch stored for its group, and a synced sender passes without lowering the fence', async (t) => {
  const { user, queued } = await relay(t);
  const a = await user('alice');
  await user('bob');
  const to = [{ user: 'bob', device: 1 }];
  assert.equal((await a.ws.sendMessage('e3', to, groupBody(7, 3))).type, 'sent');
  const ws = await a.ws.sendMessage('e2', to, groupBody(7, 2));
  assert.equal(ws.type, 'error');
  assert.equal(ws.code, 'stale_epoch');
  const http = await a.http.request('POST', '/v1/messages', { id: 'e2-http', to, body: groupBody(7, 2) });
  assert.equal(http.status, 409);
  assert.equal(http.body.error.code, 'stale_epoch');
  // Same epoch, a newer one, another group, a pairwise body: all pass.
  for (const [id, body] of [['e3b', groupBody(7, 3)], ['e4', groupBody(7, 4)], ['other', groupBody(8, 0)], ['pairwise', 'AQID']] as const) {
    assert.equal((await a.ws.sendMessage(id, to, body)).type, 'sent', id);
  }
  // A sender that synced and is still behind passes; the fence stays at 4.
  a.ws.send({ type: 'send', id: 'e2-synced', to, body: groupBody(7, 2), synced: true });
  assert.equal((await a.ws.next((f) => f.id === 'e2-synced')).type, 'sent');
  assert.equal((await a.ws.sendMessage('e3-late', to, groupBody(7, 3))).code, 'stale_epoch');
  // A resubmission of an id already stored is a duplicate, not stale.
  assert.equal((await a.ws.sendMessage('e3', to, groupBody(7, 3))).type, 'sent');
  assert.deepEqual(await queued('bob'), ['e3', 'e3b', 'e4', 'other', 'pairwise', 'e2-synced']);
});

test('forgets a group\'s fence a message TTL after its last message', async (t) => {
  const { r, user, advance } = await relay(t);
  const a = await user('alice');
  await user('bob');
  const to = [{ user: 'bob', device: 1 }];
  assert.equal((await a.ws.sendMessage('f9', to, groupBody(1, 9))).type, 'sent');
  assert.equal((await a.ws.sendMessage('f1', to, groupBody(1, 1))).code, 'stale_epoch');
  await r.ctx.store.sweep(advance(61_000), 60_000);
  assert.equal((await a.ws.sendMessage('f1-later', to, groupBody(1, 1))).type, 'sent');
});
