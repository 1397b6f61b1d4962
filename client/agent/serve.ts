// The unlock agent process (`fastchat unlock` starts it detached; docs/CLI.md "unlock, lock"): holds
// one home's unlocked keystore contents in memory and hands them to that user's commands over a
// Unix socket, until `fastchat lock`, its time is up, or the machine stops. Nothing it holds is
// ever written to a file. It answers only while its directory (0700) and socket (0600) are still
// private to its uid (protocol.ts says why that is the check), and it locks itself when they are
// not, when its socket is gone, or when keystore.json changed (a new passphrase or new keys).
//
//   node serve.js <home>      first stdin line: AgentStart JSON; prints "ready" once listening
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { agentPaths, MAX_LINE_BYTES, privacyProblem, type AgentAnswer, type AgentStart } from './protocol.js';

/** How often the agent looks at its socket and keystore even when nobody asks. */
const CHECK_INTERVAL_MS = 30_000;

function keystoreSha256(home: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(join(home, 'keystore.json'))).digest('hex');
  } catch {
    return undefined;
  }
}

function readStart(): Promise<AgentStart> {
  return new Promise((resolve, reject) => {
    let buf = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_LINE_BYTES) reject(new Error('start line too long'));
        return;
      }
      process.stdin.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as AgentStart);
      } catch (e) {
        reject(e);
      }
    });
    process.stdin.on('end', () => reject(new Error('no start line')));
  });
}

async function serve(home: string): Promise<void> {
  process.title = 'fastchat-agent';
  const start = await readStart();
  let secrets: Buffer | undefined = Buffer.from(start.secrets, 'base64url');
  const paths = agentPaths(home);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  chmodSync(paths.dir, 0o700);
  // `unlock` asked any earlier agent to lock; a socket still here is left from one that died
  // (or from before a reboot), and nobody answers on it.
  if (existsSync(paths.socket)) unlinkSync(paths.socket);
  // The socket is created with the process umask: 0177 makes it 0600 from its first moment, so
  // there is no window in which another user could connect.
  process.umask(0o177);
  const server = createServer((sock) => answer(sock));
  let socketIno = -1;

  const stop = (): void => {
    if (secrets) secrets.fill(0);
    secrets = undefined;
    server.close();
    try {
      // Only our own socket: a newer agent may already listen on the path.
      if (lstatSync(paths.socket).ino === socketIno) unlinkSync(paths.socket);
    } catch {
      // already gone
    }
    process.exit(0);
  };

  /** Why this agent must stop answering, or undefined while all is as it was unlocked. */
  const reasonToStop = (): string | undefined => {
    const problem = privacyProblem(paths);
    if (problem) return 'not_private';
    try {
      if (lstatSync(paths.socket).ino !== socketIno) return 'replaced';
    } catch {
      return 'gone';
    }
    if (keystoreSha256(home) !== start.keystoreSha256) return 'stale';
    return undefined;
  };

  function reply(sock: Socket, a: AgentAnswer, then?: () => void): void {
    sock.end(`${JSON.stringify(a)}\n`, then);
  }

  function answer(sock: Socket): void {
    let buf = '';
    sock.setEncoding('utf8');
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_LINE_BYTES) sock.destroy();
        return;
      }
      sock.removeAllListeners('data');
      let op: unknown;
      try {
        op = (JSON.parse(buf.slice(0, nl)) as { op?: unknown }).op;
      } catch {
        return reply(sock, { ok: false, error: 'bad_request' });
      }
      const why = reasonToStop();
      if (why) return reply(sock, { ok: false, error: why }, stop);
      const base = { ok: true, pid: process.pid, expiresAt: new Date(start.expiresAt).toISOString() };
      if (op === 'get' && secrets) return reply(sock, { ...base, secrets: secrets.toString('base64url') });
      if (op === 'status') return reply(sock, base);
      if (op === 'lock') return reply(sock, { ok: true, pid: process.pid }, stop);
      reply(sock, { ok: false, error: 'bad_request' });
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(paths.socket, () => resolve());
  });
  chmodSync(paths.socket, 0o600);
  socketIno = lstatSync(paths.socket).ino;
  if (privacyProblem(paths)) stop();
  // Timers: the end of the unlock (kept alive by the server anyway) and a periodic look.
  setTimeout(stop, Math.max(0, start.expiresAt - Date.now()));
  setInterval(() => {
    if (reasonToStop()) stop();
  }, CHECK_INTERVAL_MS).unref();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, stop);
  process.on('SIGHUP', () => {}); // the terminal that ran `unlock` closing does not lock
  process.stdout.write('ready\n', () => process.stdout.destroy());
}

serve(process.argv[2] ?? '').catch(() => process.exit(1));
