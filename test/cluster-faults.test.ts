// Faults of a relay of several nodes (test/util/cluster.ts), with senders streaming the whole time:
// a node killed -9, NATS killed and started again, PostgreSQL killed and started again. The
// invariant is the one of every fault test (test/util/delivery-checker.ts): every message a
// sender was told is sent is shown exactly once (after the client's dedup by sender and client
// id) at its receiver, in the sender's order. The senders behave like fastchat's outbox: a send
// not acknowledged (the socket died, or it was refused) is sent again, with the same id, on a new
// connection to a node that is up, after everything sent before it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from './util/cluster.js';
import { DeliveryChecker } from './util/delivery-checker.js';
import { RELAY_TEST_ARGS, onFrames, sleep, waitFor, within } from './util/fault.js';
import { RelayHttp, RelayWs } from './util/relay-client.js';

const WINDOW = 32;
/** Bounds each sender's loop whatever happens. */
const MAX_PER_SENDER = 3000;

/** A sender with an outbox: every id it ever sent, in order, and which the relay acknowledged. */
class Sender {
  readonly order: string[] = [];
  readonly acked = new Set<string>();
  private ws: RelayWs | null = null;
  private inFlight = new Set<string>();
  private wake: (() => void) | null = null;
  private n = 0;

  constructor(
    readonly name: string,
    readonly token: string,
    private readonly to: { user: string; device: number }[],
    private readonly checkers: DeliveryChecker[],
  ) {}

  private body(id: string): string {
    return Buffer.from(`${this.name} ${id}`).toString('base64url');
  }

  /** (Re)connects to `url` and sends again, in order, everything not yet acknowledged. */
  async connect(url: string): Promise<void> {
    this.ws?.ws.terminate();
    const ws = await RelayWs.connect(url, this.token);
    this.ws = ws;
    this.inFlight = new Set();
    let hello!: () => void;
    const said = new Promise<void>((r) => (hello = r));
    onFrames(ws, (f) => {
      if (f.type === 'hello') hello();
      if (f.type === 'sent' && this.inFlight.delete(f.id)) {
        this.acked.add(f.id);
        for (const c of this.checkers) c.sent(this.name, f.id);
      } else if (f.type === 'error' && typeof f.id === 'string') this.inFlight.delete(f.id); // resent on the next connection
      this.wake?.();
    });
    void ws.closed.then(() => this.wake?.());
    await within(said, 10_000, `${this.name}'s hello`);
    for (const id of this.order) if (!this.acked.has(id)) this.push(id);
  }

  private push(id: string): void {
    this.inFlight.add(id);
    this.ws!.send({ type: 'send', id, to: this.to, body: this.body(id) });
  }

  /** Sends new messages, WINDOW in flight, until `stop()` or the socket closes (then resolves). */
  async stream(stop: () => boolean): Promise<void> {
    const ws = this.ws!;
    const deadline = Date.now() + 60_000;
    while (!stop() && !ws.closeInfo && this.n < MAX_PER_SENDER && Date.now() < deadline) {
      if (this.inFlight.size >= WINDOW) {
        await Promise.race([new Promise<void>((r) => (this.wake = r)), sleep(500)]);
        this.wake = null;
        continue;
      }
      const id = `${this.name}-${this.n++}`;
      this.order.push(id);
      for (const c of this.checkers) c.queued(this.name, id, receiverOf(c));
      this.push(id);
      if (this.n % 8 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  /** Resends until every message is acknowledged (bounded). */
  async settle(url: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.acked.size < this.order.length) {
      if (Date.now() > deadline) throw new Error(`${this.name}: ${this.order.length - this.acked.size} messages never acknowledged`);
      if (!this.ws || this.ws.closeInfo || this.inFlight.size === 0) await this.connect(url);
      await sleep(100);
    }
  }

  close(): void {
    this.ws?.ws.terminate();
  }
}

const receivers = new WeakMap<DeliveryChecker, string>();
const receiverOf = (c: DeliveryChecker): string => receivers.get(c)!;

/** A receiver that acks and records every message, once per (sender, client id): the client's dedup. */
class Receiver {
  readonly checker = new DeliveryChecker();
  private readonly seen = new Set<string>();
  ws: RelayWs | null = null;
  shown = 0;

  constructor(
    readonly name: string,
    readonly token: string,
  ) {
    receivers.set(this.checker, name);
  }

  async connect(url: string): Promise<void> {
    this.ws?.ws.terminate();
    const ws = await RelayWs.connect(url, this.token);
    this.ws = ws;
    let hello!: () => void;
    const said = new Promise<void>((r) => (hello = r));
    onFrames(ws, (f) => {
      if (f.type === 'hello') hello();
      if (f.type !== 'message') return;
      const k = `${f.from.user}/${f.clientId}`;
      if (!this.seen.has(k)) {
        this.seen.add(k);
        this.shown++;
        this.checker.shown(this.name, f.from.user, f.clientId);
      }
      ws.ack(f.id);
    });
    await within(said, 10_000, `${this.name}'s hello`);
  }

  close(): void {
    this.ws?.ws.terminate();
  }
}

async function setup(t: TestContext, senders: number, opts: { receiverNodes: number[]; senderNode: number }) {
  const c = await startCluster(3, { args: RELAY_TEST_ARGS });
  t.after(() => c.stop());
  const http = new RelayHttp(c.nodes[0]!.url);
  const rs: Receiver[] = [];
  for (const [i, node] of opts.receiverNodes.entries()) {
    const r = new Receiver(`recv${i}`, await http.signup(`recv${i}`));
    if (node >= 0) await r.connect(c.nodes[node]!.wsUrl);
    t.after(() => r.close());
    rs.push(r);
  }
  const to = rs.map((r) => ({ user: r.name, device: 1 }));
  const ss: Sender[] = [];
  for (let i = 0; i < senders; i++) {
    const s = new Sender(`send${i}`, await http.signup(`send${i}`), to, rs.map((r) => r.checker));
    await s.connect(c.nodes[opts.senderNode]!.wsUrl);
    t.after(() => s.close());
    ss.push(s);
  }
  return { c, rs, ss };
}

/** Waits until every receiver has shown every message its senders were told is sent, then checks. */
async function expectAllShown(t: TestContext, rs: Receiver[], ss: Sender[], ms: number): Promise<void> {
  const acked = ss.reduce((n, s) => n + s.acked.size, 0);
  await waitFor(() => rs.every((r) => r.shown >= acked), ms, `every receiver to show the ${acked} acknowledged messages`, 100).catch(() => {});
  for (const r of rs) {
    t.diagnostic(`${r.name}: ${JSON.stringify(r.checker.counts())}`);
    assert.equal(r.checker.report(), '', `${r.name}: ${r.checker.report()}`);
  }
}

test('kill -9 of the node senders stream through: every acknowledged message is delivered once, in order, after they reconnect to the others', { timeout: 180_000 }, async (t) => {
  // recv0 stays connected to node 2 the whole time; recv1 is offline until the end.
  const { c, rs, ss } = await setup(t, 4, { receiverNodes: [2, -1], senderNode: 0 });
  let killed = false;
  const streams = ss.map((s) => s.stream(() => killed));
  await waitFor(() => ss.every((s) => s.acked.size >= 100), 60_000, 'each sender to get 100 acks', 50);
  await sleep(100 + Math.floor(Math.random() * 200));
  await c.nodes[0]!.kill();
  killed = true;
  await within(Promise.all(streams), 20_000, 'senders to notice the kill');
  const before = ss.reduce((n, s) => n + s.acked.size, 0);
  const sent = ss.reduce((n, s) => n + s.order.length, 0);
  t.diagnostic(`at the kill: ${sent} sent, ${before} acknowledged`);
  assert.ok(sent > before, 'the kill landed while sends were in flight');
  // The outbox sends again through node 1 what was never acknowledged.
  await Promise.all(ss.map((s) => s.settle(c.nodes[1]!.wsUrl, 60_000)));
  await rs[1]!.connect(c.nodes[1]!.wsUrl);
  await expectAllShown(t, rs, ss, 60_000);
});

test('NATS killed and started again mid-stream: no acknowledged message is lost, live delivery between nodes resumes', { timeout: 180_000 }, async (t) => {
  // Senders on node 0, the receiver on node 1: every live push crosses the bus.
  const { c, rs, ss } = await setup(t, 3, { receiverNodes: [1], senderNode: 0 });
  let stop = false;
  const streams = ss.map((s) => s.stream(() => stop));
  await waitFor(() => ss.every((s) => s.acked.size >= 50), 60_000, 'each sender to get 50 acks', 50);
  await c.nats.kill();
  const during = ss.reduce((n, s) => n + s.acked.size, 0);
  // The durable path goes on without the bus: sends are still acknowledged.
  await waitFor(() => ss.reduce((n, s) => n + s.acked.size, 0) >= during + 100, 30_000, '100 more acks while NATS is down', 50);
  await c.nats.restart();
  await waitFor(() => ss.every((s) => s.acked.size >= 300), 60_000, 'each sender to get 300 acks', 50);
  stop = true;
  await within(Promise.all(streams), 20_000, 'senders to stop');
  await Promise.all(ss.map((s) => s.settle(c.nodes[0]!.wsUrl, 30_000)));
  // The receiver never reconnected: what it missed while the bus was down came when it was back.
  await expectAllShown(t, rs, ss, 60_000);
  assert.equal(rs[0]!.ws!.closeInfo, null, 'the receiver kept its one connection throughout');
});

test('PostgreSQL killed and started again mid-stream: no acknowledged message is lost, and /healthz says 503 while it is gone', { timeout: 180_000 }, async (t) => {
  const { c, rs, ss } = await setup(t, 3, { receiverNodes: [1], senderNode: 0 });
  let stop = false;
  let streams = ss.map((s) => s.stream(() => stop));
  await waitFor(() => ss.every((s) => s.acked.size >= 50), 60_000, 'each sender to get 50 acks', 50);
  await c.pg.kill();
  const atKill = ss.reduce((n, s) => n + s.acked.size, 0);
  // A load balancer watching /healthz steers new clients away while the database is gone.
  const health = async () => {
    const r = await fetch(`${c.nodes[1]!.url}/healthz`);
    return { status: r.status, store: ((await r.json()) as { store: unknown }).store };
  };
  await waitFor(async () => (await health()).status === 503, 20_000, 'healthz says 503 without PostgreSQL');
  assert.deepEqual((await health()).store, { engine: 'postgres', up: false });
  await c.pg.restart();
  await waitFor(async () => (await health()).status === 200, 30_000, 'healthz is 200 again once PostgreSQL is back');
  // The nodes were not restarted: their pools reconnect. Senders whose sends were refused while
  // the database was away send them again (a new connection, in order) and go on.
  stop = true;
  await within(Promise.all(streams), 20_000, 'senders to stop');
  await Promise.all(ss.map((s) => s.settle(c.nodes[0]!.wsUrl, 60_000)));
  stop = false;
  streams = ss.map((s) => s.stream(() => stop));
  await waitFor(() => ss.reduce((n, s) => n + s.acked.size, 0) >= atKill + 300, 60_000, '300 more acks after the restart', 50);
  stop = true;
  await within(Promise.all(streams), 20_000, 'senders to stop');
  await Promise.all(ss.map((s) => s.settle(c.nodes[0]!.wsUrl, 60_000)));
  await expectAllShown(t, rs, ss, 60_000);
});

test("a crashed node's users go offline for their correspondents on the other nodes", { timeout: 120_000 }, async (t) => {
  const c: Cluster = await startCluster(3, { args: RELAY_TEST_ARGS });
  t.after(() => c.stop());
  const amy = new RelayHttp(c.nodes[0]!.url);
  await amy.signup('amy');
  const ben = new RelayHttp(c.nodes[1]!.url);
  await ben.signup('ben');
  const amyWs = await RelayWs.connect(c.nodes[0]!.wsUrl, amy.token!);
  t.after(() => amyWs.terminate());
  const benWs = await RelayWs.connect(c.nodes[1]!.wsUrl, ben.token!);
  t.after(() => benWs.terminate());
  await amyWs.next('drained');
  await benWs.next('drained');
  assert.equal((await amyWs.sendMessage('hi', [{ user: 'ben', device: 1 }], 'aGk')).type, 'sent');
  await benWs.next((f) => f.type === 'presence' && f.user === 'amy' && f.online === true);
  assert.deepEqual((await ben.request('GET', '/v1/presence')).body.online, ['amy', 'ben']);
  await c.nodes[0]!.kill();
  // No goodbye from a killed node: its heartbeats stop (every 500 ms here), and after three
  // missed ones ben's node counts amy offline and tells him.
  await benWs.next((f) => f.type === 'presence' && f.user === 'amy' && f.online === false, 20_000);
  assert.deepEqual((await ben.request('GET', '/v1/presence')).body.online, ['ben']);
});
