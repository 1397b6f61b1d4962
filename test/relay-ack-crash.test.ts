// An ack waiting for its commit when the relay dies (SIGKILL of a real relay process): the message
// is pushed again after the restart, never lost; a send answered `sent` while acks waited is
// committed with them and survives. The relay under test is test/util/relay-ack-delay.ts, a real
// relay process whose acks wait a minute for their commit (so the kill lands inside the wait every
// time); the restart is a plain `fastchat relay start` on the same file.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RelayHttp, RelayWs } from './util/relay-client.js';
import { RELAY_TEST_ARGS } from './util/fault.js';
import { killOnExit } from './util/reaper.js';
import { startRelayProcess } from './util/relay-process.js';
import { TEST_RELAY_ENV } from './util/relay-process.js';

const FIXTURE = fileURLToPath(new URL('./util/relay-ack-delay.js', import.meta.url));
const BOB = [{ user: 'bob', device: 1 }];

/** Starts the fixture relay; resolves with its url and a SIGKILL that resolves once it is dead. */
async function deferringRelay(db: string): Promise<{ url: string; wsUrl: string; kill: () => Promise<void> }> {
  const proc = spawn(process.execPath, [FIXTURE, db, '60000'], { env: { ...process.env, ...TEST_RELAY_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(proc);
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /fastchat relay listening on (\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`the fixture relay exited before listening: ${err}`)));
  });
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/v1/ws`,
    kill: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

async function connect(t: TestContext, wsUrl: string, token: string): Promise<RelayWs> {
  const ws = await RelayWs.connect(wsUrl, token);
  t.after(() => ws.terminate());
  await ws.next('hello');
  return ws;
}

/** What a fresh connection of bob is pushed before `drained`. */
async function backlogOf(t: TestContext, wsUrl: string, token: string): Promise<string[]> {
  const ws = await connect(t, wsUrl, token);
  await ws.next('drained', 10_000);
  const ids = ws.frames.filter((f) => f.type === 'message').map((f) => String(f.clientId));
  await ws.terminate();
  return ids;
}

test('an ack not yet committed when the relay is killed is redelivered after the restart, and a send answered meanwhile is kept', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-ack-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'relay.db');

  // 1. bob acks m1; the relay dies before the ack's commit: m1 is pushed again, nothing is lost.
  let relay = await deferringRelay(db);
  const alice = new RelayHttp(relay.url);
  const aliceToken = await alice.signup('alice');
  const bob = new RelayHttp(relay.url);
  const bobToken = await bob.signup('bob');
  let a = await connect(t, relay.wsUrl, aliceToken);
  let b = await connect(t, relay.wsUrl, bobToken);
  await b.next('drained');
  assert.equal((await a.sendMessage('m1', BOB, 'b25l')).type, 'sent');
  const m1 = await b.next('message');
  b.ack(String(m1.id));
  b.send({ type: 'ping' });
  await b.next('pong'); // frames are handled in order: the ack is taken, its commit waits
  await relay.kill();
  let restarted = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  assert.deepEqual(await backlogOf(t, restarted.wsUrl, bobToken), ['m1'], 'the acked message is pushed again after the crash');
  await restarted.stop();

  // 2. bob acks m1 again, then alice sends m2 and is answered `sent`: that commit carried the ack.
  relay = await deferringRelay(db);
  a = await connect(t, relay.wsUrl, aliceToken);
  b = await connect(t, relay.wsUrl, bobToken);
  const again = await b.next('message');
  assert.equal(again.clientId, 'm1');
  b.ack(String(again.id));
  b.send({ type: 'ping' });
  await b.next('pong');
  assert.equal((await a.sendMessage('m2', BOB, 'dHdv')).type, 'sent');
  await relay.kill();
  restarted = await startRelayProcess({ db, args: RELAY_TEST_ARGS });
  t.after(() => restarted.stop());
  assert.deepEqual(await backlogOf(t, restarted.wsUrl, bobToken), ['m2'], 'm2 survived the crash; the ack committed with it is not undone');
});
