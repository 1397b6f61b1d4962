// A share of the `population` suite's users (issue 20, Capacity), one process: each user holds a
// WebSocket to the relay, sends a message every 30–60 s (80 % to one of its contacts, 20 % to its
// group), acks every message it receives, and 1 % of the users drop their socket and reconnect per
// minute. The parent adds users step by step ('add') and asks for the figures of a window of
// scheduled send times ('report'); 'close' ends it.
//
// Latency is measured from a send's *scheduled* time (no coordinated omission) to the recipient's
// arrival, across processes: the scheduled time travels in the client id (the relay hands it to
// the recipient unchanged), and both ends read the same clock (performance.timeOrigin + now()).
//
// Bounded: every user sends at most one message per 30 s, every wait has a deadline, and the whole
// worker stops at job.maxMs.
import WebSocket from 'ws';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { sleep, workerMain } from './lib/procs.js';

export interface PopulationUser {
  name: string;
  token: string;
  /** JSON `to` lists, one per contact. */
  contacts: string[];
  /** JSON `to` list of the other members of the user's group. */
  group: string;
  groupSize: number;
}

export interface PopulationJob {
  wsUrl: string;
  /** Opaque ciphertext-shaped bodies (base64url), used in turn. */
  bodies: string[];
  minIntervalMs: number;
  maxIntervalMs: number;
  groupShare: number;
  reconnectsPerUserMinute: number;
  concurrency: number;
  maxMs: number;
}

/** What a window of scheduled send times produced, as seen by this worker. */
export interface PopulationReport {
  /** Latencies (ms) of the deliveries received here whose send was scheduled in the window. */
  latencies: number[];
  /** Deliveries the sends scheduled here in the window asked for (recipients summed). */
  expected: number;
  sends: number;
  groupSends: number;
  /** Error frames by code (refused sends), for sends scheduled in the window. */
  refused: Record<string, number>;
  reconnects: number;
  reconnectFailed: number;
  reconnectMsMax: number;
  /** Presence frames received since the previous report (the cohort's join included). */
  presence: number;
  /** This process's event-loop delay over the window, ms (its own lag inflates the latencies). */
  lagP99Ms: number;
  lagMaxMs: number;
}

const now = (): number => performance.timeOrigin + performance.now();
const RUN = `_${process.pid.toString(36)}${Date.now().toString(36)}`;
const FRAME = /^\{"type":"(message|sent|error|hello|drained|presence)"(?:,"id":"([^"]*)")?(?:,"clientId":"P([0-9a-z]+)_)?/;

interface User extends PopulationUser {
  ws: WebSocket | null;
  seq: number;
  /** Sends scheduled while the socket was down: sent once it is back. */
  pending: string[];
  reconnecting: boolean;
}

workerMain<PopulationJob, { users: number }>(async (job, ctl) => {
  const deadline = performance.now() + job.maxMs;
  const users: User[] = [];
  // Kept per event, with the scheduled send time, so any window can be cut out afterwards.
  const deliveries: { at: number[]; ms: number[] } = { at: [], ms: [] };
  const sends: { at: number[]; recipients: number[]; group: boolean[] } = { at: [], recipients: [], group: [] };
  const refusals: { at: number[]; code: string[] } = { at: [], code: [] };
  const reconnects: { at: number[]; ms: number[]; ok: boolean[] } = { at: [], ms: [], ok: [] };
  let presence = 0;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  let bodyTurn = 0;

  const onFrame = (ws: WebSocket, data: WebSocket.RawData, hello: () => void): void => {
    const buf = data as Buffer;
    const head = buf.toString('latin1', 0, Math.min(buf.length, 120));
    const m = FRAME.exec(head);
    if (!m) return;
    if (m[1] === 'message') {
      ws.send(`{"type":"ack","id":"${m[2]}"}`);
      if (m[3] !== undefined) {
        const at = Number.parseInt(m[3], 36) / 1000;
        deliveries.at.push(at);
        deliveries.ms.push(now() - at);
      }
    } else if (m[1] === 'hello') hello();
    else if (m[1] === 'presence') presence++;
    else if (m[1] === 'error') {
      // Rare: parse the whole frame for its code and the client id it refers to.
      const f = JSON.parse(buf.toString('utf8')) as { code?: string; id?: string };
      const at = typeof f.id === 'string' && f.id.startsWith('P') ? Number.parseInt(f.id.slice(1), 36) / 1000 : now();
      refusals.at.push(at);
      refusals.code.push(String(f.code));
    }
  };

  /** Opens the user's socket; resolves once the relay's hello frame says it is registered. */
  const open = (u: User): Promise<void> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(job.wsUrl, { perMessageDeflate: false, handshakeTimeout: 60_000, headers: { authorization: `Bearer ${u.token}` } });
      const t = setTimeout(() => {
        ws.terminate();
        reject(new Error('no hello within 60 s'));
      }, 60_000);
      ws.on('message', (d) =>
        onFrame(ws, d, () => {
          clearTimeout(t);
          u.ws = ws;
          for (const f of u.pending.splice(0)) ws.send(f);
          resolve();
        }),
      );
      ws.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      ws.once('unexpected-response', (_r, res) => {
        clearTimeout(t);
        reject(new Error(`upgrade refused: ${res.statusCode}`));
      });
      ws.once('close', (code) => {
        clearTimeout(t);
        if (u.ws === ws) u.ws = null;
        reject(new Error(`closed before hello (${code})`)); // no-op once resolved
      });
    });

  const later = (ms: number, fn: () => void): void => {
    if (stopped || performance.now() + ms > deadline) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };

  const interval = (): number => job.minIntervalMs + Math.random() * (job.maxIntervalMs - job.minIntervalMs);

  /** Schedules the user's next send `delay` ms from `from` (a scheduled time: the schedule does not slip). */
  const schedule = (u: User, from: number, delay: number): void => {
    const at = from + delay;
    later(Math.max(0, at - now()), () => {
      const toGroup = Math.random() < job.groupShare;
      const to = toGroup ? u.group : u.contacts[Math.floor(Math.random() * u.contacts.length)]!;
      const id = `P${Math.round(at * 1000).toString(36)}_${(u.seq++).toString(36)}${RUN}`;
      const frame = `{"type":"send","id":"${id}","to":${to},"body":"${job.bodies[bodyTurn++ % job.bodies.length]}"}`;
      sends.at.push(at);
      sends.recipients.push(toGroup ? u.groupSize - 1 : 1);
      sends.group.push(toGroup);
      if (u.ws && u.ws.readyState === WebSocket.OPEN) u.ws.send(frame);
      else u.pending.push(frame);
      schedule(u, at, interval());
    });
  };

  const reconnect = (u: User): void => {
    if (u.reconnecting || !u.ws) return;
    u.reconnecting = true;
    const t0 = now();
    u.ws.terminate(); // a network drop: no close handshake
    u.ws = null;
    open(u).then(
      () => {
        reconnects.at.push(t0);
        reconnects.ms.push(now() - t0);
        reconnects.ok.push(true);
        u.reconnecting = false;
      },
      () => {
        reconnects.at.push(t0);
        reconnects.ms.push(now() - t0);
        reconnects.ok.push(false);
        u.reconnecting = false;
      },
    );
  };

  // Reconnects: each second, every connected user drops with probability rate/60 (the fractional
  // expectation carried over, so the count is exact on average).
  let carry = 0;
  const churn = setInterval(() => {
    if (stopped || users.length === 0) return;
    carry += (users.length * job.reconnectsPerUserMinute) / 60;
    while (carry >= 1) {
      carry -= 1;
      reconnect(users[Math.floor(Math.random() * users.length)]!);
    }
  }, 1000);

  ctl.on('add', (m: { users: PopulationUser[] }) => {
    void (async () => {
      const t0 = performance.now();
      const added = m.users.map((p): User => ({ ...p, ws: null, seq: 0, pending: [], reconnecting: false }));
      let next = 0;
      let failed = 0;
      const failures: string[] = [];
      const worker = async (): Promise<void> => {
        while (next < added.length && performance.now() < deadline) {
          const u = added[next++]!;
          try {
            await open(u);
            users.push(u);
            // The first send at a random point of one interval: the step starts at its steady rate.
            schedule(u, now(), Math.random() * job.maxIntervalMs);
          } catch (e) {
            failed++;
            if (failures.length < 3) failures.push(e instanceof Error ? e.message : String(e));
          }
        }
      };
      await Promise.all(Array.from({ length: job.concurrency }, worker));
      ctl.post({ type: 'added', ms: performance.now() - t0, failed, failures, users: users.length });
    })();
  });

  ctl.on('lag-reset', () => {
    lag.reset();
    ctl.post({ type: 'lag-reset-done' });
  });

  ctl.on('report', (m: { from: number; to: number }) => {
    const inWin = (at: number): boolean => at >= m.from && at < m.to;
    const r: PopulationReport = {
      latencies: [], expected: 0, sends: 0, groupSends: 0, refused: {}, reconnects: 0, reconnectFailed: 0, reconnectMsMax: 0, presence,
      lagP99Ms: lag.percentile(99) / 1e6, lagMaxMs: lag.max / 1e6,
    };
    deliveries.at.forEach((at, i) => inWin(at) && r.latencies.push(deliveries.ms[i]!));
    sends.at.forEach((at, i) => {
      if (!inWin(at)) return;
      r.sends++;
      r.expected += sends.recipients[i]!;
      if (sends.group[i]) r.groupSends++;
    });
    refusals.at.forEach((at, i) => inWin(at) && (r.refused[refusals.code[i]!] = (r.refused[refusals.code[i]!] ?? 0) + 1));
    reconnects.at.forEach((at, i) => {
      if (!inWin(at)) return;
      r.reconnects++;
      if (!reconnects.ok[i]) r.reconnectFailed++;
      r.reconnectMsMax = Math.max(r.reconnectMsMax, reconnects.ms[i]!);
    });
    presence = 0;
    ctl.post({ type: 'report', report: r });
  });

  await new Promise<void>((resolve) => {
    ctl.on('close', () => resolve());
    setTimeout(resolve, Math.max(0, deadline - performance.now())).unref();
  });
  stopped = true;
  clearInterval(churn);
  for (const t of timers) clearTimeout(t);
  lag.disable();
  for (const u of users) u.ws?.terminate();
  await sleep(50);
  return { users: users.length };
});
