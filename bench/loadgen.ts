// Load generator, run as its own process so that the server under test (relay or baseline) and
// the clients do not share one event loop. It speaks the relay's frames to both targets: the relay
// answers with `message` frames (acked here, as a real client must), the baseline forwards the
// `send` frame itself. Receivers read only the first bytes of each frame (type, ids), so the
// generator's own cost per message stays small next to the server's.
//
// Every loop is bounded twice: by a message count and by a deadline.
import WebSocket from 'ws';
import { performance } from 'node:perf_hooks';
import { sleep, workerMain } from './lib/procs.js';

export interface Target {
  kind: 'relay' | 'baseline';
  wsUrl: string;
}
/** One client: a name (relay user or baseline id) and, for the relay, a bearer token. */
export interface Peer {
  name: string;
  token?: string;
  /** Another node of the same relay than the target's (a relay of several nodes). */
  wsUrl?: string;
}

export type LoadJob =
  | { mode: 'throughput'; target: Target; pairs: { from: Peer; to: Peer }[]; window: number; body: string; warmupMs: number; measureMs: number; maxMessages: number }
  | { mode: 'latency'; target: Target; pairs: { from: Peer; to: Peer }[]; rate: number; body: string; warmupMs: number; measureMs: number }
  | { mode: 'fanout'; target: Target; from: Peer; to: Peer[]; window: number; body: string; warmupMs: number; measureMs: number; maxMessages: number }
  | { mode: 'store'; target: Target; from: Peer; to: Peer; count: number; window: number; body: string; timeoutMs: number }
  | { mode: 'drain'; target: Target; peer: Peer; count: number; timeoutMs: number }
  | { mode: 'idle'; target: Target; peers: Peer[]; concurrency: number; timeoutMs: number }
  | { mode: 'logins'; url: string; username: string; password: string; concurrency: number; durationMs: number }
  | { mode: 'crowd'; target: Target; peers: Peer[]; concurrency: number; timeoutMs: number }
  | { mode: 'probe'; target: Target; pairs: { from: Peer; to: Peer }[]; rate: number; body: string; maxMs: number };

const FRAME = /^\{"type":"(message|send|sent|error|hello|drained|presence)"(?:,"id":"([^"]*)")?(?:,"clientId":"([^"]*)")?/;

interface Parsed {
  type: string;
  deliveryId: string | undefined;
  clientId: string | undefined;
}

function parsePrefix(data: WebSocket.RawData, kind: Target['kind']): Parsed | null {
  const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  const m = FRAME.exec(buf.toString('latin1', 0, Math.min(buf.length, 160)));
  if (!m) return null;
  if (m[1] === 'message') return { type: 'message', deliveryId: m[2], clientId: m[3] };
  // The baseline forwards the sender's own frame: its id is the client id.
  if (m[1] === 'send' && kind === 'baseline') return { type: 'message', deliveryId: undefined, clientId: m[2] };
  return { type: m[1]!, deliveryId: m[2], clientId: undefined };
}

function connect(target: Target, peer: Peer, onFrame: (f: Parsed, ws: WebSocket) => void, timeoutMs = 15_000): Promise<WebSocket> {
  const url = target.kind === 'baseline' ? `${target.wsUrl}?id=${encodeURIComponent(peer.name)}` : (peer.wsUrl ?? target.wsUrl);
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, ...(peer.token ? { headers: { authorization: `Bearer ${peer.token}` } } : {}) });
  ws.on('message', (data) => {
    const f = parsePrefix(data, target.kind);
    if (f) onFrame(f, ws);
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_r, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

/** For the relay the hello frame comes first; wait for it so the connection is fully registered. */
async function connectReady(target: Target, peer: Peer, onFrame: (f: Parsed, ws: WebSocket) => void): Promise<WebSocket> {
  let hello!: () => void;
  const gotHello = new Promise<void>((r) => (hello = r));
  const ws = await connect(target, peer, (f, w) => {
    if (f.type === 'hello') hello();
    onFrame(f, w);
  });
  if (target.kind === 'relay') await Promise.race([gotHello, sleep(10_000).then(() => Promise.reject(new Error('no hello frame')))]);
  return ws;
}

/**
 * The relay treats a resubmitted client id as a no-op (and does not deliver it again), so every
 * run tags its ids: a later run by the same account must not look like a resend of an earlier one.
 */
const RUN = `_${process.pid.toString(36)}${Date.now().toString(36)}`;
const sendFrame = (id: string, toJson: string, body: string): string => `{"type":"send","id":"${id}${RUN}","to":${toJson},"body":"${body}"}`;
/** The number after the one-letter kind: parseInt stops at the run tag. */
const seqOf = (clientId: string): number => Number.parseInt(clientId.slice(1), 10);
const toList = (peers: Peer[]): string => JSON.stringify(peers.map((p) => ({ user: p.name, device: 1 })));

function ack(target: Target, ws: WebSocket, f: Parsed): void {
  if (target.kind === 'relay' && f.deliveryId !== undefined) ws.send(`{"type":"ack","id":"${f.deliveryId}"}`);
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  for (const ws of sockets) ws.terminate();
  await sleep(50);
}

/** Closed loop: each pair keeps `window` messages in flight (sent, not yet received). */
async function throughput(j: Extract<LoadJob, { mode: 'throughput' }>) {
  const n = j.pairs.length;
  const sent = new Array<number>(n).fill(0);
  const received = new Array<number>(n).fill(0);
  let total = 0;
  let totalSent = 0;
  let sending = true;
  let errors = 0;
  const senders: WebSocket[] = [];
  const receivers: WebSocket[] = [];
  const tos = j.pairs.map((p) => toList([p.to]));
  const topUp = (i: number): void => {
    while (sending && sent[i]! - received[i]! < j.window && totalSent < j.maxMessages) {
      senders[i]!.send(sendFrame(`t${i}x${sent[i]}`, tos[i]!, j.body));
      sent[i]!++;
      totalSent++;
    }
  };
  for (let i = 0; i < n; i++) {
    receivers.push(
      await connectReady(j.target, j.pairs[i]!.to, (f, ws) => {
        if (f.type !== 'message') return;
        ack(j.target, ws, f);
        received[i]!++;
        total++;
        topUp(i);
      }),
    );
    senders.push(
      await connectReady(j.target, j.pairs[i]!.from, (f) => {
        if (f.type === 'error') errors++;
      }),
    );
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i++) topUp(i);
  await sleep(j.warmupMs);
  const w0 = total;
  const tw = performance.now();
  const deadline = tw + j.measureMs;
  while (performance.now() < deadline && totalSent < j.maxMessages) await sleep(20);
  const w1 = total;
  const te = performance.now();
  sending = false;
  const drainUntil = performance.now() + 5000;
  while (total < totalSent && performance.now() < drainUntil) await sleep(10);
  await closeAll([...senders, ...receivers]);
  return { perSecond: ((w1 - w0) * 1000) / (te - tw), measured: w1 - w0, seconds: (te - tw) / 1000, sent: totalSent, received: total, errors, totalSeconds: (te - t0) / 1000 };
}

/**
 * Open loop at a fixed rate over `pairs`, `count` messages or until `stop()` says so; latency is
 * measured from each message's scheduled send time (no coordinated omission). `ready` is called
 * once every pair is connected, with the wall-clock time the schedule starts at. `got[i]`: the
 * latency of message i, NaN if it never arrived.
 */
async function openLoop(
  target: Target, pairs: { from: Peer; to: Peer }[], rate: number, body: string, count: number, tag: string,
  opts: { stop?: () => boolean; ready?: (epochMs: number) => void } = {},
) {
  const n = pairs.length;
  const scheduled = new Float64Array(count);
  const got = new Float64Array(count).fill(Number.NaN);
  let received = 0;
  let errors = 0;
  const senders: WebSocket[] = [];
  const receivers: WebSocket[] = [];
  const tos = pairs.map((p) => toList([p.to]));
  for (let i = 0; i < n; i++) {
    receivers.push(
      await connectReady(target, pairs[i]!.to, (f, ws) => {
        if (f.type !== 'message' || !f.clientId) return;
        ack(target, ws, f);
        const seq = seqOf(f.clientId);
        if (seq >= 0 && seq < count && Number.isNaN(got[seq]!)) {
          got[seq] = performance.now() - scheduled[seq]!;
          received++;
        }
      }),
    );
    senders.push(await connectReady(target, pairs[i]!.from, (f) => f.type === 'error' && errors++));
  }
  const t0 = performance.now();
  opts.ready?.(Date.now());
  let seq = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(count, Math.floor(((performance.now() - t0) * rate) / 1000));
      const stop = opts.stop?.() ?? false;
      while (seq < due && !stop) {
        scheduled[seq] = t0 + (seq * 1000) / rate;
        senders[seq % n]!.send(sendFrame(`${tag}${seq}`, tos[seq % n]!, body));
        seq++;
      }
      if (seq >= count || stop) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  const elapsedMs = performance.now() - t0;
  const drainUntil = performance.now() + 5000;
  while (received < seq && performance.now() < drainUntil) await sleep(10);
  await closeAll([...senders, ...receivers]);
  return { got: got.subarray(0, seq), elapsedMs, errors };
}

/** Open loop at a fixed rate; the first warm-up's messages are not counted. */
async function latency(j: Extract<LoadJob, { mode: 'latency' }>) {
  const count = Math.ceil((j.rate * (j.warmupMs + j.measureMs)) / 1000);
  const r = await openLoop(j.target, j.pairs, j.rate, j.body, count, 'L');
  const first = Math.ceil((j.warmupMs * j.rate) / 1000);
  const lat: number[] = [];
  let lost = 0;
  for (let i = first; i < count; i++) {
    if (Number.isNaN(r.got[i]!)) lost++;
    else lat.push(r.got[i]!);
  }
  return { latenciesMs: lat, lost, offeredPerSecond: (count * 1000) / r.elapsedMs, errors: r.errors };
}

/** One sender, one frame addressed to every receiver; `window` frames in flight. */
async function fanout(j: Extract<LoadJob, { mode: 'fanout' }>) {
  const r = j.to.length;
  const per = new Uint16Array(j.maxMessages);
  let sent = 0;
  let complete = 0;
  let deliveries = 0;
  let sending = true;
  let errors = 0;
  const to = toList(j.to);
  let sender!: WebSocket;
  const topUp = (): void => {
    while (sending && sent - complete < j.window && sent < j.maxMessages) sender.send(sendFrame(`F${sent++}`, to, j.body));
  };
  const receivers: WebSocket[] = [];
  for (const peer of j.to) {
    receivers.push(
      await connectReady(j.target, peer, (f, ws) => {
        if (f.type !== 'message' || !f.clientId) return;
        ack(j.target, ws, f);
        deliveries++;
        const seq = seqOf(f.clientId);
        if (++per[seq]! === r) {
          complete++;
          topUp();
        }
      }),
    );
  }
  sender = await connectReady(j.target, j.from, (f) => f.type === 'error' && errors++);
  topUp();
  await sleep(j.warmupMs);
  const d0 = deliveries;
  const tw = performance.now();
  const deadline = tw + j.measureMs;
  while (performance.now() < deadline && sent < j.maxMessages) await sleep(20);
  const d1 = deliveries;
  const te = performance.now();
  sending = false;
  const drainUntil = performance.now() + 5000;
  while (complete < sent && performance.now() < drainUntil) await sleep(10);
  await closeAll([sender, ...receivers]);
  return { perSecond: ((d1 - d0) * 1000) / (te - tw), messages: sent, deliveries, errors };
}

/** Receiver offline: the relay stores every message; rate = durable `sent` acks per second. */
async function store(j: Extract<LoadJob, { mode: 'store' }>) {
  let sent = 0;
  let acked = 0;
  let errors = 0;
  const to = toList([j.to]);
  let ws!: WebSocket;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const topUp = (): void => {
    while (sent < j.count && sent - acked - errors < j.window) ws.send(sendFrame(`S${sent++}`, to, j.body));
  };
  ws = await connectReady(j.target, j.from, (f) => {
    if (f.type === 'sent') acked++;
    else if (f.type === 'error') errors++;
    else return;
    if (acked + errors >= j.count) done();
    else topUp();
  });
  const t0 = performance.now();
  topUp();
  await Promise.race([finished, sleep(j.timeoutMs)]);
  const t1 = performance.now();
  await closeAll([ws]);
  return { perSecond: (acked * 1000) / (t1 - t0), acked, errors, seconds: (t1 - t0) / 1000 };
}

/** The receiver comes online to a queue of `count` messages: time until the last one arrived. */
async function drain(j: Extract<LoadJob, { mode: 'drain' }>) {
  let got = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let tDrained = Number.NaN;
  const t0 = performance.now();
  const ws = await connect(j.target, j.peer, (f, w) => {
    if (f.type === 'drained') tDrained = performance.now() - t0;
    if (f.type !== 'message') return;
    ack(j.target, w, f);
    if (++got >= j.count) done();
  });
  await Promise.race([finished, sleep(j.timeoutMs)]);
  const ms = performance.now() - t0;
  await closeAll([ws]);
  return { received: got, ms, perSecond: (got * 1000) / ms, drainedFrameMs: tDrained };
}

/** Opens many idle connections, reports, and holds them until told to close. */
async function idle(j: Extract<LoadJob, { mode: 'idle' }>, ctl: { post(m: object): void; on(type: string, fn: (m: any) => void): void }) {
  const sockets: WebSocket[] = [];
  const deadline = performance.now() + j.timeoutMs;
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < j.peers.length && performance.now() < deadline) {
      const p = j.peers[next++]!;
      try {
        sockets.push(await connectReady(j.target, p, () => {}));
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: j.concurrency }, worker));
  const release = new Promise<void>((r) => ctl.on('close', () => r()));
  ctl.post({ type: 'ready', open: sockets.length, failed });
  await Promise.race([release, sleep(j.timeoutMs)]);
  await closeAll(sockets);
  return { open: sockets.length, failed };
}

/** A login flood: `concurrency` POST /v1/sessions in a loop for durationMs. */
async function logins(j: Extract<LoadJob, { mode: 'logins' }>) {
  const statuses: Record<string, number> = {};
  const body = JSON.stringify({ username: j.username, password: j.password });
  const t0 = performance.now();
  const end = t0 + j.durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      let key: string;
      try {
        const res = await fetch(`${j.url}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) });
        await res.arrayBuffer();
        key = String(res.status);
        if (res.status === 429) await sleep(50); // refused at once: do not spin
      } catch {
        key = 'failed';
      }
      statuses[key] = (statuses[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: j.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: (statuses['200'] ?? 0) / seconds, statuses, seconds };
}

type Ctl = { post(m: object): void; on(type: string, fn: (m: any) => void): void };
const told = (ctl: Ctl, type: string, untilMs: number): Promise<boolean> =>
  Promise.race([new Promise<boolean>((r) => ctl.on(type, () => r(true))), sleep(Math.max(0, untilMs - performance.now())).then(() => false)]);

/**
 * A crowd of users that connect all at once when told ('connect'), then all drop their sockets and
 * reconnect at once ('reconnect'), and close ('close'). A user is back when its queue is pushed
 * (`drained`; the baseline: when the socket is open). Presence frames are counted per phase, and
 * for a settle second after it (a frame a phase caused may come after its last `drained`).
 */
async function crowd(j: Extract<LoadJob, { mode: 'crowd' }>, ctl: Ctl) {
  const deadline = performance.now() + j.timeoutMs;
  const sockets = new Array<WebSocket | null>(j.peers.length).fill(null);
  let presence = 0;
  let messages = 0;
  const onFrame = (f: Parsed, ws: WebSocket): void => {
    if (f.type === 'presence') presence++;
    else if (f.type === 'message') {
      messages++;
      ack(j.target, ws, f);
    }
  };
  const open = (peer: Peer): Promise<WebSocket> => {
    if (j.target.kind === 'baseline') return connect(j.target, peer, onFrame, 120_000);
    let drained!: () => void;
    const done = new Promise<void>((r) => (drained = r));
    return connect(j.target, peer, (f, ws) => (f.type === 'drained' ? drained() : onFrame(f, ws)), 120_000).then(async (ws) => {
      await Promise.race([done, sleep(120_000).then(() => Promise.reject(new Error('no drained frame')))]);
      return ws;
    });
  };
  const phase = async (): Promise<{ ms: number; failed: number; presence: number; messages: number }> => {
    presence = 0;
    messages = 0;
    const t0 = performance.now();
    let next = 0;
    let failed = 0;
    const worker = async (): Promise<void> => {
      while (next < j.peers.length && performance.now() < deadline) {
        const i = next++;
        try {
          sockets[i] = await open(j.peers[i]!);
        } catch {
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: j.concurrency }, worker));
    const ms = performance.now() - t0;
    await sleep(1000);
    return { ms, failed, presence, messages };
  };
  ctl.post({ type: 'up' });
  if (await told(ctl, 'connect', deadline)) {
    ctl.post({ type: 'connected', ...(await phase()) });
    if (await told(ctl, 'reconnect', deadline)) {
      for (const ws of sockets) ws?.terminate();
      ctl.post({ type: 'reconnected', ...(await phase()) });
      await told(ctl, 'close', deadline);
    }
  }
  const held = sockets.filter((w): w is WebSocket => w !== null);
  await closeAll(held);
  return { open: held.length };
}

/**
 * Other users' traffic while a crowd connects: messages at a fixed rate over a few pairs until
 * told to stop (or maxMs). Each latency (scheduled send to delivery) is kept with its scheduled
 * wall-clock time, so the caller can cut it into the crowd's phases.
 */
async function probe(j: Extract<LoadJob, { mode: 'probe' }>, ctl: Ctl) {
  let stop = false;
  ctl.on('close', () => (stop = true));
  let epoch0 = 0;
  const r = await openLoop(j.target, j.pairs, j.rate, j.body, Math.ceil((j.rate * j.maxMs) / 1000), 'P', {
    stop: () => stop,
    ready: (at) => {
      epoch0 = at;
      ctl.post({ type: 'ready' });
    },
  });
  const at: number[] = [];
  const ms: number[] = [];
  let lost = 0;
  r.got.forEach((v, i) => {
    if (Number.isNaN(v)) lost++;
    else {
      at.push(epoch0 + (i * 1000) / j.rate);
      ms.push(v);
    }
  });
  return { at, ms, lost, errors: r.errors };
}

workerMain<LoadJob, unknown>(async (job, ctl) => {
  switch (job.mode) {
    case 'throughput':
      return throughput(job);
    case 'latency':
      return latency(job);
    case 'fanout':
      return fanout(job);
    case 'store':
      return store(job);
    case 'drain':
      return drain(job);
    case 'idle':
      return idle(job, ctl);
    case 'logins':
      return logins(job);
    case 'crowd':
      return crowd(job, ctl);
    case 'probe':
      return probe(job, ctl);
  }
});
