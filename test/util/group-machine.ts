// The group state machine's property-test world (test/group-machine.test.ts): five real client
// cores on GroupSim, the actions fast-check draws for them and the hostile relay, the checks made
// after every frame, and the heal at the end. `scenario` runs one action list; a failing list that
// fast-check prints can be replayed with it (GM_DEBUG=1 prints what each client showed).
//
// What every member's client hands the relay is recorded as it leaves (GroupSim.onGroupPost), with
// the members its sender held as out at that moment: the removal check runs on exactly what was
// sent, and the liveness check (nothing an honest member can read stays unread) on who it went to.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toBase64url, toHex } from '../../crypto/encoding.js';
import {
  createGroup,
  decryptGroupMessage,
  encryptGroupMessage,
  parseGroupChange,
  peekGroupMessage,
  type GroupOp,
  type OurSenderKey,
  type TheirSenderKey,
} from '../../crypto/group/index.js';
import { tx } from '../../client/core/db.js';
import { commitChange, storeApplied } from '../../client/core/group-change.js';
import { epochInfo, listGroups, listPending, loadGroup, loadOurKey, loadTheirKey, saveOurKey, type StoredGroup } from '../../client/core/group-store.js';
import type { Client } from '../../client/core/context.js';
import { queueGroupMessage } from '../../client/core/groups.js';
import type { Incoming } from '../../client/core/incoming.js';
import { queueRecords } from '../../client/core/group-keys.js';
import { encodePayload } from '../../client/core/payload.js';
import { GroupSim, type Frame } from './group-sim.js';

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
type Name = (typeof NAMES)[number];

export type Action =
  | { t: 'change'; by: number; op: 'add' | 'remove' | 'rename' | 'promote'; who: number; sync: boolean }
  | { t: 'send'; by: number; sync: boolean }
  | { t: 'deliver'; pick: number }
  | { t: 'replay'; pick: number }
  | { t: 'drop'; pick: number }
  | { t: 'outcast'; by: number } // a member that is out keeps sending with its last key
  | { t: 'wait'; minutes: number };

export const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('change' as const), by: fc.nat(4), op: fc.constantFrom('add' as const, 'remove' as const, 'rename' as const, 'promote' as const), who: fc.nat(4), sync: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('send' as const), by: fc.nat(4), sync: fc.boolean() }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant('deliver' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('replay' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('drop' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('outcast' as const), by: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('wait' as const), minutes: fc.integer({ min: 1, max: 30 }) }) },
);

interface Sent {
  by: string;
  id: string;
  body: Uint8Array;
  /** Whom the relay was asked to deliver it to. */
  to: string[];
  /** Members the sender had applied removals of (it held them as out when it sent). */
  outAtSend: Set<string>;
}

class World {
  everMember = new Set<string>(['alice', 'bob', 'carol', 'dave']);
  /** Every receiving chain each user's store ever held (what a hostile client could have kept). */
  keysEver = new Map<string, Map<string, TheirSenderKey>>();
  /** The newest sending key each user's store ever held (what an outcast's client could keep). */
  oursEver = new Map<string, OurSenderKey>();
  /** Every group message honest clients handed the relay, as it left. */
  sent: Sent[] = [];
  /** Every group message body by payload id, outcasts' too. */
  bodies = new Map<string, Uint8Array>();
  groupId!: Uint8Array;
  dropped = 0;
  forks = 0;

  constructor(readonly sim: GroupSim) {
    sim.onGroupPost = (p) => {
      const c = sim.user(p.from);
      const g = loadGroup(c, this.groupId)!;
      const out = new Set([...this.everMember].filter((u) => !g.state.members.some((m) => m.user === u)));
      this.sent.push({ by: p.from, id: p.messageId, body: p.body, to: p.to, outAtSend: out });
      this.bodies.set(p.messageId, p.body);
    };
  }

  snapshotKeys(): void {
    for (const [name, c] of this.sim.users) {
      const mine = this.keysEver.get(name) ?? new Map<string, TheirSenderKey>();
      for (const r of c.db.prepare('SELECT group_id, sender, device, epoch FROM group_sender_keys WHERE ours = 0').all() as { group_id: Buffer; sender: string; device: number; epoch: number }[]) {
        const k = loadTheirKey(c, new Uint8Array(r.group_id), r.sender, r.device, r.epoch)!;
        mine.set(`${k.sender}/${k.epoch}/${toHex(k.signPublic)}`, k);
      }
      this.keysEver.set(name, mine);
      const ours = this.groupId && loadOurKey(c, this.groupId, name);
      if (ours && ours.epoch >= (this.oursEver.get(name)?.epoch ?? -1)) this.oursEver.set(name, ours);
    }
  }

  /** Checks what one client showed against the state it holds right after. */
  check(receiver: string, shown: Incoming[]): void {
    if (process.env.GM_DEBUG) for (const m of shown) console.error(receiver, m.kind, (m as any).text ?? (m as any).reason ?? "", (m as any).message ?? "");
    const c = this.sim.user(receiver);
    for (const m of shown) {
      if (m.kind === 'group_fork') this.forks++;
      if (m.kind !== 'text' || !m.group) continue;
      const g = loadGroup(c, this.groupId)!;
      assert.ok(g.state.members.some((x) => x.user === m.from), `${receiver} showed a message from @${m.from}, who is not a member of the group it holds`);
      assert.equal(g.status, 'active', `${receiver} showed a group message while out of the group`);
      // It was sent on the receiver's history of its epoch: nothing crosses a fork.
      const h = peekGroupMessage(this.bodies.get(m.id)!);
      assert.equal(toHex(epochInfo(c, this.groupId, h.epoch)!.transcript), toHex(h.transcript), `${receiver} showed a message from another history of epoch ${h.epoch}`);
    }
  }

  /**
   * No message sent by a member that held X as out opens under any key X ever held, tried the way
   * a modified client would: under the view the message names, with no key floor, whatever key
   * epoch it claims.
   */
  checkOutcasts(): void {
    for (const s of this.sent) {
      const h = peekGroupMessage(s.body);
      const view = { groupId: h.groupId, epoch: h.epoch, transcript: h.transcript, keyFloor: 0 };
      for (const x of s.outAtSend) {
        assert.ok(!s.to.includes(x), `@${s.by} sent to @${x}, whom it held as out`);
        for (const k of this.keysEver.get(x)?.values() ?? []) {
          assert.throws(() => decryptGroupMessage({ ...k, epoch: h.keyEpoch }, view, s.body), `@${x}, out of the group, opened a message @${s.by} sent after applying that`);
        }
      }
    }
  }

  /**
   * With nothing dropped and the relay healed, nothing an honest member can read is left unread:
   * a message sent at the epoch a recipient ends at, on its history, by someone it still holds as
   * a member, is shown to it (the old-epoch grace cannot have refused it); and no message from a
   * member on its history waits in its store for a key that never came.
   */
  checkReadable(): void {
    for (const [name, c] of this.sim.users) {
      const g = loadGroup(c, this.groupId);
      if (!g || g.status !== 'active') continue;
      const onHistory = (epoch: number, transcript: Uint8Array): boolean => {
        const e = epochInfo(c, this.groupId, epoch);
        return e !== undefined && toHex(e.transcript) === toHex(transcript);
      };
      for (const s of this.sent) {
        if (!s.to.includes(name) || s.by === name) continue;
        const h = peekGroupMessage(s.body);
        if (h.epoch !== g.state.epoch || !onHistory(h.epoch, h.transcript) || !g.state.members.some((m) => m.user === s.by)) continue;
        const row = c.db.prepare('SELECT 1 FROM group_messages WHERE group_id = ? AND sender = ? AND id = ?').get(Buffer.from(this.groupId), s.by, s.id);
        assert.ok(row, `${name} never read @${s.by}'s message ${s.id} of epoch ${h.epoch}, its current epoch`);
      }
      // Held messages an honest member addressed to this one (not what an outcast or the relay
      // pushed at it), on its history, from someone it holds as a member: none may be left.
      const addressed = new Set(this.sent.filter((s) => s.to.includes(name)).map((s) => toHex(s.body)));
      for (const p of listPending(c, this.groupId)) {
        if (p.kind !== 'message' || !addressed.has(toHex(p.body))) continue;
        const h = peekGroupMessage(p.body);
        if (h.epoch > g.state.epoch || !onHistory(h.epoch, h.transcript) || !g.state.members.some((m) => m.user === p.sender)) continue;
        assert.fail(`${name} still holds @${p.sender}'s message of epoch ${h.epoch} waiting for a key`);
      }
    }
  }
}

async function setUp(): Promise<World> {
  const sim = await GroupSim.create([...NAMES]);
  const w = new World(sim);
  const alice = sim.user('alice');
  const members = (['bob', 'carol', 'dave'] as const).map((u) => ({ user: u, signPublic: sim.user(u).secrets.identity.signPublic }));
  tx(alice.db, () => {
    const { state, record } = createGroup({ user: 'alice', identity: alice.secrets.identity }, 'team', members, alice.random);
    for (const m of members) queueRecords(alice, m.user, [record]);
    storeApplied(alice, null, [{ record, change: parseGroupChange(record), state }]);
    w.groupId = state.groupId;
  });
  await sim.flush('alice');
  // Bob is an admin too, so two admins can change the group at once.
  tx(alice.db, () => commitChange(alice, loadGroup(alice, w.groupId)!, { op: 'promote', users: ['bob'] }));
  await sim.flush('alice');
  // A healthy start: everyone has the group and everyone's key.
  for (let round = 0; round < 4; round++) for (const n of NAMES) await sim.syncAll(n, (shown) => w.check(n, shown));
  w.snapshotKeys();
  return w;
}

/** `by` about to act: an honest client first receives what the relay lets through (`sync`); undefined once it is out. */
async function actAs(w: World, by: Name, sync: boolean): Promise<{ c: Client; g: StoredGroup } | undefined> {
  if (sync) await w.sim.syncAll(by, (shown) => w.check(by, shown));
  const c = w.sim.user(by);
  const g = loadGroup(c, w.groupId);
  return g && g.status === 'active' ? { c, g } : undefined;
}

async function run(w: World, a: Action, allowDrops: boolean): Promise<void> {
  const sim = w.sim;
  sim.clock += 1000;
  const name = (i: number): Name => NAMES[i % NAMES.length]!;
  switch (a.t) {
    case 'change': {
      // The actors are chosen among those who can act, so most generated changes do something.
      const admins = NAMES.filter((n) => {
        const g = loadGroup(sim.user(n), w.groupId);
        return g?.status === 'active' && g.state.admins.includes(n);
      });
      if (admins.length === 0) return;
      const by = admins[a.by % admins.length]!;
      const actor = await actAs(w, by, a.sync);
      if (!actor) return;
      const { c, g } = actor;
      const members = g.state.members.map((m) => m.user);
      const pool =
        a.op === 'add' ? NAMES.filter((n) => !members.includes(n)) : a.op === 'promote' ? members.filter((n) => !g.state.admins.includes(n)) : members.filter((n) => n !== by);
      const who = pool.length > 0 ? pool[a.who % pool.length]! : name(a.who);
      const op: GroupOp =
        a.op === 'add'
          ? { op: 'add', members: [{ user: who, signPublic: sim.user(who).secrets.identity.signPublic }] }
          : a.op === 'rename'
            ? { op: 'rename', name: `team ${sim.clock % 1000}` }
            : { op: a.op, users: [who] };
      try {
        tx(c.db, () => commitChange(c, loadGroup(c, w.groupId)!, op));
      } catch (e) {
        if ((e as { code?: string }).code === undefined) throw e;
        return; // not allowed or does not apply: the client refuses it before anything leaves
      }
      if (a.op === 'add') w.everMember.add(who);
      await sim.flush(by);
      return;
    }
    case 'send': {
      const senders = NAMES.filter((n) => loadGroup(sim.user(n), w.groupId)?.status === 'active');
      if (senders.length === 0) return;
      const by = senders[a.by % senders.length]!;
      const actor = await actAs(w, by, a.sync);
      if (!actor) return;
      const { c, g } = actor;
      queueGroupMessage(c, g, `m${sim.clock}${by}`, `hello from ${by}`, new Date(sim.clock).toISOString());
      await sim.flush(by);
      return;
    }
    case 'outcast': {
      // A member that is out (it applied its removal, or never saw it) keeps sending with the
      // last key it has, straight to the relay: a modified client. Someone alice holds as out, if
      // there is anyone.
      const aliceView = loadGroup(sim.user('alice'), w.groupId)!.state.members.map((m) => m.user);
      const out = NAMES.filter((n) => w.everMember.has(n) && !aliceView.includes(n));
      const by = out.length > 0 ? out[a.by % out.length]! : name(a.by);
      const c = sim.user(by);
      const g = loadGroup(c, w.groupId);
      // The key its store holds (moved on in the store, as its own client would), else the newest
      // it ever held (a modified client keeps what the honest one deleted on applying its removal).
      const stored = g ? loadOurKey(c, w.groupId, by) : undefined;
      const ours = stored ?? w.oursEver.get(by);
      if (!g || !ours) return;
      const id = `x${sim.clock}${by}`;
      const payload = encodePayload({ v: 1, type: 'text', id, text: `outcast ${by}`, sentAt: new Date(sim.clock).toISOString() });
      // On the newest state it holds, ignoring any key floor (its client does not care).
      const { state, message } = encryptGroupMessage(ours, { ...g.state, keyFloor: 0, epoch: Math.max(g.state.epoch, ours.epoch) }, payload, c.random);
      if (stored) saveOurKey(c, state);
      w.oursEver.set(by, state);
      w.bodies.set(id, message);
      for (const u of NAMES) if (u !== by) sim.pending.push({ seq: sim.sent.length + 100_000, to: u, from: by, clientId: `x${sim.clock}${by}${u}`, body: toBase64url(message), group: true });
      return;
    }
    case 'deliver': {
      if (sim.pending.length === 0) return;
      const f = sim.pending[a.pick % sim.pending.length]!;
      w.check(f.to, await sim.deliver(f));
      return;
    }
    case 'replay': {
      if (sim.sent.length === 0) return;
      const f = sim.sent[a.pick % sim.sent.length]!;
      // The same ciphertext under a new relay id: the client must not show it twice.
      const again: Frame = { ...f, clientId: `${f.clientId}-again${a.pick}` };
      w.check(f.to, await sim.deliver(again));
      return;
    }
    case 'drop': {
      if (!allowDrops || sim.pending.length === 0) return;
      sim.pending.splice(a.pick % sim.pending.length, 1);
      w.dropped++;
      return;
    }
    case 'wait':
      sim.clock += a.minutes * 60_000;
      return;
  }
}

/** The relay turns honest: everything still pending is delivered, each member syncing in turn. */
async function heal(w: World): Promise<void> {
  for (let round = 0; round < 20 && w.sim.pending.length > 0; round++) {
    for (const n of NAMES) await w.sim.syncAll(n, (shown) => w.check(n, shown));
  }
  assert.equal(w.sim.pending.length, 0, 'the group settles: nothing is still being sent after healing');
}

function histories(w: World): Map<string, string> {
  const out = new Map<string, string>();
  for (const [n, c] of w.sim.users) {
    const g = listGroups(c).find((x) => toHex(x.groupId) === toHex(w.groupId));
    if (g && g.status === 'active') out.set(n, `${g.state.epoch}:${toHex(g.state.transcript)}`);
  }
  return out;
}

export async function scenario(actions: Action[], allowDrops: boolean): Promise<void> {
  const w = await setUp();
  try {
    for (const a of actions) {
      await run(w, a, allowDrops);
      w.snapshotKeys();
    }
    w.checkOutcasts();
    await heal(w);
    w.snapshotKeys();
    w.checkOutcasts();
    if (w.dropped === 0) {
      // Nothing withheld for good: every member still in the group is on one history, and has
      // read what it can read.
      const h = histories(w);
      assert.equal(new Set(h.values()).size, 1, `members ended on different histories: ${JSON.stringify([...h])}`);
      w.checkReadable();
    }
  } finally {
    w.sim.close();
  }
}

