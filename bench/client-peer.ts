// One client core (no CLI) in its own process and its own FASTCHAT_HOME, for the end-to-end
// figure: the full path of a real message — outbox row, ratchet encryption, session state written
// in the same transaction, HTTP send, relay store and push, WebSocket receive, decryption, history
// row, relay ack. Steps are driven by the parent over IPC so two peers can be lined up.
import { IncomingPager } from '../client/core/incoming.js';
import { deliverOutbox, queueText, queueTexts } from '../client/core/outbox.js';
import { relayTarget } from '../client/core/context.js';
import { RelaySocket } from '../client/core/relay-ws.js';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { registeredClient } from './lib/client-home.js';
import { serveSteps, sleep, workerMain } from './lib/procs.js';

export interface PeerJob {
  username: string;
  relay: string;
}

workerMain<PeerJob, unknown>(async (j, ctl) => {
  const c = await registeredClient(j.username, j.relay);
  const t = relayTarget(c);
  let texts = 0;
  let failed = 0;
  let wake: (() => void) | null = null;
  // As chat receives (client/chat/chat.ts): frames stored a burst at a time, one transaction
  // each, acked once it commits.
  let failure: unknown;
  const pager = new IncomingPager(c, {
    result: (r) => {
      if (r.kind === 'text') texts++;
      else if (r.kind === 'failed') failed++;
      wake?.();
    },
    fail: (e) => {
      failure ??= e;
    },
  });
  const { socket } = await RelaySocket.connect(t, (f, s) => {
    if (f.type === 'message') pager.push(f, (id) => s.ack(id));
  });
  const waitTexts = async (n: number, timeoutMs: number): Promise<void> => {
    const end = performance.now() + timeoutMs;
    while (texts < n && performance.now() < end) {
      await Promise.race([new Promise<void>((r) => (wake = r)), sleep(100)]);
    }
  };

  // The timed exchange, between measureStart and measureStop: this process's CPU time (what a
  // loaded machine does not change much, unlike the rate) and, with BENCH_CPU_PROF=<dir>, a CPU
  // profile written to <dir>/client-<username>-<n>.cpuprofile for the n-th exchange (setup and
  // sessions left out).
  let profiler: Session | undefined;
  let profiles = 0;
  let cpu0 = process.cpuUsage();
  const steps = new Map<string, (m: any) => Promise<unknown>>([
    ['measureStart', async () => {
      if (process.env.BENCH_CPU_PROF) {
        profiler = new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      }
      cpu0 = process.cpuUsage();
      return true;
    }],
    ['measureStop', async () => {
      const cpu = process.cpuUsage(cpu0);
      if (profiler) {
        const { profile } = await profiler.post('Profiler.stop');
        writeFileSync(join(process.env.BENCH_CPU_PROF!, `client-${j.username}-${++profiles}.cpuprofile`), JSON.stringify(profile));
        profiler.disconnect();
        profiler = undefined;
      }
      return { cpuMs: (cpu.user + cpu.system) / 1000 };
    }],
    // Sends `count` texts to `peer` (queue all, then encrypt and deliver), measured. `perQueue`
    // lines are queued in one transaction: 1 as typed lines are (chat, send), more as chat's
    // "s" to a paste queues its lines (queueTexts).
    ['send', async (m) => {
      const t0 = performance.now();
      const per: number = m.perQueue ?? 1;
      for (let i = 0; i < m.count; i += per) {
        const texts = Array.from({ length: Math.min(per, m.count - i) }, (_, k) => `bench message ${i + k} `.padEnd(m.bytes, '.'));
        if (texts.length === 1) queueText(c, m.peer, texts[0]!);
        else queueTexts(c, m.peer, texts);
      }
      const queuedMs = performance.now() - t0;
      // Over the open WebSocket, as inbox and chat send. As the client does: what stays in the
      // outbox (receipts queued meanwhile) is sent again (bounded here).
      let r = await deliverOutbox(c, t, socket);
      let sent = r.sent;
      let retries = 0;
      while (r.pending > 0 && retries < 5) {
        retries++;
        r = await deliverOutbox(c, t, socket);
        sent += r.sent;
      }
      return { queuedMs, sentMs: performance.now() - t0, sent, pending: r.pending, failed: r.failed.length, retries, unreachable: r.unreachable };
    }],
    // Waits until `count` texts in total have been received.
    ['receive', async (m) => {
      const t0 = performance.now();
      await waitTexts(m.count, m.timeoutMs);
      if (failure !== undefined) throw failure;
      return { texts, failed, ms: performance.now() - t0 };
    }],
  ]);
  await serveSteps(ctl, steps);
  socket.close();
  c.close();
  return { texts, failed };
});
