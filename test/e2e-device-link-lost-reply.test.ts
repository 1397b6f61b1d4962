// Linking when a reply of the relay is lost (docs/PROTOCOL.md D.12, docs/RELAY.md "Linking"): the
// real `fastchat` binary, a real relay process, and a proxy in front of the relay.
//  - The new device sleeps in the middle of taking its approval: the proxy stops the `device link`
//    process (SIGSTOP, as a laptop lid closing) while its take request is in flight, hands it the
//    relay's answer while it is stopped, and resumes it (SIGCONT) after longer than the client's
//    request timeout. On waking the request's timeout fires before the answer is read (timers run
//    first), so the answer is lost: the link completes only because the relay hands the message
//    out again and the client asks again.
//  - The new device sleeps in the middle of redeeming its device ticket, the same way: the login
//    is lost to the timeout, and the link completes only because the relay answers the same ticket
//    and session again with the same login (a lost login would leave device 2 on the relay outside
//    the account's device list, holding a device slot).
//  - The approver's answer is stored but its reply dropped: it sends it again, and the relay takes
//    the same answer again as stored.
// Its own file: it waits out the request timeout.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { jsonLines, makeHome, makeTempRoot, setUpUser } from './util/fastchat-cli.js';
import { startHttpFront } from './util/http-front.js';
import { linkIn } from './util/linking.js';
import { startRelayProcess } from './util/relay-process.js';
import { RELAY_TEST_ARGS } from './util/fault.js';
import { until } from './util/until.js';

/** Longer than the client's request timeout (REQUEST_TIMEOUT_MS, 15 s, client/core/relay-http.ts). */
const ASLEEP_MS = 18_000;
/** After waking, how long the answer is held: the overdue timeout has fired by then, even under load. */
const WOKEN_MS = 3_000;
const TAKE = /^\/v1\/link\/[^/]+\/take$/;
const REDEEM = /^\/v1\/sessions\/ticket$/;

/** The process's state letter in /proc (T: stopped). */
function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

function untilStopped(pid: number): Promise<void> {
  return until(() => procState(pid) === 'T', `process ${pid} to stop`, { timeoutMs: 10_000, everyMs: 10 });
}

interface LossyProxy {
  url: string;
  /** The next answer of the channel the relay stores: its reply is dropped (the connection destroyed). */
  dropAnswerReply(): void;
  /** How many answers (PUT of the channel) came through. */
  answers(): number;
  /** The next take the relay answers with the message: stop `pid`, resume it ASLEEP_MS later, then hand the answer over. */
  sleepOnAnswer(pid: number): Promise<void>;
  /** How many takes the relay answered with the message. */
  answeredTakes(): number;
  /** The next ticket redeem the relay answers with a login: as sleepOnAnswer. */
  sleepOnLogin(pid: number): Promise<void>;
  /** How many ticket redeems the relay answered with a login. */
  logins(): number;
  close(): Promise<void>;
}

async function startLossyProxy(upstream: string): Promise<LossyProxy> {
  let armed: { pid: number; on: RegExp; slept: () => void } | undefined;
  let answered = 0;
  let logins = 0;
  let answers = 0;
  let dropAnswer = false;
  const front = await startHttpFront(upstream, {
    after: async (req, reply) => {
      const isMessage = req.method === 'POST' && TAKE.test(req.url) && reply.status === 200;
      if (isMessage) answered++;
      const isLogin = req.method === 'POST' && REDEEM.test(req.url) && reply.status === 200;
      if (isLogin) logins++;
      if (req.method === 'PUT' && /^\/v1\/link\/[^/]+$/.test(req.url)) {
        answers++;
        if (dropAnswer && reply.status === 200) {
          dropAnswer = false;
          return 'drop';
        }
      }
      const sleeper = (isMessage || isLogin) && armed?.on.test(req.url) ? armed : undefined;
      if (sleeper) {
        armed = undefined;
        // The request is in flight (the client waits for this answer): the lid closes now, and
        // the answer arrives while the process is stopped.
        process.kill(sleeper.pid, 'SIGSTOP');
        await untilStopped(sleeper.pid);
        await new Promise((r) => setTimeout(r, ASLEEP_MS));
        process.kill(sleeper.pid, 'SIGCONT');
        sleeper.slept();
        // The answer (which the relay handed over while the process slept) reaches it only after
        // it woke, so its overdue request timeout fires first. Handed over during the sleep, it
        // sat in the socket, and libuv may read it before running the timers (a process stopped
        // in epoll_wait): then it was taken once, and the retake this test is about never ran
        // (CI saw 1 take, not 2).
        await new Promise((r) => setTimeout(r, WOKEN_MS));
      }
      return undefined;
    },
  });
  return {
    url: front.url,
    sleepOnAnswer: (pid) => new Promise<void>((slept) => (armed = { pid, on: TAKE, slept })),
    answeredTakes: () => answered,
    sleepOnLogin: (pid) => new Promise<void>((slept) => (armed = { pid, on: REDEEM, slept })),
    logins: () => logins,
    dropAnswerReply: () => (dropAnswer = true),
    answers: () => answers,
    close: () => front.close(),
  };
}

/** A relay process, the proxy in front of it, alice registered (through the proxy when `alice` says so) and an empty home for her laptop. */
async function world(t: TestContext, alice: 'direct' | 'proxied') {
  const tmp = makeTempRoot('fastchat-link-lost-');
  const relay = await startRelayProcess({ args: RELAY_TEST_ARGS });
  const proxy = await startLossyProxy(relay.url);
  t.after(async () => {
    await proxy.close();
    await relay.stop();
    tmp.cleanup();
  });
  const homes = { alice: makeHome(tmp.root, 'alice'), laptop: makeHome(tmp.root, 'laptop') };
  await setUpUser(homes.alice, alice === 'proxied' ? proxy.url : relay.url);
  return { relay, proxy, ...homes };
}

/**
 * Only the new device goes through the proxy; `sleep` arms it to stop the `device link` process on
 * one reply. Alice approves; the link must complete after it is resumed, with alice's list [1, 2]
 * and the new home logged in as device 2 (its token, its account key).
 */
async function linkThroughSleep(t: TestContext, sleep: (proxy: LossyProxy, pid: number) => Promise<void>): Promise<LossyProxy> {
  const { proxy, alice, laptop } = await world(t, 'direct');
  const link = linkIn(t, laptop, proxy.url, 'alice');
  const { code, fingerprint } = await link.waiting;
  const slept = sleep(proxy, link.child.pid!);
  const approved = JSON.parse((await alice.ok(['device', 'approve', code, '--yes', '--json'])).stdout);
  assert.deepEqual([approved.approved, approved.device], [true, 2]);
  await slept;

  const end = await link.done;
  assert.equal(end.code, 0, `the resumed link failed: ${end.stderr}`);
  assert.deepEqual(jsonLines(end.stdout).at(-1), { ...jsonLines(end.stdout).at(-1), state: 'linked', user: 'alice', device: 2, fingerprint });
  assert.deepEqual(jsonLines((await alice.ok(['device', 'list', '--json'])).stdout).map((r) => r.device), [1, 2]);
  const rows = jsonLines((await laptop.ok(['device', 'list', '--json'])).stdout);
  assert.deepEqual(rows.map((r) => [r.device, r.this]), [[1, false], [2, true]]);
  const who = JSON.parse((await laptop.ok(['whoami', '--json'])).stdout);
  assert.deepEqual([who.username, who.deviceId, who.loggedIn], ['alice', 2, true]);
  return proxy;
}

test('a new device stopped while its take of the approval is in flight, and resumed after its request timed out, takes the approval again and links', { timeout: 180_000 }, async (t) => {
  const proxy = await linkThroughSleep(t, (p, pid) => p.sleepOnAnswer(pid));
  // The answer handed over while it slept was lost to the timeout; the message was taken again.
  assert.equal(proxy.answeredTakes(), 2, 'the approval was taken twice');
});

test('a new device stopped while its ticket redeem is in flight, and resumed after its request timed out, redeems again with the same session and links', { timeout: 180_000 }, async (t) => {
  const proxy = await linkThroughSleep(t, (p, pid) => p.sleepOnLogin(pid));
  // The login handed over while it slept was lost to the timeout; the same ticket and session logged in again.
  assert.equal(proxy.logins(), 2, 'the ticket was redeemed twice');
});

test('an approver whose answer the relay stored but whose reply was lost sends it again, the relay takes it as stored, and the link completes', { timeout: 180_000 }, async (t) => {
  // Only alice's home goes through the proxy.
  const { relay, proxy, alice, laptop } = await world(t, 'proxied');

  const link = linkIn(t, laptop, relay.url, 'alice');
  const { code } = await link.waiting;
  proxy.dropAnswerReply();
  const r = await alice.run(['device', 'approve', code, '--yes', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([JSON.parse(r.stdout).approved, JSON.parse(r.stdout).device], [true, 2]);
  assert.equal(proxy.answers(), 2, 'the answer was sent twice');
  const end = await link.done;
  assert.equal(end.code, 0, end.stderr);
  assert.deepEqual(jsonLines((await alice.ok(['device', 'list', '--json'])).stdout).map((row) => row.device), [1, 2]);
});
