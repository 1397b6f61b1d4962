// One client core (no CLI) in its own process and its own FASTCHAT_HOME, for the end-to-end
// figure: the full path of a real message — outbox row, ratchet encryption, session state written
// in the same transaction, HTTP send, relay store and push, WebSocket receive, decryption, history
// row, relay ack. Steps are driven by the parent over IPC so two peers can be lined up.
import { processIncoming } from '../client/core/incoming.js';
import { deliverOutbox, queueText } from '../client/core/outbox.js';
import { relayTarget } from '../client/core/context.js';
import { RelaySocket } from '../client/core/relay-ws.js';
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
  const { socket } = await RelaySocket.connect(t, (f, s) => {
    if (f.type !== 'message') return;
    const r = processIncoming(c, f);
    s.ack(f.id);
    if (r.kind === 'text') texts++;
    else if (r.kind === 'failed') failed++;
    wake?.();
  });
  const waitTexts = async (n: number, timeoutMs: number): Promise<void> => {
    const end = performance.now() + timeoutMs;
    while (texts < n && performance.now() < end) {
      await Promise.race([new Promise<void>((r) => (wake = r)), sleep(100)]);
    }
  };

  const steps = new Map<string, (m: any) => Promise<unknown>>([
    // Sends `count` texts to `peer` (queue all, then encrypt and deliver), measured.
    ['send', async (m) => {
      const t0 = performance.now();
      for (let i = 0; i < m.count; i++) queueText(c, m.peer, `bench message ${i} `.padEnd(m.bytes, '.'));
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
      return { texts, failed, ms: performance.now() - t0 };
    }],
  ]);
  await serveSteps(ctl, steps);
  socket.close();
  c.close();
  return { texts, failed };
});
