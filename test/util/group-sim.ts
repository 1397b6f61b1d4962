// A group of real client cores (real SQLite stores, real sessions, the real receive code) joined by
// a relay the test controls frame by frame: it delivers what it wants, to whom it wants, in any
// order, as often as it wants, or never. For the group state machine's property tests; the
// end-to-end tests use the real relay and binary instead.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { generateSignedPreKey, publicSignedPreKey, type PreKeyBundle } from '../../crypto/prekeys.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { assembleClient } from '../../client/core/assemble.js';
import { observeIdentity } from '../../client/core/contacts.js';
import type { Client } from '../../client/core/context.js';
import { openDb } from '../../client/node/sqlite.js';
import { homePaths } from '../../client/core/home.js';
import type { Incoming } from '../../client/core/incoming.js';
import { processIncoming } from '../../client/core/incoming.js';
import { flushGroupOutbox } from '../../client/core/group-outbox.js';
import { checkBundles, encryptQueued } from '../../client/core/outbox.js';
import { currentSignedPreKey, saveSignedPreKey } from '../../client/core/prekey-store.js';
import { sessionDevices } from '../../client/core/sessions.js';

export interface Frame {
  seq: number;
  to: string;
  from: string;
  clientId: string;
  body: string;
  group: boolean;
}

/** One group message as its sender's client handed it to the relay: one body, many recipients. */
export interface GroupPost {
  from: string;
  messageId: string;
  to: string[];
  body: Uint8Array;
}

export class GroupSim {
  readonly users = new Map<string, Client>();
  /** Frames the relay holds and has not delivered (it may still deliver them, or never). */
  pending: Frame[] = [];
  /** Every frame ever handed to the relay, for replays. */
  readonly sent: Frame[] = [];
  private seq = 0;
  clock = Date.UTC(2030, 0, 1);
  /** Told of every group message a client posts (before its frames are queued). */
  onGroupPost: ((p: GroupPost) => void) | undefined;

  private constructor(private readonly dir: string) {}

  /** `introduce`: everyone has looked everyone up once (else only as bundles are fetched). */
  static async create(names: string[], opts: { introduce?: boolean } = {}): Promise<GroupSim> {
    await sodiumReady();
    const sim = new GroupSim(mkdtempSync(join(tmpdir(), 'fastchat-groupsim-')));
    for (const name of names) {
      const random = systemRandom();
      const home = homePaths(join(sim.dir, name));
      const secrets = { identity: generateIdentity(random), storageKey: random(32) };
      const c = assembleClient({ home, config: { username: name, deviceId: 1 }, secrets, db: openDb(join(sim.dir, `${name}.db`)), random, keystoreWasCurrent: false });
      c.now = () => sim.clock;
      // A signed prekey only: the sim's bundles carry no one-time prekey (X3DH allows it).
      saveSignedPreKey(c.db, c.sealer, generateSignedPreKey(c.secrets.identity, 1, sim.clock, random));
      sim.users.set(name, c);
    }
    // Everyone has looked everyone up in the key directory once (trust on first use), as a member
    // does before a group change names someone.
    if (opts.introduce ?? true) {
      for (const [a, ca] of sim.users) for (const [b, cb] of sim.users) if (a !== b) observeIdentity(ca, b, publicIdentity(cb.secrets.identity), sim.clock);
    }
    return sim;
  }

  user(name: string): Client {
    return this.users.get(name)!;
  }

  /** A bundle for `name` without a one-time prekey (X3DH allows it), so bundles never run out. */
  private bundle(name: string): PreKeyBundle {
    const c = this.user(name);
    return { address: { user: name, device: 1 }, identity: publicIdentity(c.secrets.identity), signedPreKey: publicSignedPreKey(currentSignedPreKey(c.db, c.sealer)!), oneTimePreKey: null };
  }

  /** What `name`'s client hands the relay now: its pairwise outbox, then its group outbox. */
  async flush(name: string): Promise<void> {
    await this.flushPairwise(name);
    const c = this.user(name);
    await flushGroupOutbox(c, undefined, {
      afterSync: true,
      post: async (clientId, to, body) => {
        const row = c.db.prepare('SELECT message_id FROM group_outbox WHERE client_id = ?').get(clientId) as { message_id: string } | undefined;
        this.onGroupPost?.({ from: name, messageId: row?.message_id ?? '', to: to.map((a) => a.user), body: fromBase64url(body) });
        for (const a of to) this.submit({ to: a.user, from: name, clientId, body, group: true });
      },
      // A message encrypted again under a new key: its distributions go first, as a client's would.
      pairwise: () => this.flushPairwise(name),
    });
  }

  /**
   * `name`'s pairwise outbox: encrypted and handed to the relay. A peer without a session gets its
   * bundle from the sim's directory, checked as a client checks a fetched one (trust on first use).
   */
  async flushPairwise(name: string): Promise<void> {
    const c = this.user(name);
    const peers = (c.db.prepare('SELECT DISTINCT peer FROM outbox WHERE envelope IS NULL').all() as { peer: string }[]).map((r) => r.peer);
    const bundles = new Map<string, PreKeyBundle[]>();
    for (const peer of peers) {
      if (sessionDevices(c.db, c.sealer, peer).length > 0) continue;
      const b = [this.bundle(peer)];
      checkBundles(c, peer, b);
      bundles.set(peer, b);
    }
    await encryptQueued(c, undefined, bundles);
    const rows = c.db.prepare('SELECT seq, peer, client_id, envelope FROM outbox WHERE envelope IS NOT NULL ORDER BY seq').all() as { seq: number; peer: string; client_id: string; envelope: Buffer }[];
    for (const r of rows) {
      this.submit({ to: r.peer, from: name, clientId: r.client_id, body: toBase64url(new Uint8Array(r.envelope)), group: false });
      c.db.prepare('DELETE FROM outbox WHERE seq = ?').run(r.seq);
    }
  }

  private submit(f: Omit<Frame, 'seq'>): void {
    const frame = { ...f, seq: this.seq++ };
    this.pending.push(frame);
    this.sent.push(frame);
  }

  /** Hands `frame` to its recipient's client (removing it from pending if it was there) and flushes what that caused. */
  async deliver(frame: Frame): Promise<Incoming[]> {
    this.pending = this.pending.filter((f) => f !== frame);
    const c = this.user(frame.to);
    const r = processIncoming(c, { type: 'message', id: String(frame.seq), clientId: frame.clientId, from: { user: frame.from, device: 1 }, body: frame.body, sentAt: new Date(this.clock).toISOString() });
    await this.flush(frame.to);
    return r.kind === 'control' ? r.released : [r];
  }

  /** Everything pending for `name`, in relay order (an honest relay's receive pass); `each` sees what each frame caused. */
  async syncAll(name: string, each: (shown: Incoming[]) => void): Promise<void> {
    for (let guard = 0; guard < 10_000; guard++) {
      const next = this.pending.find((f) => f.to === name);
      if (!next) return;
      each(await this.deliver(next));
    }
    throw new Error('sync did not end');
  }

  close(): void {
    for (const c of this.users.values()) c.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
