// One home, one relay connection. The relay keeps one WebSocket per device and closes the older one
// when another opens (4002), so two `chat` windows on one home, each reconnecting, would knock each
// other off for ever. Instead the first chat owns the connection and listens on a Unix socket in
// the home (`chat.sock`, the home is 0700); a second chat finds it there and works through it:
// it writes what is typed to the store's outbox and asks the owner to send it, and reads what the
// owner received from the store when told something changed. Nothing secret crosses the socket —
// only "something changed", "please send", presence, connection state and notices — so a process
// that can reach it (only this user can) learns and changes nothing it could not by opening the
// store. When the owner quits, a remaining window takes the connection over.
//
// Why this design: the store is already the single truth that every fastchat process of a home
// shares (one SQLite transaction per change), so a second window needs no copy of the relay's
// frames, only a nudge to look. A lock file alone would say "another chat is open" but leave the
// second window blind to new messages; relaying frames over the socket would duplicate processIncoming.
import { closeSync, openSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

export type ShareMsg =
  | { type: 'hello'; pid: number }
  | { type: 'changed' }
  | { type: 'notice'; line: string }
  | { type: 'link'; up: boolean; reason?: string }
  | { type: 'presence'; user: string; online: boolean }
  | { type: 'flush' }
  // A receive pass before a group send (client/core/groups.ts Syncer), done on the owner's socket.
  | { type: 'sync' }
  | { type: 'synced'; ok: boolean };

export interface Owner {
  role: 'owner';
  broadcast(m: ShareMsg): void;
  close(): void;
}

export interface Guest {
  role: 'guest';
  /** The owner's process id, to name it to the user. */
  pid: number;
  send(m: ShareMsg): void;
  /** Asks the owner for a receive pass on its socket; false when it is offline (or gone). */
  sync(): Promise<boolean>;
  close(): void;
}

export interface ShareEvents {
  /** A guest asked something of us (the owner); `reply` answers that guest alone. */
  fromGuest(m: ShareMsg, reply: (m: ShareMsg) => void): void;
  /** The owner told us something (we are a guest). */
  fromOwner(m: ShareMsg): void;
  /** The owner went away (we are a guest): join again to take over. */
  ownerGone(): void;
}

/** Unix socket paths are limited to 107 bytes (sun_path); a longer home shares nothing. */
const MAX_SOCKET_PATH = 100;
/** A takeover lock older than this was left by a process that died while taking over. */
const STALE_LOCK_MS = 10_000;
const MAX_LINE = 64 * 1024;

export function socketPath(homeDir: string): string {
  return join(homeDir, 'chat.sock');
}

/** Newline-delimited JSON from a socket; malformed or oversized lines are ignored. */
function readMessages(sock: net.Socket, on: (m: ShareMsg) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    if (buf.length > MAX_LINE && !buf.includes('\n')) {
      sock.destroy();
      return;
    }
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const m = parseMsg(line);
      if (m) on(m);
    }
  });
}

function parseMsg(line: string): ShareMsg | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const m = v as Record<string, unknown>;
  switch (m.type) {
    case 'hello':
      return typeof m.pid === 'number' && Number.isInteger(m.pid) ? { type: 'hello', pid: m.pid } : undefined;
    case 'changed':
    case 'flush':
    case 'sync':
      return { type: m.type };
    case 'synced':
      return typeof m.ok === 'boolean' ? { type: 'synced', ok: m.ok } : undefined;
    case 'notice':
      return typeof m.line === 'string' ? { type: 'notice', line: m.line } : undefined;
    case 'link':
      return typeof m.up === 'boolean' ? { type: 'link', up: m.up, ...(typeof m.reason === 'string' ? { reason: m.reason } : {}) } : undefined;
    case 'presence':
      return typeof m.user === 'string' && typeof m.online === 'boolean' ? { type: 'presence', user: m.user, online: m.online } : undefined;
    default:
      return undefined;
  }
}

const frame = (m: ShareMsg): string => `${JSON.stringify(m)}\n`;

/** Connects to a running owner; resolves undefined when nobody listens (no file, or a stale one). */
function connectOwner(path: string, ev: ShareEvents | undefined): Promise<Guest | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect(path);
    let settled = false;
    let joined = false;
    const settle = (g: Guest | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(g);
    };
    // An owner answers hello at once; one that does not within this long is not a working chat.
    const timer = setTimeout(() => {
      sock.destroy();
      settle(undefined);
    }, 3000);
    sock.on('error', () => settle(undefined));
    // Sync requests in flight, answered in order (the owner runs them one at a time).
    const syncs: ((ok: boolean) => void)[] = [];
    readMessages(sock, (m) => {
      if (m.type === 'hello' && !settled) {
        const guest: Guest = {
          role: 'guest',
          pid: m.pid,
          send: (x) => {
            if (!sock.destroyed) sock.write(frame(x));
          },
          sync: () =>
            new Promise<boolean>((resolve) => {
              if (sock.destroyed) return resolve(false);
              syncs.push(resolve);
              sock.write(frame({ type: 'sync' }));
            }),
          close: () => sock.end(),
        };
        joined = true;
        settle(guest);
        return;
      }
      if (m.type === 'synced') {
        syncs.shift()?.(m.ok);
        return;
      }
      ev?.fromOwner(m);
    });
    sock.on('close', () => {
      for (const done of syncs.splice(0)) done(false);
      if (joined) ev?.ownerGone();
      else settle(undefined);
    });
  });
}

function listen(path: string, ev: ShareEvents): Promise<Owner | 'in_use'> {
  return new Promise((resolve, reject) => {
    const guests = new Set<net.Socket>();
    const server = net.createServer((sock) => {
      guests.add(sock);
      sock.on('close', () => guests.delete(sock));
      sock.on('error', () => sock.destroy());
      sock.write(frame({ type: 'hello', pid: process.pid }));
      readMessages(sock, (m) =>
        ev.fromGuest(m, (answer) => {
          if (!sock.destroyed) sock.write(frame(answer));
        }),
      );
    });
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve('in_use') : reject(e)));
    server.listen(path, () => {
      server.unref(); // the chat's own work keeps the process alive, not this socket
      resolve({
        role: 'owner',
        broadcast: (m) => {
          for (const g of guests) if (!g.destroyed) g.write(frame(m));
        },
        close: () => {
          for (const g of guests) g.destroy();
          server.close(); // removes the socket file
        },
      });
    });
  });
}

/** An exclusive lock for replacing a stale socket, so two starting chats do not both replace it. */
function takeLock(lock: string): boolean {
  try {
    closeSync(openSync(lock, 'wx', 0o600));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > STALE_LOCK_MS) rmSync(lock, { force: true });
    return false;
  }
}

/**
 * Becomes the owner of the home's relay connection, or a guest of the chat that owns it. Returns
 * undefined when sharing is not possible here (a home path too long for a Unix socket): the chat
 * then keeps its own connection as before.
 */
export async function joinHome(homeDir: string, ev: ShareEvents): Promise<Owner | Guest | undefined> {
  const path = socketPath(homeDir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return undefined;
  const lock = `${path}.lock`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const guest = await connectOwner(path, ev);
    if (guest) return guest;
    const owner = await listen(path, ev);
    if (owner !== 'in_use') return owner;
    // A socket file nobody answers on: left by a chat that was killed. Replace it, one process at a time.
    if (takeLock(lock)) {
      try {
        if (!(await connectOwner(path, undefined))) {
          rmSync(path, { force: true });
          const o = await listen(path, ev);
          if (o !== 'in_use') return o;
        }
      } finally {
        rmSync(lock, { force: true });
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

/** The pid of the chat that owns this home's relay connection, if one is running. */
export async function chatOwnerPid(homeDir: string): Promise<number | undefined> {
  const path = socketPath(homeDir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return undefined;
  const g = await connectOwner(path, undefined);
  g?.close();
  return g?.pid;
}

/** Asks the owning chat to send what is queued (after a command queued something). */
export async function pokeOwner(homeDir: string): Promise<boolean> {
  const path = socketPath(homeDir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return false;
  const g = await connectOwner(path, undefined);
  if (!g) return false;
  g.send({ type: 'flush' });
  g.close(); // ends after the write is flushed
  return true;
}

/**
 * The receive pass before a group send, for a command (`send`, `send-file`) run while a chat of
 * the home holds the connection: done on the chat's socket instead of a second connection, which
 * would knock the chat off. undefined when no chat runs (the command syncs itself); otherwise
 * whether the chat could (false: it is offline).
 */
export async function syncThroughOwner(homeDir: string): Promise<boolean | undefined> {
  const path = socketPath(homeDir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return undefined;
  const g = await connectOwner(path, undefined);
  if (!g) return undefined;
  try {
    return await g.sync();
  } finally {
    g.close();
  }
}

/**
 * A Syncer (client/core/groups.ts) for a command run while a chat of the home may hold the
 * connection: the chat's socket when one does, undefined (the command's own pass) when none does.
 */
export async function ownerSyncer(homeDir: string): Promise<import('../core/groups.js').Syncer | undefined> {
  if ((await chatOwnerPid(homeDir)) === undefined) return undefined;
  return async () => {
    if (!(await syncThroughOwner(homeDir))) {
      const { RelayUnreachable } = await import('../core/relay-http.js');
      throw new RelayUnreachable('(through the open chat)', new Error('the chat holding the connection is offline'));
    }
    return { incoming: [], warnings: [] };
  };
}
