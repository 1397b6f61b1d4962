// A throwaway PostgreSQL server for tests: initdb into a temp directory, listening only on
// 127.0.0.1 at a free port (and a Unix socket inside that directory), stopped and removed by
// stop(). The Debian packages put the binaries in /usr/lib/postgresql/<version>/bin; .ci/run
// installs them. Run as root (CI is), the server runs as the `postgres` user, as it must.
//
//   const pg = await startPostgres();      t.after(() => pg.stop());
//   const url = await pg.createDatabase(); // a fresh database per test
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import pg from 'pg';
import { join } from 'node:path';

export interface PgServer {
  /** The server process now (a restart makes a new one), for a caller that tracks its children. */
  child(): ChildProcess | null;
  port: number;
  /** postgres://USER@127.0.0.1:PORT/DB */
  url(db: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** SIGKILL of the postmaster (a crash: no shutdown checkpoint), then wait for it to be gone. */
  kill(): Promise<void>;
  /** Starts it again on the same data directory and port (after kill or stopServer). */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** The directory holding initdb and postgres: PATH first, then the newest Debian version. */
export function postgresBinDir(): string {
  const onPath = (process.env.PATH ?? '').split(':').find((d) => d && existsSync(join(d, 'initdb')) && existsSync(join(d, 'postgres')));
  if (onPath) return onPath;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  throw new Error('PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it');
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid?.() === 0;
const USER = asRoot ? 'postgres' : userInfo().username;

/** How a PostgreSQL binary runs: as the `postgres` user when we are root (initdb refuses root). */
function asServerUser(): { uid?: number; gid?: number } {
  return asRoot ? { uid: uidOf('postgres'), gid: gidOf('postgres') } : {};
}

let seq = 0;

export async function startPostgres(): Promise<PgServer> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    chownSync(dir, uidOf('postgres'), gidOf('postgres'));
    chmodSync(dir, 0o700);
  }
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', USER, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { stdio: 'pipe', cwd: dir, ...asServerUser() });
  const port = await freePort();
  const url = (db: string): string => `postgres://${USER}@127.0.0.1:${port}/${db}`;
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const log: string[] = [];

  const launch = async (): Promise<void> => {
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'shared_buffers=32MB'];
    const p = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir, ...asServerUser() });
    proc = p;
    exited = new Promise((resolve) => p.once('exit', () => resolve()));
    p.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
    p.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
    const until = Date.now() + 60_000;
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`postgres exited at start:\n${log.join('')}`);
      try {
        await sql(url('postgres'), 'SELECT 1');
        return;
      } catch {
        if (Date.now() > until) throw new Error(`postgres did not start within 60 s:\n${log.join('')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  try {
    await launch();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const kill = async (): Promise<void> => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    // The backends are killed with the postmaster (what it committed is in its WAL), so that a
    // new postmaster does not find them still holding the old shared memory.
    const children = childrenOf(proc.pid!);
    proc.kill('SIGKILL');
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
    const until = Date.now() + 20_000;
    while (Date.now() < until && children.some(alive)) await new Promise((r) => setTimeout(r, 50));
  };
  return {
    child: () => proc,
    port,
    url,
    async createDatabase() {
      const name = `t${process.pid}_${++seq}_${Date.now()}`;
      await sql(url('postgres'), `CREATE DATABASE ${name}`);
      return url(name);
    },
    kill,
    restart: launch,
    async stop() {
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGINT'); // fast shutdown
        const t = setTimeout(() => proc?.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One statement on a connection of its own. */
async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query(text);
  } finally {
    await c.end().catch(() => {});
  }
}

/** The direct children of `pid` (the postmaster's backends and helpers). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user]).toString().trim());
}

function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user]).toString().trim());
}
