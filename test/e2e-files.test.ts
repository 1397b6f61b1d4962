// Encrypted file transfer end to end: the real binary sends files through a real relay process and
// another home receives them. Round trips at the chunk edges and at 50 MB, memory of the client
// and relay processes while 50 MB passes, a tampered blob on the relay's disk, the size cap and
// the quota, hostile file names, and a scan of the relay's disk for the file's plaintext.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FASTCHAT_BIN } from './util/paths.js';
import type { RelayProcess } from './util/relay-process.js';
import { jsonLines, makeTempRoot, TEST_CLIENT_ENV, type TestHome, startUsers } from './util/fastchat-cli.js';

const MB = 1000 * 1000;
const CHUNK = 64 * 1024;

function vm(pid: number): { rss: number; hwm: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rss: kib('VmRSS') * 1024, hwm: kib('VmHWM') * 1024 };
  } catch {
    return null;
  }
}

/** Samples a process's RSS every 20 ms until stopped; returns the highest value seen. */
function sampleRss(pid: number): { stop(): number } {
  let peak = 0;
  const tick = () => {
    const v = vm(pid);
    if (v && Number.isFinite(v.rss) && v.rss > peak) peak = v.rss;
  };
  tick();
  const timer = setInterval(tick, 20);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return peak;
    },
  };
}

/** Runs the real binary and records its peak RSS (VmHWM, read until it exits). */
function runMeasured(home: TestHome, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; peak: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FASTCHAT_BIN, ...args], { env: { ...process.env, ...TEST_CLIENT_ENV, ...home.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    const timer = setInterval(() => {
      const v = vm(child.pid!); // a zombie (exited, not reaped) has no Vm lines: NaN, skipped
      if (v && Number.isFinite(v.hwm)) peak = Math.max(peak, v.hwm, Number.isFinite(v.rss) ? v.rss : 0);
    }, 10);
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(timer);
      clearTimeout(kill);
      resolve({ code, stdout, stderr, peak });
    });
  });
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Writes `size` random bytes in 1 MiB pieces (no 50 MB buffer in the test either). */
function writeRandomFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  for (let done = 0; done < size; ) {
    const n = Math.min(1 << 20, size - done);
    writeSync(fd, randomBytes(n));
    done += n;
  }
  closeSync(fd);
}

/** Every file of the relay: the database (and WAL/SHM) and the blob directory. */
function relayFiles(db: string): string[] {
  const dir = join(db, '..');
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** True when `needle` occurs in the file (streamed in overlapping 1 MiB windows). */
function fileContains(path: string, needle: Buffer): boolean {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc((1 << 20) + needle.length);
    let carry = 0;
    for (;;) {
      const n = readSync(fd, buf, carry, 1 << 20, null);
      if (n === 0) return false;
      const view = buf.subarray(0, carry + n);
      if (view.indexOf(needle) >= 0) return true;
      carry = Math.min(needle.length - 1, view.length);
      view.copy(buf, 0, view.length - carry);
    }
  } finally {
    closeSync(fd);
  }
}

describe('encrypted file transfer', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let bob: TestHome;
  let carol: TestHome;
  const MAX_BLOB = 60 * MB;
  const QUOTA = 80 * MB;

  before(async () => {
    ({ relay, tmp, homes: { alice, bob, carol } } = await startUsers(['alice', 'bob', 'carol'], {
      prefix: 'fastchat-files-',
      relayArgs: ['--max-blob-bytes', String(MAX_BLOB), '--blob-quota-bytes', String(QUOTA)],
    }));
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  it('round-trips files of 0 bytes, 1 byte, one chunk exactly, one chunk + 1 and 64 KiB ± 1, byte for byte', async () => {
    const sizes = [0, 1, CHUNK - 8, CHUNK - 7, CHUNK, CHUNK + 1];
    const sent = new Map<string, string>();
    for (const size of sizes) {
      const p = join(tmp.root, `edge-${size}.bin`);
      writeRandomFile(p, size);
      sent.set(`edge-${size}.bin`, sha(p));
      const r = JSON.parse((await alice.ok(['send-file', '@bob', p, '--json', '--caption', `size ${size}`])).stdout);
      assert.equal(r.status, 'sent');
      assert.equal(r.file.size, size);
      assert.equal(r.to, 'bob');
    }
    const lines = jsonLines((await bob.ok(['inbox', '--json'])).stdout).filter((m) => m.file);
    assert.equal(lines.length, sizes.length);
    for (const m of lines) {
      assert.equal(m.from, 'alice');
      assert.equal(m.file.path, join(bob.dir, 'files', m.file.name));
      assert.equal(sha(m.file.path), sent.get(m.file.name), m.file.name);
      assert.equal(m.file.size, statSync(m.file.path).size);
      assert.equal(m.file.mime, 'application/octet-stream');
      assert.match(m.text, /^size \d+$/);
    }
    assert.deepEqual(readdirSync(join(bob.dir, 'files')).filter((n) => !n.startsWith('.')).sort(), [...sent.keys()].sort());
    // Every recipient acknowledged: the relay deleted every blob.
    assert.deepEqual(readdirSync(`${relay.db}-blobs`), []);
  });

  it('sends and receives 50 MB with client and relay RSS growth under 64 MB, and the relay disk never holds the plaintext', async () => {
    const small = join(tmp.root, 'small.bin');
    writeRandomFile(small, 1000);
    const big = join(tmp.root, 'big.bin');
    writeRandomFile(big, 50 * MB);
    const window = Buffer.alloc(4096);
    const fd = openSync(big, 'r');
    readSync(fd, window, 0, 4096, 31 * MB + 17);
    closeSync(fd);

    // Baselines: the same commands moving a 1 kB file.
    const sendSmall = await runMeasured(alice, ['send-file', '@bob', small, '--json']);
    assert.equal(sendSmall.code, 0, sendSmall.stderr);
    const recvSmall = await runMeasured(bob, ['inbox', '--json']);
    assert.equal(recvSmall.code, 0, recvSmall.stderr);

    const relayBefore = vm(relay.proc.pid!)!.rss;
    const relayPeak = sampleRss(relay.proc.pid!);
    const sendBig = await runMeasured(alice, ['send-file', '@bob', big, '--json']);
    assert.equal(sendBig.code, 0, sendBig.stderr);
    const relayPeakUp = relayPeak.stop();

    // Blindness: the relay holds the 50 MB blob now; no 4 KiB window of the plaintext is on its disk.
    const files = relayFiles(relay.db);
    assert.ok(files.some((f) => f.includes('-blobs') && statSync(f).size > 50 * MB), 'the blob is on disk');
    for (const f of files) assert.ok(!fileContains(f, window), `plaintext found in ${f}`);

    const relayBefore2 = vm(relay.proc.pid!)!.rss;
    const relayPeak2 = sampleRss(relay.proc.pid!);
    const recvBig = await runMeasured(bob, ['inbox', '--json']);
    assert.equal(recvBig.code, 0, recvBig.stderr);
    const relayPeakDown = relayPeak2.stop();
    const got = jsonLines(recvBig.stdout).find((m) => m.file?.name === 'big.bin');
    assert.ok(got, recvBig.stdout);
    assert.equal(sha(got.file.path), sha(big));

    const growth = {
      sender: sendBig.peak - sendSmall.peak,
      receiver: recvBig.peak - recvSmall.peak,
      relayUpload: relayPeakUp - relayBefore,
      relayDownload: relayPeakDown - relayBefore2,
    };
    const fmt = (n: number) => `${(n / MB).toFixed(1)} MB`;
    process.stderr.write(`# RSS: sender ${fmt(sendSmall.peak)} → ${fmt(sendBig.peak)}, receiver ${fmt(recvSmall.peak)} → ${fmt(recvBig.peak)}, relay up ${fmt(relayBefore)} → ${fmt(relayPeakUp)}, relay down ${fmt(relayBefore2)} → ${fmt(relayPeakDown)}\n`);
    for (const [who, g] of Object.entries(growth)) assert.ok(g < 64 * 1024 * 1024, `${who} RSS grew ${fmt(g)}`);
    for (const f of relayFiles(relay.db)) assert.ok(!fileContains(f, window), `plaintext found in ${f} after delivery`);
  });

  it('a byte flipped in the blob on the relay\'s disk gives the recipient a clear integrity error and no file', async () => {
    const p = join(tmp.root, 'contract.txt');
    writeFileSync(p, 'the real terms '.repeat(1000));
    const r = JSON.parse((await alice.ok(['send-file', '@bob', p, '--json'])).stdout);
    const blobPath = join(`${relay.db}-blobs`, r.file.blob);
    const fd = openSync(blobPath, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, 3000);
    b[0]! ^= 0x01;
    writeSync(fd, b, 0, 1, 3000);
    closeSync(fd);
    const res = await bob.ok(['inbox', '--json']);
    const m = jsonLines(res.stdout).find((x) => x.file?.name === 'contract.txt');
    assert.ok(m, res.stdout);
    assert.equal(m.error.code, 'integrity');
    assert.equal(m.file.path, null);
    assert.match(res.stderr, /failed its integrity check/);
    const left = readdirSync(join(bob.dir, 'files'));
    assert.ok(!left.some((n) => n.includes('contract')), `left behind: ${left.join(', ')}`);
    assert.ok(!readdirSync(join(bob.dir, 'files', '.partial')).length, 'the bad download is not kept for resume');
  });

  it('resumes an interrupted download from where it stopped (Range), fetching only the rest', async () => {
    const p = join(tmp.root, 'resume.bin');
    writeRandomFile(p, 300_000);
    const r = JSON.parse((await alice.ok(['send-file', '@bob', p, '--json'])).stdout);
    const blobPath = join(`${relay.db}-blobs`, r.file.blob);
    const blob = readFileSync(blobPath);
    // Bob's earlier attempt got the first 100 000 bytes before the connection broke.
    const partial = join(bob.dir, 'files', '.partial');
    writeFileSync(join(partial, `${r.file.blob}.blob`), blob.subarray(0, 100_000));
    // Spoil the relay's copy of those first bytes: only a client that resumes (and never
    // re-reads them) can still produce a file that verifies.
    const fd = openSync(blobPath, 'r+');
    writeSync(fd, Buffer.alloc(1000, 0xee), 0, 1000, 5000);
    closeSync(fd);
    const m = jsonLines((await bob.ok(['inbox', '--json'])).stdout).find((x) => x.file?.name === 'resume.bin');
    assert.ok(m && !m.error, JSON.stringify(m));
    assert.equal(sha(m.file.path), sha(p));
    assert.deepEqual(readdirSync(partial), []);
  });

  it('refuses an over-size upload from its Content-Length before reading the body (413)', async () => {
    const token = JSON.parse(readFileSync(join(alice.dir, 'token.json'), 'utf8')).token as string;
    const started = Date.now();
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${relay.url}/v1/blobs?to=bob`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-length': String(MAX_BLOB + 1) } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.flushHeaders(); // headers only: not one byte of the body is ever sent
    });
    assert.equal(status.status, 413);
    assert.equal(JSON.parse(status.body).error.code, 'payload_too_large');
    assert.ok(Date.now() - started < 5000);
    const huge = join(tmp.root, 'huge.bin');
    writeRandomFile(huge, MAX_BLOB + 1);
    const r = await alice.run(['send-file', '@bob', huge]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /payload_too_large/);
    assert.deepEqual(readdirSync(`${relay.db}-blobs`).filter((n) => n.endsWith('.part')), []);
  });

  it('sends a file to a group through the group send path: one blob, every member gets it', async () => {
    await alice.ok(['group', 'create', '#team', '@bob', '@carol']);
    await Promise.all([bob.ok(['inbox']), carol.ok(['inbox'])]);
    const p = join(tmp.root, 'notes.md');
    writeFileSync(p, '# plan\n'.repeat(5000));
    const r = JSON.parse((await alice.ok(['send-file', '#team', p, '--json', '--caption', 'for the meeting'])).stdout);
    assert.equal(r.status, 'sent');
    assert.equal(r.to, null);
    assert.equal(r.group, 'team');
    assert.equal(r.recipients, 2);
    assert.equal(readdirSync(`${relay.db}-blobs`).length, 1, 'uploaded once for the whole group');
    for (const h of [bob, carol]) {
      const m = jsonLines((await h.ok(['inbox', '--json'])).stdout).find((x) => x.file);
      assert.ok(m, `${h.name} got the file`);
      assert.equal(m.group, 'team');
      assert.equal(m.text, 'for the meeting');
      assert.equal(m.file.mime, 'text/markdown');
      assert.equal(sha(m.file.path), sha(p));
    }
    assert.equal(readdirSync(`${relay.db}-blobs`).length, 0, 'deleted after both members acknowledged');
  });

  it('an upload over the sender\'s storage quota fails with quota_exceeded and stores nothing', async () => {
    const f = join(tmp.root, 'forty.bin');
    writeRandomFile(f, 45 * MB);
    await carol.ok(['send-file', '@bob', f]); // bob has not fetched it: it counts against carol
    const r = await carol.run(['send-file', '@bob', f, '--json']);
    assert.equal(r.code, 1);
    const e = JSON.parse(r.stderr).error; // under --json, the error is one JSON object
    assert.equal(e.code, 'quota_exceeded');
    assert.ok(e.hint, 'with a hint');
    assert.equal(readdirSync(`${relay.db}-blobs`).length, 1);
    await bob.ok(['inbox', '--json']); // fetched and acknowledged: the quota is free again
    assert.equal(readdirSync(`${relay.db}-blobs`).length, 0);
  });

  it('neutralises hostile file names and never overwrites an existing file', async () => {
    const names = ['..\\..\\escape.txt', 'bell\u0007\u001b[2J.txt', '.hidden'];
    for (const n of names) {
      const p = join(tmp.root, n);
      writeFileSync(p, `content of ${JSON.stringify(n)}`);
      await alice.ok(['send-file', '@bob', p]);
    }
    writeFileSync(join(tmp.root, 'escape.txt'), 'second copy');
    await alice.ok(['send-file', '@bob', join(tmp.root, 'escape.txt')]);
    const out = join(tmp.root, 'bob-out');
    const lines = jsonLines((await bob.ok(['inbox', '--json', '--out', out])).stdout).filter((m) => m.file);
    assert.deepEqual(lines.map((m) => m.file.name), ['escape.txt', 'bell[2J.txt', 'hidden', 'escape.txt']);
    assert.deepEqual(readdirSync(out).sort(), ['bell[2J.txt', 'escape (1).txt', 'escape.txt', 'hidden']);
    assert.equal(readFileSync(join(out, 'escape.txt'), 'utf8'), `content of ${JSON.stringify(names[0])}`);
    assert.equal(readFileSync(join(out, 'escape (1).txt'), 'utf8'), 'second copy');
    assert.ok(!existsSync(join(tmp.root, 'escape.txt.1')));
  });
});
