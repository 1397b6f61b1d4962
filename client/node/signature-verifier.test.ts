// The worker thread that checks group message signatures ahead (signature-verifier.ts) with the
// pager that uses it (core/incoming.ts IncomingPager, core/signatures-ahead.ts), on a real SQLite
// store: what the worker says is used only for the bytes it was asked about, and a worker that dies
// or never answers costs time, never a message, and never lets a forgery through.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { toBase64url } from '../../crypto/encoding.js';
import { acceptSenderKeyDistribution, createGroup, createSenderKey, encodeSenderKeyDistribution, encryptGroupMessage, parseGroupChange, senderKeyDistribution, type OurSenderKey } from '../../crypto/group/index.js';
import { generateIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { openTestStore } from '../../test/util/client-store.js';
import { assembleClient } from '../core/assemble.js';
import type { Client } from '../core/context.js';
import { storeApplied } from '../core/group-change.js';
import { saveTheirKey } from '../core/group-store.js';
import { homePaths } from '../core/home.js';
import { INCOMING_PAGE_FRAMES, IncomingPager, SIGNATURE_WAIT_MS, type Incoming } from '../core/incoming.js';
import { encodePayload } from '../core/payload.js';
import type { SignatureJob, SignatureVerifier } from '../core/platform/signatures.js';
import type { MessageFrame } from '../core/relay-ws.js';
import { openSignatureVerifier } from './signature-verifier.js';

let root: string;
let seq = 0;

function makeClient(user: string): Client {
  const random = systemRandom();
  const home = homePaths(join(root, `${user}-${seq++}`));
  mkdirSync(home.dir, { recursive: true });
  return assembleClient({ home, config: { username: user, deviceId: 1 }, secrets: { identity: generateIdentity(random), storageKey: random(32) }, db: openTestStore(home.store), random, keystoreWasCurrent: false });
}

/** Bob holds #team with alice and alice's chain; `frames` makes alice's messages, `forged` one signed by mallory's key as alice. */
function aliceToBob() {
  const alice = makeClient('alice');
  const bob = makeClient('bob');
  const { record, state } = createGroup({ user: 'alice', identity: alice.secrets.identity }, 'team', [{ user: 'bob', signPublic: bob.secrets.identity.signPublic }], alice.random);
  storeApplied(bob, null, [{ record, change: parseGroupChange(record), state }]);
  let ours = createSenderKey(state, 'alice', alice.random);
  saveTheirKey(bob, acceptSenderKeyDistribution(state, state.members.find((m) => m.user === 'alice')!, encodeSenderKeyDistribution(senderKeyDistribution(ours, state))), 1);
  const mallory = createSenderKey(state, 'alice', alice.random);
  let n = 0;
  const frame = (key: OurSenderKey, text: string): { frame: MessageFrame; next: OurSenderKey } => {
    const id = `m${n++}`;
    const r = encryptGroupMessage(key, state, encodePayload({ v: 1, type: 'text', id, text, sentAt: new Date().toISOString() }), alice.random);
    return { frame: { type: 'message', id: `relay-${id}`, clientId: `client-${id}`, from: { user: 'alice', device: 1 }, body: toBase64url(r.message), sentAt: new Date().toISOString() }, next: r.state };
  };
  return {
    bob,
    frames(texts: string[]): MessageFrame[] {
      return texts.map((t) => {
        const f = frame(ours, t);
        ours = f.next;
        return f.frame;
      });
    },
    /** Alice's next position and chain key, signed with another key (as a member who knows her chain would). */
    forged(text: string): MessageFrame {
      return frame({ ...ours, signPublic: mallory.signPublic, signPrivate: mallory.signPrivate }, text).frame;
    },
  };
}

/** A verifier that passes each batch to `inner` and keeps what came back. */
function recording(inner: SignatureVerifier): SignatureVerifier & { answers: (boolean[] | null)[] } {
  const answers: (boolean[] | null)[] = [];
  return {
    answers,
    verify(jobs: SignatureJob[], done: (valid: boolean[] | null) => void) {
      inner.verify(jobs, (valid) => {
        answers.push(valid);
        done(valid);
      });
    },
    close: () => inner.close(),
  };
}

/** Pushes `frames` through a pager with `verifier`, waits until it settled; what it stored, in order, and the acks. */
async function receive(bob: Client, frames: MessageFrame[], verifier: SignatureVerifier): Promise<{ results: Incoming[]; acked: string[] }> {
  const results: Incoming[] = [];
  const acked: string[] = [];
  const pager = new IncomingPager(bob, { result: (r) => results.push(r), fail: (e) => assert.fail(String(e)), signatures: verifier });
  for (const f of frames) pager.push(f, (id) => acked.push(id));
  await pager.settled();
  return { results, acked };
}

const summary = (rs: Incoming[]): string[] => rs.map((r) => (r.kind === 'text' ? r.text : r.kind === 'group_rejected' ? `refused ${r.reason}` : r.kind));

/** A worker made from `source` (CommonJS, run with eval). */
const evalWorker = (source: string) => () => new Worker(source, { eval: true });

describe('group message signatures checked on a worker thread', () => {
  before(async () => {
    await sodiumReady();
    root = mkdtempSync(join(tmpdir(), 'fastchat-signature-verifier-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('stores a backlog checked on the worker, refusing the one signed with another key, in order, each acked', async () => {
    const t = aliceToBob();
    const texts = Array.from({ length: 300 }, (_, i) => `text ${i}`);
    const frames = t.frames(texts.slice(0, 200));
    frames.push(t.forged('signed by mallory'), ...t.frames(texts.slice(200)));
    const v = recording(openSignatureVerifier());
    try {
      const { results, acked } = await receive(t.bob, frames, v);
      assert.deepEqual(summary(results), [...texts.slice(0, 200), 'refused bad_signature', ...texts.slice(200)]);
      assert.deepEqual(acked, frames.map((f) => f.id));
      // The worker did the checks: every frame's, the forged one false.
      const answered = v.answers.flatMap((a) => a ?? []);
      assert.equal(answered.length, 301);
      assert.deepEqual(answered.map((x, i) => (x ? null : i)).filter((i) => i !== null), [200]);
    } finally {
      v.close();
    }
  });

  it('checks a backlog pushed at once at most three pages ahead of what it stored, and checks every frame on the worker', async () => {
    const t = aliceToBob();
    const texts = Array.from({ length: 5 * INCOMING_PAGE_FRAMES }, (_, i) => `text ${i}`);
    const frames = t.frames(texts);
    const inner = openSignatureVerifier();
    let stored = 0;
    /** Jobs handed to the verifier while `stored` frames were stored: never more than three pages beyond. */
    let mostAhead = 0;
    let handed = 0;
    const counting: SignatureVerifier = {
      verify(jobs, done) {
        handed += jobs.length;
        mostAhead = Math.max(mostAhead, handed - stored);
        inner.verify(jobs, done);
      },
      close: () => inner.close(),
    };
    try {
      const results: Incoming[] = [];
      const pager = new IncomingPager(t.bob, { result: (r) => (results.push(r), stored++), fail: (e) => assert.fail(String(e)), signatures: counting });
      // As the relay pushes a backlog: every frame before the pager stores anything.
      for (const f of frames) pager.push(f, () => undefined);
      await pager.settled();
      assert.deepEqual(summary(results), texts);
      assert.equal(handed, frames.length, 'every frame was checked on the worker');
      assert.ok(mostAhead <= 3 * INCOMING_PAGE_FRAMES, `${mostAhead} frames were out to the verifier beyond what was stored`);
    } finally {
      counting.close();
    }
  });

  it('falls back to the verify in line when the worker dies: every frame stored, the forged one still refused, and later batches answered at once', async () => {
    const t = aliceToBob();
    const frames = [...t.frames(['one', 'two']), t.forged('signed by mallory'), ...t.frames(['three'])];
    // Dies on the first batch it is handed, answering nothing.
    const v = recording(openSignatureVerifier({ worker: evalWorker("require('node:worker_threads').parentPort.once('message', () => process.exit(3));") }));
    try {
      const started = Date.now();
      const { results, acked } = await receive(t.bob, frames, v);
      assert.deepEqual(summary(results), ['one', 'two', 'refused bad_signature', 'three']);
      assert.deepEqual(acked, frames.map((f) => f.id));
      assert.deepEqual(v.answers, [null]);
      // Its death answered the page, rather than the page's time bound.
      assert.ok(Date.now() - started < SIGNATURE_WAIT_MS, `${Date.now() - started} ms`);
      const after = await new Promise<boolean[] | null>((r) => v.verify([{ signPublic: new Uint8Array(32), message: new Uint8Array(1), signature: new Uint8Array(64) }], r));
      assert.equal(after, null);
    } finally {
      v.close();
    }
  });

  it('stores a page whose worker never answers once SIGNATURE_WAIT_MS is over, verified in line', async () => {
    const t = aliceToBob();
    const frames = [...t.frames(['one']), t.forged('signed by mallory'), ...t.frames(['two'])];
    const v = openSignatureVerifier({ worker: evalWorker("require('node:worker_threads').parentPort.on('message', () => undefined);") });
    try {
      const started = Date.now();
      const { results } = await receive(t.bob, frames, v);
      assert.deepEqual(summary(results), ['one', 'refused bad_signature', 'two']);
      assert.ok(Date.now() - started >= SIGNATURE_WAIT_MS);
    } finally {
      v.close();
    }
  });

  it('answers what was out when it is closed', async () => {
    const v = openSignatureVerifier({ worker: evalWorker("require('node:worker_threads').parentPort.on('message', () => undefined);") });
    const out = new Promise<boolean[] | null>((r) => v.verify([{ signPublic: new Uint8Array(32), message: new Uint8Array(1), signature: new Uint8Array(64) }], r));
    v.close();
    assert.equal(await out, null);
  });

  it('does not keep a process alive: one whose worker is busy and never closed still exits', () => {
    const module = pathToFileURL(fileURLToPath(new URL('./signature-verifier.js', import.meta.url))).href;
    const script = `
      import { Worker } from 'node:worker_threads';
      const { openSignatureVerifier } = await import(${JSON.stringify(module)});
      const v = openSignatureVerifier({
        worker: () => {
          const w = new Worker("import('node:worker_threads').then((t) => t.parentPort.on('message', () => undefined));", { eval: true });
          w.once('online', () => setTimeout(() => console.log('online'), 200).unref());
          w.once('error', (e) => console.log('error', e.message));
          return w;
        },
      });
      v.verify([{ signPublic: new Uint8Array(32), message: new Uint8Array(1), signature: new Uint8Array(64) }], () => undefined);
      // Something to wait for, after which only the worker is left.
      await new Promise((r) => setTimeout(r, 500));
      console.log('asked');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.signal, null, 'killed by the timeout: the worker kept it alive');
    assert.equal(r.status, 0, r.stderr);
    // The worker was alive and listening (not failed) when the process ended.
    assert.deepEqual(r.stdout.trim().split('\n'), ['online', 'asked']);
  });
});
