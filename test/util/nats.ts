// A throwaway nats-server for tests (Debian's `nats-server` package; .ci/run installs it):
// 127.0.0.1 at a free port, stopped by stop(). kill() and restart() on the same port are how the
// bus-outage tests take it away and give it back.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort } from './postgres.js';

export interface NatsServer {
  /** The server process now (a restart makes a new one), for a caller that tracks its children. */
  child(): ChildProcess | null;
  port: number;
  url: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function natsServerBin(): string {
  for (const p of [...(process.env.PATH ?? '').split(':').map((d) => `${d}/nats-server`), '/usr/sbin/nats-server', '/usr/bin/nats-server']) {
    if (p && existsSync(p)) return p;
  }
  throw new Error('nats-server is not installed (apt-get install nats-server); .ci/run installs it');
}

export async function startNats(): Promise<NatsServer> {
  const bin = natsServerBin();
  const port = await freePort();
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const launch = async (): Promise<void> => {
    const p = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '--no_advertise'], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    exited = new Promise((resolve) => p.once('exit', () => resolve()));
    let log = '';
    p.stderr!.on('data', (d: Buffer) => (log += d.toString()).length > 100_000 && (log = log.slice(-50_000)));
    const until = Date.now() + 20_000;
    while (!(await listening(port))) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`nats-server exited at start:\n${log}`);
      if (Date.now() > until) throw new Error(`nats-server did not listen within 20 s:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await launch();
  const kill = async (): Promise<void> => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };
  return {
    child: () => proc,
    port,
    url: `nats://127.0.0.1:${port}`,
    kill,
    restart: launch,
    async stop() {
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc?.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
