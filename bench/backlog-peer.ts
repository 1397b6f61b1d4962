// One client core (no CLI) in its own process and home, for the backlog figures: senders queue a
// backlog for a receiver that is offline, then the receiver takes it in one receive pass, as
// `fastchat inbox` does (client/core/sync.ts: decrypt, store, ack, receipts). Steps are driven by
// the parent over IPC. The receiver also measures the crypto it cannot go faster than: the
// ratchet's and the sender key's raw decrypt rates for the same message size, in this process.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createGroup } from '../crypto/group/membership.js';
import { acceptSenderKeyDistribution, createSenderKey, senderKeyDistribution, encodeSenderKeyDistribution } from '../crypto/group/sender-keys.js';
import { decryptGroupMessage, encryptGroupMessage } from '../crypto/group/group-message.js';
import { generateIdentity, publicIdentity, sign, verify } from '../crypto/identity.js';
import { generateSignedPreKey } from '../crypto/prekeys.js';
import { acceptPreKeyMessage, decryptMessage, encryptMessage, initiateSession } from '../crypto/session.js';
import { relayTarget, type Client } from '../client/core/context.js';
import { flushGroupOutbox } from '../client/core/group-outbox.js';
import { createGroupCmd, queueGroupMessage, resolveGroupAfterSync } from '../client/core/groups.js';
import { deliverOutbox, newMessageId, queueText } from '../client/core/outbox.js';
import { syncInbox } from '../client/core/sync.js';
import { registeredClient } from './lib/client-home.js';
import { serveSteps, workerMain } from './lib/procs.js';

export interface BacklogJob {
  username: string;
  relay: string;
}

/** Sends what is queued until nothing is left or `tries` passes have run (bounded). */
async function flushAll(c: Client, tries = 20): Promise<{ sent: number; pending: number }> {
  const t = relayTarget(c);
  let sent = 0;
  let pending = 0;
  for (let i = 0; i < tries; i++) {
    const r = await deliverOutbox(c, t);
    const g = await flushGroupOutbox(c, t, { afterSync: true });
    sent += r.sent + g.sent;
    pending = r.pending + (c.db.prepare('SELECT count(*) AS n FROM group_outbox').get() as { n: number }).n;
    if (pending === 0) break;
  }
  return { sent, pending };
}

/** Decrypts `count` messages of `bytes` on one chain, pre-encrypted: the ratchet's raw receive rate. */
function rawPairwiseDecrypt(c: Client, count: number, bytes: number): number {
  const random = c.random;
  const alice = generateIdentity(random);
  const bob = generateIdentity(random);
  const spk = generateSignedPreKey(bob, 1, c.now(), random);
  const bundle = {
    address: { user: 'bob', device: 1 },
    identity: publicIdentity(bob),
    signedPreKey: { id: spk.id, createdAt: spk.createdAt, publicKey: spk.keyPair.publicKey, signature: spk.signature },
    oneTimePreKey: null,
  };
  let a = initiateSession(alice, { user: 'alice', device: 1 }, bundle, random, c.now());
  const first = encryptMessage(a, random(bytes), random);
  a = first.state;
  let b = acceptPreKeyMessage(bob, { user: 'bob', device: 1 }, { signedPreKey: () => spk, oneTimePreKey: () => undefined }, { user: 'alice', device: 1 }, first.envelope).state;
  const envelopes: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const e = encryptMessage(a, random(bytes), random);
    a = e.state;
    envelopes.push(e.envelope);
  }
  const t0 = performance.now();
  for (const e of envelopes) b = decryptMessage(b, e).state;
  return (count * 1000) / (performance.now() - t0);
}

/** The same for sender-key group messages (one sender's chain): verify + chain step + open. */
function rawGroupDecrypt(c: Client, count: number, bytes: number): number {
  const random = c.random;
  const alice = generateIdentity(random);
  const bob = generateIdentity(random);
  const group = createGroup({ user: 'alice', identity: alice }, 'bench', [{ user: 'bob', signPublic: bob.signPublic }], random).state;
  let ours = createSenderKey(group, 'alice', random);
  let theirs = acceptSenderKeyDistribution(group, group.members.find((m) => m.user === 'alice')!, encodeSenderKeyDistribution(senderKeyDistribution(ours, group)));
  const messages: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const r = encryptGroupMessage(ours, group, random(bytes), random);
    ours = r.state;
    messages.push(r.message);
  }
  const t0 = performance.now();
  for (const m of messages) theirs = decryptGroupMessage(theirs, group, m).state;
  return (count * 1000) / (performance.now() - t0);
}

/**
 * Ed25519 verifications of `bytes`-long messages a second: the one check per group message that
 * nothing amortizes (each message is signed by its sender), the wall the group backlog meets.
 */
function rawVerify(c: Client, count: number, bytes: number): number {
  const id = generateIdentity(c.random);
  const messages = Array.from({ length: count }, () => c.random(bytes));
  const signatures = messages.map((m) => sign(id, m));
  const t0 = performance.now();
  for (let i = 0; i < count; i++) if (!verify(id.signPublic, messages[i]!, signatures[i]!)) throw new Error('a signature made here did not verify');
  return (count * 1000) / (performance.now() - t0);
}

workerMain<BacklogJob, unknown>(async (j, ctl) => {
  const c = await registeredClient(j.username, j.relay);

  const steps = new Map<string, (m: any) => Promise<unknown>>([
    // Queues `count` texts of `bytes` to `peer`, then sends them all.
    ['send', async (m) => {
      const t0 = performance.now();
      for (let i = 0; i < m.count; i++) queueText(c, m.peer, `backlog ${i} `.padEnd(m.bytes, '.'));
      return { ...(await flushAll(c)), ms: performance.now() - t0 };
    }],
    ['createGroup', async (m) => (await createGroupCmd(c, m.name, m.users)).groupId],
    // Queues `count` group texts (after a receive pass that brings the group), then sends them.
    ['sendGroup', async (m) => {
      const g = await resolveGroupAfterSync(c, `#${m.name}`);
      const t0 = performance.now();
      for (let i = 0; i < m.count; i++) queueGroupMessage(c, g, newMessageId(c), `group backlog ${i} `.padEnd(m.bytes, '.'), new Date(c.now()).toISOString());
      return { ...(await flushAll(c)), ms: performance.now() - t0 };
    }],
    // One receive pass, as `fastchat inbox`: the timed figure when the backlog waits. With
    // `profile`, the pass alone runs under the CPU profiler, written to BENCH_CPU_PROF/<profile>.cpuprofile.
    ['sync', async (m) => {
      const profiler = m.profile && process.env.BENCH_CPU_PROF ? new Session() : undefined;
      if (profiler) {
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      }
      let rssMax = process.memoryUsage().rss;
      const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 50);
      let texts = 0;
      let failed = 0;
      let lastTextAt = Number.NaN;
      let drainedAt = Number.NaN;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      try {
        const r = await syncInbox(c, relayTarget(c), {
          onIncoming: (x) => {
            if (x.kind === 'text') {
              texts++;
              lastTextAt = performance.now();
            }
            else if (x.kind === 'failed') failed++;
          },
          onWarning: () => undefined,
        });
        drainedAt = performance.now();
        rssMax = Math.max(rssMax, process.memoryUsage().rss);
        const cpu = process.cpuUsage(cpu0);
        // cpuMs near ms: the receiver is the bottleneck; far below: it waits for the relay.
        // storedMs: until the last text was stored and acked; ms: the whole pass, receipts sent too.
        return { texts, failed, drained: r.drained, ms: drainedAt - t0, storedMs: lastTextAt - t0, cpuMs: (cpu.user + cpu.system) / 1000, receiptsSent: r.outbox.sent, rssMax };
      } finally {
        clearInterval(sampler);
        if (profiler) {
          const { profile } = await profiler.post('Profiler.stop');
          writeFileSync(join(process.env.BENCH_CPU_PROF!, `${m.profile}.cpuprofile`), JSON.stringify(profile));
          profiler.disconnect();
        }
      }
    }],
    ['rawDecrypt', async (m) => ({ pairwise: rawPairwiseDecrypt(c, m.count, m.bytes), group: rawGroupDecrypt(c, m.count, m.bytes), verify: rawVerify(c, m.count, m.bytes) })],
  ]);
  await serveSteps(ctl, steps);
  c.close();
  return { done: true };
});
