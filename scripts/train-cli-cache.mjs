// Makes dist/fastchat.cjs.cache, V8's code cache for the CLI bundle, by running the binary through
// a small real session: a relay process on 127.0.0.1 and two throwaway homes that register, talk
// (to a user and in a group), read and look up. Run by scripts/build-cli.mjs.
//
// Why: V8 caches the code of the functions a run compiled. A cache made after `--help` alone holds
// the command definitions, and every command then compiled what it ran (sodium set-up, the store,
// the session code, zod's schemas, the socket) from source, on every start. Each step here starts
// from the cache the one before wrote and writes it again with what it compiled, so the cache ends
// up holding what the common commands run: ~6 % less CPU per `send`, `inbox` or `contacts`
// (docs/PERFORMANCE.md "CLI start-up"). The relay's own code is left out: a relay start measured
// the same with it, and every command would read a cache a megabyte larger.
//
// Every step after `--help` is a bonus: if one fails (no loopback here, a port refused), the cache
// stays what the last good step wrote, a line says so, and the build goes on.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = resolve('bin/fastchat.cjs');
const STEP_TIMEOUT_MS = 60_000;

// Cheap argon2 on both sides (the code run is the same; the cost would only slow the build).
const CHEAP = {
  FASTCHAT_KDF_MEMORY_KIB: '1024',
  FASTCHAT_KDF_ITERATIONS: '1',
  FASTCHAT_RELAY_ARGON2_MEMORY_KIB: '1024',
  FASTCHAT_RELAY_ARGON2_TIME: '1',
  FASTCHAT_REQUESTS: 'off',
};

/**
 * `node -e` that runs the binary with `args` and, when the process exits, writes the cache: the
 * bundle's SHA-256 (bin/fastchat.cjs checks it) and V8's data, through a temporary file renamed
 * into place, so a process starting meanwhile reads a whole cache or the old one.
 */
function recording(args) {
  return [
    '-e',
    `const b = require(${JSON.stringify(BIN)});
     const fs = require('node:fs');
     b.run(${JSON.stringify(args)}, (script) => process.on('exit', () => {
       const digest = require('node:crypto').createHash('sha256').update(fs.readFileSync(b.BUNDLE)).digest();
       fs.writeFileSync(b.CACHE + '.tmp', Buffer.concat([digest, script.createCachedData()]));
       fs.renameSync(b.CACHE + '.tmp', b.CACHE);
     }));`,
  ];
}

/** Runs one step to its end, recording the cache; throws with its output unless it exits 0. */
function step(args, env) {
  const r = spawnSync(process.execPath, recording(args), {
    env: { ...process.env, ...CHEAP, ...env },
    encoding: 'utf8',
    timeout: STEP_TIMEOUT_MS,
  });
  if (r.status !== 0) throw new Error(`fastchat ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n')[0]}`);
}

/** A relay on the loopback, serving the session; `url` resolves once it listens. */
function startRelay(dir) {
  const args = ['relay', 'start', '--host', '127.0.0.1', '--port', '0', '--db', join(dir, 'relay.db')];
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...CHEAP }, stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise((done) => proc.once('exit', (code, signal) => done(code ?? signal)));
  const url = new Promise((done, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error('the relay did not start listening')), STEP_TIMEOUT_MS);
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /fastchat relay listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        done(m[1]);
      }
    });
    void exited.then((how) => fail(new Error(`the relay exited (${how}) before listening`)));
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const how = await exited;
    if (how !== 0) throw new Error(`the relay ended with ${how}`);
  };
  return { url, stop, kill: () => proc.kill('SIGKILL') };
}

const home = (root, name) => ({
  FASTCHAT_HOME: join(root, name),
  FASTCHAT_PASSPHRASE: `build passphrase of ${name}`,
  FASTCHAT_PASSWORD: `build password of ${name}`,
});

/** The session; `progress.steps` counts the steps that wrote the cache. */
async function train(root, progress) {
  step(['--help'], {});
  progress.steps++;
  // Every step records on top of the last, against a relay that records nothing.
  const relay = startRelay(join(root, 'relay'));
  try {
    const url = await relay.url;
    const [a, b] = [home(root, 'train_a'), home(root, 'train_b')];
    const steps = [
      [['keygen'], a],
      [['register', 'train_a', '--relay', url], a],
      [['keygen'], b],
      [['register', 'train_b', '--relay', url], b],
      [['send', '@train_b', 'hello'], a],
      [['inbox'], b],
      [['send', '@train_a', 'hello back'], b],
      [['inbox', '--json'], a],
      [['group', 'create', '#build', '@train_b'], a],
      [['send', '#build', 'to the group'], a],
      [['inbox'], b],
      [['history', '@train_a', '--json'], b],
      [['contacts', '--json'], a],
      [['fingerprint', '@train_b'], a],
      [['chats'], b],
    ];
    for (const [args, env] of steps) {
      step(args, env);
      progress.steps++;
    }
  } finally {
    await relay.stop().catch(() => relay.kill());
  }
}

/**
 * Writes the cache; `steps` says how many steps it holds (0: not even `--help` ran, so there is no
 * cache), `error` what stopped the session early.
 */
export async function trainCodeCache() {
  const root = mkdtempSync(join(tmpdir(), 'fastchat-build-'));
  // The homes' folders are made by keygen; the relay's database folder here.
  mkdirSync(join(root, 'relay'));
  const progress = { steps: 0 };
  try {
    await train(root, progress);
    return { steps: progress.steps, error: undefined };
  } catch (e) {
    return { steps: progress.steps, error: e instanceof Error ? e.message : String(e) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
