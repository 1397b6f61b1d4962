// The end-to-end suite's core flows against a relay of three nodes (test/util/cluster.ts: one
// PostgreSQL database, one nats-server, a shared blob directory), with the real `fastchat` binary:
// alice's home talks to node 0, bob's to node 1, carol's to node 2, so every message, file and
// group change crosses nodes. Private and group messages, files, offline delivery, live delivery
// to a waiting inbox, and presence.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeAgents } from '../client/core/relay-http.js';
import { startCluster, type Cluster } from './util/cluster.js';
import { jsonLines, makeHome, makeTempRoot, setUpUser, type TestHome } from './util/fastchat-cli.js';
import { waitFor } from './util/fault.js';

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

async function inbox(home: TestHome): Promise<any[]> {
  return jsonLines((await home.ok(['inbox', '--json'])).stdout);
}

/** WebSocket connections a node holds (its /metrics). */
async function sockets(url: string): Promise<number> {
  return Number(/^fastchat_ws_connections (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN);
}

describe('alice, bob and carol on three nodes of one relay', { timeout: 300_000 }, () => {
  let c: Cluster;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let carol: TestHome;

  before(async () => {
    // Grace 0: `who` below must not still list the users whose commands ended a moment ago (the
    // grace itself is tested in test/presence-reconnect.test.ts and test/cluster-relay.test.ts).
    c = await startCluster(3, { args: ['--rate-limit-address', '1000', '--presence-grace-ms', '0'] });
    tmp = makeTempRoot('fastchat-e2e-cluster-');
    [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => makeHome(tmp.root, n)) as [TestHome, TestHome, TestHome];
    await Promise.all([setUpUser(alice, c.nodes[0]!.url), setUpUser(bob, c.nodes[1]!.url), setUpUser(carol, c.nodes[2]!.url)]);
  });
  after(async () => {
    closeAgents();
    await c?.stop();
    tmp?.cleanup();
  });

  it('exchanges private messages across nodes, each shown once', async () => {
    await alice.ok(['send', '@bob', 'hello bob, from node 0']);
    const got = await inbox(bob);
    assert.deepEqual(got.map((m) => `${m.from}:${m.text}`), ['alice:hello bob, from node 0']);
    await bob.ok(['send', '@alice', 'hello alice, from node 1']);
    assert.deepEqual((await inbox(alice)).map((m) => `${m.from}:${m.text}`), ['bob:hello alice, from node 1']);
    assert.deepEqual(await inbox(bob), [], 'nothing twice');
  });

  it('delivers a backlog from two senders on two nodes to an offline recipient on a third, in each sender\'s order, once', async () => {
    for (let i = 1; i <= 8; i++) await alice.ok(['send', '@carol', `a${i}`]);
    for (let i = 1; i <= 5; i++) await bob.ok(['send', '@carol', `b${i}`]);
    const got = await inbox(carol);
    const from = (who: string): string[] => got.filter((m) => m.from === who).map((m) => m.text);
    assert.deepEqual(from('alice'), ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8']);
    assert.deepEqual(from('bob'), ['b1', 'b2', 'b3', 'b4', 'b5']);
    assert.deepEqual(await inbox(carol), []);
  });

  it('pushes a message live to an inbox waiting on another node', async () => {
    const waiting = bob.run(['inbox', '--wait', '60', '--json']);
    await waitFor(async () => (await sockets(c.nodes[1]!.url)) === 1, 20_000, "bob's inbox to connect to node 1", 100);
    // carol is in nobody's audience yet for bob: the presence rule is checked in the relay tests.
    await carol.ok(['send', '@bob', 'live through node 2']);
    const r = await waiting;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(jsonLines(r.stdout).map((m) => `${m.from}:${m.text}`), ['carol:live through node 2']);
  });

  it('runs a group across the three nodes: create, messages from each member, each seen once', async () => {
    const created = JSON.parse((await alice.ok(['group', 'create', '#team', '@bob', '@carol', '--json'])).stdout);
    assert.deepEqual(created.members, ['alice', 'bob', 'carol']);
    await bob.ok(['inbox']);
    await carol.ok(['inbox']);
    await alice.ok(['inbox']);
    await alice.ok(['send', '#team', 'hi from node 0']);
    await bob.ok(['send', '#team', 'hi from node 1']);
    await carol.ok(['send', '#team', 'hi from node 2']);
    const pairs = async (h: TestHome): Promise<string[]> => (await inbox(h)).filter((m) => m.group === 'team').map((m) => `${m.from}:${m.text}`).sort();
    assert.deepEqual(await pairs(alice), ['bob:hi from node 1', 'carol:hi from node 2']);
    assert.deepEqual(await pairs(bob), ['alice:hi from node 0', 'carol:hi from node 2']);
    assert.deepEqual(await pairs(carol), ['alice:hi from node 0', 'bob:hi from node 1']);
  });

  it('sends files through one node and fetches them through others from the shared blob directory, which is empty once all acknowledged', async () => {
    const p = join(tmp.root, 'report.bin');
    writeFileSync(p, randomBytes(300_000));
    assert.equal(JSON.parse((await alice.ok(['send-file', '@bob', p, '--json'])).stdout).status, 'sent');
    const m = (await inbox(bob)).find((x) => x.file);
    assert.ok(m, 'bob got the file');
    assert.equal(sha(m.file.path), sha(p));
    const g = join(tmp.root, 'plan.md');
    writeFileSync(g, '# plan\n'.repeat(4000));
    assert.equal(JSON.parse((await carol.ok(['send-file', '#team', g, '--json'])).stdout).recipients, 2);
    for (const h of [alice, bob]) {
      const f = (await inbox(h)).find((x) => x.file);
      assert.ok(f, `${h.name} got the group file`);
      assert.equal(sha(f.file.path), sha(g));
    }
    assert.deepEqual(readdirSync(c.blobDir), [], 'every blob deleted after its recipients acknowledged it');
  });

  it('shows presence across nodes: bob, who alice wrote to, sees her online while her inbox waits on node 0', async () => {
    const waiting = alice.run(['inbox', '--wait', '60']);
    await waitFor(async () => (await sockets(c.nodes[0]!.url)) === 1, 20_000, "alice's inbox to connect to node 0", 100);
    assert.deepEqual(JSON.parse((await bob.ok(['who', '--json'])).stdout), { online: ['alice'] });
    await bob.ok(['send', '@alice', 'that ends your wait']);
    assert.equal((await waiting).code, 0);
  });
});
