// Commands' side of the unlock agent: start one (`fastchat unlock`), ask one for the unlocked
// keystore contents, lock one. A home without an agent is the normal case: everything here then
// answers "none" and the command asks for the passphrase as before.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { concat, fromBase64url, lp, Reader, toBase64url, wipe } from '../../crypto/encoding.js';
import { encodeAccountKeyPair, parseAccountKeyPair } from '../../crypto/account.js';
import { encodeIdentityKeyPair, parseIdentityKeyPair } from '../../crypto/identity.js';
import { CliError } from '../errors.js';
import type { Home } from '../core/home.js';
import type { Secrets } from '../core/keystore.js';
import { agentPaths, checkSocketPathLength, MAX_LINE_BYTES, privacyProblem, type AgentAnswer, type AgentRequest, type AgentStart } from './protocol.js';

const ANSWER_TIMEOUT_MS = 5000;
const START_TIMEOUT_MS = 20_000;

/** The unlocked keystore contents in one byte string (the keystore's own file format is untouched). */
function encodeSecrets(s: Secrets): Uint8Array {
  return concat(lp(encodeIdentityKeyPair(s.identity)), lp(s.storageKey), ...(s.account ? [lp(encodeAccountKeyPair(s.account))] : []));
}

/** An agent started by a fastchat from before account keys sends no account key. */
function parseSecrets(b64: string): Secrets {
  const bytes = fromBase64url(b64);
  try {
    const r = new Reader(bytes);
    const identity = parseIdentityKeyPair(r.lp());
    const storageKey = r.lp();
    const account = r.remaining > 0 ? parseAccountKeyPair(r.lp()) : undefined;
    r.end();
    if (storageKey.length !== 32) throw new Error('storage key size');
    return account ? { identity, storageKey, account } : { identity, storageKey };
  } catch {
    throw new CliError('bad_agent', 'the unlock agent answered something that is not a keystore', { hint: 'run `fastchat lock`, then `fastchat unlock` again' });
  } finally {
    wipe(bytes);
  }
}

export function keystoreSha256(home: Home): string {
  return createHash('sha256').update(readFileSync(home.keystore)).digest('hex');
}

/** The agent's socket is not private to us: never talk to it. */
export class AgentNotPrivate extends CliError {
  constructor(problem: string) {
    super('agent_not_private', `refusing to use the unlock agent: ${problem}`, { hint: 'run `fastchat lock` (or delete the agent folder of the home), then `fastchat unlock` again' });
  }
}

/**
 * Sends one request to this home's agent. Undefined when there is none: no socket, or a socket
 * nobody listens on (left from an agent that died, or from before a reboot). Throws
 * AgentNotPrivate for a socket or folder another user could reach.
 */
export async function askAgent(home: Home, req: AgentRequest): Promise<AgentAnswer | undefined> {
  const paths = agentPaths(home.dir);
  if (!existsSync(paths.socket)) return undefined;
  const problem = privacyProblem(paths);
  if (problem) throw new AgentNotPrivate(problem);
  return new Promise((resolve, reject) => {
    const sock = connect(paths.socket);
    let buf = '';
    let done = false;
    const finish = (v: AgentAnswer | undefined, e?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve(v);
    };
    const timer = setTimeout(() => finish(undefined, new CliError('agent_unresponsive', 'the unlock agent did not answer', { hint: 'run `fastchat lock`, then `fastchat unlock` again' })), ANSWER_TIMEOUT_MS);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') finish(undefined);
      else finish(undefined, new CliError('agent_unresponsive', `cannot talk to the unlock agent (${e.code ?? e.message})`));
    });
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > MAX_LINE_BYTES * 4) return finish(undefined, new CliError('bad_agent', 'the unlock agent answered too much'));
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        finish(JSON.parse(buf.slice(0, nl)) as AgentAnswer);
      } catch {
        finish(undefined, new CliError('bad_agent', 'the unlock agent answered something that is not JSON'));
      }
    });
    sock.on('end', () => finish(undefined, new CliError('bad_agent', 'the unlock agent closed without answering')));
  });
}

const WHY: Record<string, string> = {
  stale: 'it was unlocked for an older keystore of this home (a new passphrase or new keys), and has locked itself',
  not_private: 'its socket is no longer private to this user, and it has locked itself',
  replaced: 'another agent took its place',
  gone: 'its socket was removed, and it has locked itself',
};

/**
 * This home's unlocked keystore contents from its agent, or undefined when there is no agent or it
 * cannot be used (then `warn` says why and the caller asks for the passphrase).
 */
export async function agentSecrets(home: Home, warn: (m: string) => void): Promise<Secrets | undefined> {
  let a: AgentAnswer | undefined;
  try {
    a = await askAgent(home, { op: 'get' });
  } catch (e) {
    warn(e instanceof Error ? e.message : String(e));
    return undefined;
  }
  if (!a) return undefined;
  if (!a.ok || typeof a.secrets !== 'string') {
    warn(`the unlock agent cannot be used: ${WHY[a.error ?? ''] ?? `it answered ${a.error ?? 'nothing useful'}`}`);
    return undefined;
  }
  return parseSecrets(a.secrets);
}

export interface Unlocked {
  pid: number;
  expiresAt: string;
  socket: string;
}

/**
 * Starts this home's agent holding `secrets` until `expiresAt` (an earlier agent of the home is
 * told to lock first). The secrets reach the agent through a pipe, never a file, an argument or
 * the environment; the agent gets an empty environment.
 */
export async function startAgent(home: Home, secrets: Secrets, keystoreHash: string, ms: number): Promise<Unlocked> {
  const paths = agentPaths(home.dir);
  checkSocketPathLength(paths);
  try {
    await askAgent(home, { op: 'lock' });
  } catch (e) {
    if (!(e instanceof AgentNotPrivate)) throw e;
    // A folder someone loosened: the new agent tightens it again before it listens.
  }
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  if (!lstatSync(paths.dir).isDirectory()) throw new AgentNotPrivate(`${paths.dir} is not a directory`);
  chmodSync(paths.dir, 0o700);
  const expiresAt = Date.now() + ms;
  const encoded = encodeSecrets(secrets);
  const start: AgentStart = { secrets: toBase64url(encoded), expiresAt, keystoreSha256: keystoreHash };
  wipe(encoded);
  const script = fileURLToPath(new URL('./serve.js', import.meta.url));
  const child = spawn(process.execPath, [script, home.dir], { detached: true, stdio: ['pipe', 'pipe', 'ignore'], env: {} });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error('it did not start in time')), START_TIMEOUT_MS);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new CliError('agent_failed', `could not start the unlock agent: ${e.message}`));
    };
    child.on('error', fail);
    child.on('exit', (code) => fail(new Error(`it exited (${code ?? 'signal'}) before it was ready`)));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!out.includes('ready\n')) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve(child.pid!);
    });
    child.stdin!.end(`${JSON.stringify(start)}\n`);
  });
  child.stdout!.destroy();
  child.unref();
  return { pid, expiresAt: new Date(expiresAt).toISOString(), socket: paths.socket };
}
