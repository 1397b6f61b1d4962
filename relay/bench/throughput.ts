// Bounded throughput check of a real relay process on 127.0.0.1: one sender streams N messages
// (a window of W unacknowledged at a time) to one connected receiver that acks each one.
//   npm run build && node dist/relay/bench/throughput.js [N=20000] [W=1000] [bodyBytes=256] [full|normal]
// Prints sender-ack rate (durable stores/s) and end-to-end delivery rate.
import { startRelayProcess } from '../../test/util/relay-process.js';
import { RelayHttp, RelayWs } from '../../test/util/relay-client.js';

const N = Number(process.argv[2] ?? 20_000);
const W = Number(process.argv[3] ?? 1000);
const SIZE = Number(process.argv[4] ?? 256);
const SYNC = process.argv[5] ?? 'full';
if (!(N > 0 && N <= 1_000_000 && W > 0 && SIZE > 0 && SIZE <= 65_536)) throw new Error('usage: throughput.js [N<=1e6] [W] [bodyBytes<=65536] [full|normal]');

const relay = await startRelayProcess({ args: ['--synchronous', SYNC, '--log-level', 'warn', '--queue-max-messages', String(N + 10), '--rate-limit-send', '100000000', '--rate-limit-send-burst', '100000000', '--rate-limit-send-account', '100000000', '--rate-limit-send-account-burst', '100000000'] });
try {
  const a = new RelayHttp(relay.url);
  const b = new RelayHttp(relay.url);
  await a.signup('bench_sender');
  await b.signup('bench_receiver');
  const wa = await RelayWs.connect(relay.wsUrl, a.token);
  const wb = await RelayWs.connect(relay.wsUrl, b.token);
  await wa.next('drained');
  await wb.next('drained');

  const body = Buffer.alloc(SIZE, 0x5a).toString('base64url');
  let acked = 0;
  let delivered = 0;
  let next = 0;
  const t0 = performance.now();
  let tAcked = 0;
  const done = new Promise<void>((resolve) => {
    wb.ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.type !== 'message') return;
      wb.ws.send(JSON.stringify({ type: 'ack', id: f.id }));
      if (++delivered === N) resolve();
    });
  });
  const sendMore = (): void => {
    while (next < N && next - acked < W) wa.ws.send(JSON.stringify({ type: 'send', id: `b${next++}`, to: [{ user: 'bench_receiver', device: 1 }], body }));
  };
  wa.ws.on('message', (d) => {
    const f = JSON.parse(d.toString());
    if (f.type === 'error') throw new Error(`relay refused: ${f.code}`);
    if (f.type !== 'sent') return;
    if (++acked === N) tAcked = performance.now();
    sendMore();
  });
  sendMore();
  await done;
  const t1 = performance.now();
  if (!tAcked) tAcked = t1;
  const out = {
    messages: N, window: W, bodyBytes: SIZE, synchronous: SYNC,
    storedPerSecond: Math.round(N / ((tAcked - t0) / 1000)),
    deliveredPerSecond: Math.round(N / ((t1 - t0) / 1000)),
    seconds: +((t1 - t0) / 1000).toFixed(2),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  wa.ws.terminate();
  wb.ws.terminate();
} finally {
  await relay.stop();
}
