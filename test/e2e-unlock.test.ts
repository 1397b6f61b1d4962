// `fastchat unlock` / `fastchat lock` with the real binary: the agent keeps the keys for commands
// that then need no passphrase, ends on lock or when its time is up, writes nothing of the keys to
// disk, and serves no one but its own user on a socket that is still private.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toBase64url } from '../crypto/encoding.js';
import { sodiumReady } from '../crypto/sodium.js';
import { readKeystore } from '../client/core/keystore.js';
import type { RelayProcess } from './util/relay-process.js';
import { jsonLines, makeTempRoot, type RunResult, type TestHome, startUsers } from './util/fastchat-cli.js';
import { until } from './util/until.js';

const NO_PASSPHRASE = { FASTCHAT_PASSPHRASE: '' };
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); // a zombie has ended
  } catch {
    return false;
  }
}

/** Waits (bounded) until the process is gone; never asserts how long that took. */
function gone(pid: number, deadlineMs = 30_000): Promise<void> {
  return until(() => !alive(pid), `process ${pid} to exit`, { timeoutMs: deadlineMs, everyMs: 100 });
}

/** Asks the agent directly over its socket, as any local process could try to. */
function rawAsk(socket: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(line));
    s.on('data', (d: string) => (buf += d));
    s.on('end', () => resolve(buf));
    s.on('error', reject);
  });
}

describe('unlock once: the agent', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  const pids: number[] = [];

  async function unlock(home: TestHome, args: string[] = []): Promise<{ pid: number; socket: string; expiresAt: string }> {
    const r = JSON.parse((await home.ok(['unlock', '--json', ...args])).stdout);
    pids.push(r.pid);
    return r;
  }

  before(async () => {
    ({ relay, tmp, homes: { alice, bob } } = await startUsers(['alice', 'bob'], { prefix: 'fastchat-unlock-' }));
  });
  after(async () => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
    await relay?.stop();
    tmp?.cleanup();
  });

  it('lets commands run without a passphrase until lock, then they ask for it again', async () => {
    const a = await unlock(alice);
    assert.equal(statSync(join(alice.dir, 'agent')).mode & 0o777, 0o700);
    assert.equal(statSync(a.socket).mode & 0o777, 0o600);
    await alice.ok(['send', '@bob', 'sent with the agent'], { env: NO_PASSPHRASE });
    await bob.ok(['inbox']);
    const hist = jsonLines((await alice.ok(['history', '@bob', '--json'], { env: NO_PASSPHRASE })).stdout);
    assert.deepEqual(hist.map((m) => m.text), ['sent with the agent']);

    const locked = await alice.ok(['lock']);
    assert.match(locked.stdout, /^locked/m);
    await gone(a.pid);
    const after = await alice.run(['history', '@bob'], { env: NO_PASSPHRASE });
    assert.equal(after.code, 1);
    assert.match(after.stderr, /^fastchat: error: no passphrase/m);
    assert.match((await alice.ok(['lock'])).stdout, /^not unlocked/m);
  });

  it('locks itself when its time is up', async () => {
    const a = await unlock(alice, ['--for', '2s']);
    await gone(a.pid);
    assert.equal(existsSync(a.socket), false, 'the socket is removed');
    const s = await alice.run(['history', '@bob'], { env: NO_PASSPHRASE });
    assert.equal(s.code, 1);
    assert.match(s.stderr, /no passphrase/);
  });

  it('refuses a wrong passphrase and a bad duration, starting nothing', async () => {
    const wrong = await alice.run(['unlock'], { env: { FASTCHAT_PASSPHRASE: 'not it' } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong passphrase/);
    const bad = await alice.run(['unlock', '--for', '3 weeks']);
    assert.equal(bad.code, 2);
    assert.equal(existsSync(join(alice.dir, 'agent', 'sock')), false);
  });

  it('never puts the keys on disk, in its arguments or in its environment', async () => {
    await sodiumReady();
    const a = await unlock(alice);
    await alice.ok(['send', '@bob', 'another one'], { env: NO_PASSPHRASE });
    const s = await readKeystore(join(alice.dir, 'keystore.json'), alice.env.FASTCHAT_PASSPHRASE!);
    // What the agent hands out, as it travels (one base64url string): the scan looks for that too,
    // since base64 of a whole does not contain base64 of its parts.
    const answer = JSON.parse(await rawAsk(a.socket, '{"op":"get"}\n'));
    assert.ok(Buffer.from(answer.secrets, 'base64url').includes(Buffer.from(s.storageKey)), 'the scan looks for the right bytes');
    const secrets = [
      { what: 'storage key', bytes: s.storageKey },
      { what: 'identity dh', bytes: s.identity.dh.privateKey },
      { what: 'identity signing seed', bytes: s.identity.signPrivate.slice(0, 32) },
      { what: 'the agent\'s answer', bytes: Buffer.from(answer.secrets, 'base64url') },
    ];
    const haystacks: { name: string; data: Buffer }[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) haystacks.push({ name: p, data: readFileSync(p) });
      }
    };
    walk(alice.dir);
    haystacks.push({ name: 'agent cmdline', data: readFileSync(`/proc/${a.pid}/cmdline`) });
    haystacks.push({ name: 'agent environment', data: readFileSync(`/proc/${a.pid}/environ`) });
    assert.ok(haystacks.length >= 5, haystacks.map((h) => h.name).join(', '));
    const hits: string[] = [];
    for (const h of haystacks) {
      const text = h.data.toString('latin1');
      if (text.includes(alice.env.FASTCHAT_PASSPHRASE!)) hits.push(`the passphrase in ${h.name}`);
      for (const x of secrets) {
        if (h.data.includes(Buffer.from(x.bytes))) hits.push(`${x.what} (raw) in ${h.name}`);
        if (text.includes(toBase64url(x.bytes))) hits.push(`${x.what} (base64url) in ${h.name}`);
        if (text.includes(toHex(x.bytes))) hits.push(`${x.what} (hex) in ${h.name}`);
      }
    }
    assert.deepEqual(hits, []);
    await alice.ok(['lock']);
    await gone(a.pid);
  });

  it("serves no other local user: a stranger's process cannot connect to the socket", async (t) => {
    const a = await unlock(alice);
    t.after(() => alice.run(['lock']));
    // The home and the temp root are 0700 already; open them up as a careless user might, so the
    // agent's own folder (0700) and socket (0600) are all that stands in the way.
    chmodSync(tmp.root, 0o711);
    chmodSync(alice.dir, 0o711);
    t.after(() => {
      chmodSync(alice.dir, 0o700);
      chmodSync(tmp.root, 0o700);
    });
    assert.equal(statSync(join(alice.dir, 'agent')).mode & 0o777, 0o700);
    assert.equal(statSync(a.socket).mode & 0o777, 0o600);
    assert.equal(statSync(a.socket).uid, process.getuid!());
    // Connecting as another user needs root to switch users; the test suite runs as root in CI.
    assert.equal(process.getuid!(), 0, 'this test switches to another uid and needs root');
    const probe = `const s=require('node:net').connect(${JSON.stringify(a.socket)});s.on('connect',()=>{s.write('{"op":"get"}\\n');s.on('data',d=>process.stdout.write('GOT '+d));});s.on('error',e=>{process.stdout.write('ERR '+e.code);});`;
    const r = spawnSync(process.execPath, ['-e', probe], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.stdout.trim(), 'ERR EACCES', `the stranger got: ${r.stdout.slice(0, 24)}…`); // never print what it got
  });

  it('refuses a socket that is no longer private, on both sides, and locks itself', async () => {
    const a = await unlock(alice);
    chmodSync(join(alice.dir, 'agent'), 0o755);
    const r: RunResult = await alice.run(['history', '@bob'], { env: NO_PASSPHRASE });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing to use the unlock agent: \S+agent is not private to uid \d+ \(owner uid \d+, mode 0755\)/);
    assert.match(r.stderr, /^fastchat: error: no passphrase/m);
    // The agent itself, asked directly, hands nothing out and ends.
    const answer = JSON.parse(await rawAsk(a.socket, '{"op":"get"}\n'));
    assert.deepEqual(answer, { ok: false, error: 'not_private' });
    await gone(a.pid);
    chmodSync(join(alice.dir, 'agent'), 0o700);
  });

  it('locks itself when the keystore changes (a new passphrase or new keys)', async () => {
    const a = await unlock(alice);
    appendFileSync(join(alice.dir, 'keystore.json'), '\n'); // same keys, but not the file it unlocked
    const r = await alice.run(['history', '@bob'], { env: NO_PASSPHRASE });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unlocked for an older keystore of this home/);
    await gone(a.pid);
  });
});
