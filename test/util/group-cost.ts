// What a membership change costs in relay submissions, counted on real client cores (GroupSim: a
// store, keys and outbox per member, an in-memory relay) after every member has received and
// reacted to it. Used by test/group-cost.test.ts, and by scripts/group-cost.ts to print the counts
// for other group sizes.
import assert from 'node:assert/strict';
import { createGroup, parseGroupChange, type GroupOp } from '../../crypto/group/index.js';
import { tx } from '../../client/core/db.js';
import { commitChange, storeApplied } from '../../client/core/group-change.js';
import { queueRecords } from '../../client/core/group-keys.js';
import { loadGroup } from '../../client/core/group-store.js';
import { queueGroupMessage } from '../../client/core/groups.js';
import { GroupSim } from './group-sim.js';

/** Relay submissions: each pairwise message is one, a group message is one however many it fans out to. */
export interface Cost {
  pairwise: number;
  group: number;
}

/**
 * A group of `n` made by the first; then, each counted until every member has received everything and
 * sent what that made it send: the create, an add, a rename, a removal, and the second member's first message
 * after the removal; `readMs`: the client time each other member spent receiving that first message
 * (its new sender key and the message: median and max over the members, on an in-memory relay).
 */
export async function changeCosts(n: number): Promise<Record<'create' | 'add' | 'rename' | 'remove' | 'firstMessage', Cost> & { readMs: { median: number; max: number } }> {
  const names = Array.from({ length: n + 1 }, (_, i) => `member${String(i).padStart(4, '0')}`);
  const sim = await GroupSim.create(names);
  try {
    let mark = 0;
    /** Per member, the client time its receive passes took in the last counted step (ms). */
    const work = new Map<string, number>();
    const counted = async (): Promise<Cost> => {
      work.clear();
      // An honest relay delivering until nobody has anything left to receive (bounded: every
      // member's pass ends, and a round that delivers nothing ends the loop).
      for (let round = 0; round < 10 && sim.pending.length > 0; round++) {
        for (const u of names) {
          const started = performance.now();
          await sim.syncAll(u, () => {});
          work.set(u, (work.get(u) ?? 0) + performance.now() - started);
        }
      }
      assert.equal(sim.pending.length, 0, 'the group settled');
      const frames = sim.sent.slice(mark);
      mark = sim.sent.length;
      return { pairwise: frames.filter((f) => !f.group).length, group: new Set(frames.filter((f) => f.group).map((f) => `${f.from}/${f.clientId}`)).size };
    };
    const admin = sim.user(names[0]!);
    const others = names.slice(1, n).map((u) => ({ user: u, signPublic: sim.user(u).secrets.identity.signPublic }));
    const groupId = tx(admin.db, () => {
      const { state, record } = createGroup({ user: names[0]!, identity: admin.secrets.identity }, 'big', others, admin.random);
      for (const m of others) queueRecords(admin, m.user, [record]);
      storeApplied(admin, null, [{ record, change: parseGroupChange(record), state }]);
      return state.groupId;
    });
    await sim.flush(names[0]!);
    const create = await counted();
    const change = async (op: GroupOp): Promise<Cost> => {
      tx(admin.db, () => commitChange(admin, loadGroup(admin, groupId)!, op));
      await sim.flush(names[0]!);
      return counted();
    };
    const newcomer = names[n]!;
    const add = await change({ op: 'add', members: [{ user: newcomer, signPublic: sim.user(newcomer).secrets.identity.signPublic }] });
    const rename = await change({ op: 'rename', name: 'bigger' });
    const remove = await change({ op: 'remove', users: [newcomer] });
    const speaker = sim.user(names[1]!);
    queueGroupMessage(speaker, loadGroup(speaker, groupId)!, 'first-after-removal', 'hello', new Date(sim.clock).toISOString());
    await sim.flush(names[1]!);
    const firstMessage = await counted();
    // What reading that first message (and the new key before it) cost each other current member.
    const readers = names.slice(2, n).map((u) => work.get(u) ?? 0).sort((a, b) => a - b);
    const readMs = { median: readers[Math.floor(readers.length / 2)] ?? 0, max: readers.at(-1) ?? 0 };
    return { create, add, rename, remove, firstMessage, readMs };
  } finally {
    sim.close();
  }
}

