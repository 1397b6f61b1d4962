import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acceptSenderKeyDistribution, createGroup, createSenderKey, encodeSenderKeyDistribution, senderKeyDistribution } from '../../crypto/group/index.js';
import { generateIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { GROUP_LATE_GRACE_MS } from '../../crypto/consts.js';
import { CliError } from '../errors.js';
import { makeSealer } from './at-rest.js';
import { withPageReads, type DB } from './db.js';
import { openTestStore as openDb } from '../../test/util/client-store.js';
import { dropExpiredChains, groupLabel, listGroups, loadGroup, loadTheirKey, PageSenderKeys, saveGroup, saveTheirKey, startedEpoch } from './group-store.js';
import { resolveGroup } from './groups.js';

describe('group names', () => {
  let dir: string;
  let db: DB;
  let store: { db: DB; sealer: ReturnType<typeof makeSealer> };

  before(async () => {
    await sodiumReady();
    dir = mkdtempSync(join(tmpdir(), 'fastchat-groups-unit-'));
    db = openDb(join(dir, 'store.db'));
    const random = systemRandom();
    store = { db, sealer: makeSealer(random(32), random) };
    const alice = { user: 'alice', identity: generateIdentity(random) };
    let t = 1;
    for (const name of ['team', 'team', 'ops']) saveGroup(store, createGroup(alice, name, [], random).state, 'active', t++);
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows a unique name bare and two groups of one name with a short id each', () => {
    const all = listGroups(store);
    const labels = all.map((g) => groupLabel(all, g));
    assert.equal(labels[2], 'ops');
    for (const [i, l] of labels.slice(0, 2).entries()) assert.equal(l, `team~${all[i]!.idHex.slice(0, l.length - 5)}`);
    assert.notEqual(labels[0], labels[1]);
  });

  it('resolves #name~id to its group and refuses an ambiguous #name as a usage error', () => {
    const all = listGroups(store);
    const second = all[1]!;
    assert.equal(resolveGroup(store, `#${groupLabel(all, second)}`).idHex, second.idHex);
    assert.equal(resolveGroup(store, '#ops').state.name, 'ops');
    assert.throws(() => resolveGroup(store, '#team'), (e: unknown) => e instanceof CliError && e.exitCode === 2 && /names 2 groups/.test(e.message));
    assert.throws(() => resolveGroup(store, '#nope'), (e: unknown) => e instanceof CliError && e.code === 'unknown_group');
  });

  it('opens a group again when its row changes, never under another key, and its cached state cannot be changed in place', () => {
    const ops = listGroups(store).find((g) => g.state.name === 'ops')!;
    assert.equal(loadGroup(store, ops.groupId)!.state, loadGroup(store, ops.groupId)!.state, 'the same row bytes give the state already opened');
    // A new row (saveGroup writes it and leaves the cache alone, as another process sharing the
    // home would): the next read sees it.
    saveGroup(store, { ...ops.state, name: 'ops-renamed' }, 'active', ops.createdAt);
    assert.equal(loadGroup(store, ops.groupId)!.state.name, 'ops-renamed');
    // The same bytes read under another storage key are unsealed (and fail), not answered from the cache.
    const random = systemRandom();
    assert.throws(() => loadGroup({ db, sealer: makeSealer(random(32), random) }, ops.groupId));
    const state = loadGroup(store, ops.groupId)!.state;
    assert.throws(() => state.members.push(state.members[0]!), TypeError);
    assert.throws(() => {
      state.name = 'changed';
    }, TypeError);
    assert.equal(loadGroup(store, ops.groupId)!.state.name, 'ops-renamed');
  });

  it("does not put back at a page's end a receiving chain whose row a delete took during the page", () => {
    const random = systemRandom();
    const alice = { user: 'alice', identity: generateIdentity(random) };
    const { state } = createGroup(alice, 'keys', [], random);
    const chain = acceptSenderKeyDistribution(state, state.members[0]!, encodeSenderKeyDistribution(senderKeyDistribution(createSenderKey(state, 'alice', random), state)));
    db.transaction(() => {
      saveTheirKey(store, chain, 1);
      const page = new PageSenderKeys(store);
      assert.ok(page.load(state.groupId, 'alice', 1, 0));
      page.put({ ...chain, counter: 1 }, 1);
      // No epoch row serves the chain (this group's epochs were never stored): it goes, as a chain does once its grace is over.
      assert.equal(dropExpiredChains(store, state.groupId, Date.now()), 1);
      page.forgetDeleted();
      page.writeBack();
    }).immediate();
    assert.equal(loadTheirKey(store, state.groupId, 'alice', 1, 0), undefined);
  });

  it('within a page, drops a receiving chain at the first message after its grace ends, counting from an epoch that started during the page', () => {
    const random = systemRandom();
    const alice = { user: 'alice', identity: generateIdentity(random) };
    const { state } = createGroup(alice, 'grace', [], random);
    const chain = acceptSenderKeyDistribution(state, state.members[0]!, encodeSenderKeyDistribution(senderKeyDistribution(createSenderKey(state, 'alice', random), state)));
    const t = 1_000_000;
    db.transaction(() =>
      withPageReads(db, () => {
        startedEpoch(store, state, t);
        saveTheirKey(store, chain, 1);
        // Epoch 0 is current: the chain is served, whatever the time (the page keeps that answer).
        assert.equal(dropExpiredChains(store, state.groupId, t), 0);
        // A removal starts epoch 1 with a key floor past the chain: epoch 0 ends, its grace runs.
        startedEpoch(store, { ...state, epoch: 1, keyFloor: 1 }, t + 1);
        assert.equal(dropExpiredChains(store, state.groupId, t + GROUP_LATE_GRACE_MS), 0, 'within the grace');
        assert.equal(dropExpiredChains(store, state.groupId, t + 1 + GROUP_LATE_GRACE_MS), 1, 'the grace is over');
      }),
    ).immediate();
    assert.equal(loadTheirKey(store, state.groupId, 'alice', 1, 0), undefined);
  });
});
