// What the unlock agent (docs/CLI.md "unlock, lock") and the commands that use it share: where the
// socket is, the checks that keep it private to one user, the one-line JSON requests and answers.
// No crypto here: the agent process loads only this, node:net and node:fs.
//
// Node cannot ask the kernel who is on the other end of a Unix socket (no SO_PEERCRED), so "only
// this user" rests on the file system: connect() needs write permission on the socket file and
// search permission on its directory. The directory is 0700 and the socket 0600, both owned by the
// user; the agent refuses to answer, and commands refuse to ask, unless that still holds.
import { lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { CliError } from '../errors.js';

/** Linux's sun_path holds 108 bytes including the terminating zero. */
const MAX_SOCKET_PATH_BYTES = 107;

export interface AgentPaths {
  dir: string; // 0700
  socket: string; // 0600
}

/** `homeDir`: the home folder (FASTCHAT_HOME). */
export function agentPaths(homeDir: string): AgentPaths {
  const dir = join(homeDir, 'agent');
  return { dir, socket: join(dir, 'sock') };
}

export function checkSocketPathLength(p: AgentPaths): void {
  if (Buffer.byteLength(p.socket) > MAX_SOCKET_PATH_BYTES) {
    throw new CliError('agent_path_too_long', `the home path is too long for the agent's Unix socket (${p.socket})`, {
      hint: `a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} bytes: use a shorter FASTCHAT_HOME`,
    });
  }
}

function ownUid(): number {
  return process.getuid?.() ?? -1;
}

function describe(st: Stats): string {
  return `owner uid ${st.uid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}`;
}

/**
 * Why the agent's directory or socket is not private to this user, or undefined when it is: both
 * must be owned by our uid and give nothing to group or others, the directory must be a real
 * directory (not a symlink to somewhere else) and the socket a socket.
 */
export function privacyProblem(p: AgentPaths): string | undefined {
  let dir: Stats;
  let sock: Stats;
  try {
    dir = lstatSync(p.dir);
    sock = lstatSync(p.socket);
  } catch {
    return 'it is gone';
  }
  const uid = ownUid();
  if (!dir.isDirectory()) return `${p.dir} is not a directory`;
  if (dir.uid !== uid || (dir.mode & 0o077) !== 0) return `${p.dir} is not private to uid ${uid} (${describe(dir)})`;
  if (!sock.isSocket()) return `${p.socket} is not a socket`;
  if (sock.uid !== uid || (sock.mode & 0o077) !== 0) return `${p.socket} is not private to uid ${uid} (${describe(sock)})`;
  return undefined;
}

/** Requests: one JSON object per line, one request per connection. */
export type AgentRequest = { op: 'get' } | { op: 'status' } | { op: 'lock' };

/** The first line `unlock` writes to the agent's stdin: what it keeps, and for how long. */
export interface AgentStart {
  secrets: string; // base64url of the unlocked keystore contents (client/agent/client.ts)
  expiresAt: number; // ms since the epoch
  keystoreSha256: string; // hex of keystore.json as it was unlocked
}

/** Requests and answers are one JSON line each way; anything longer is refused. */
export const MAX_LINE_BYTES = 4096;

/** Answers: `secrets` only to `get`. */
export interface AgentAnswer {
  ok: boolean;
  error?: string;
  pid?: number;
  expiresAt?: string;
  secrets?: string;
}

/** `--for` values: 90s, 30m, 8h, 1d (or plain seconds). At most a week, at least a second. */
export const MAX_UNLOCK_MS = 7 * 24 * 3600 * 1000;
export const DEFAULT_UNLOCK = '8h';

export function parseDuration(v: string): number | undefined {
  const m = /^(\d{1,7})([smhd]?)$/.exec(v.trim());
  if (!m) return undefined;
  const unit = { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  const ms = Number(m[1]) * unit;
  return ms >= 1000 && ms <= MAX_UNLOCK_MS ? ms : undefined;
}
