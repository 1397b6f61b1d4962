// Linking through a relay that goes away for a while, or is older than the client (docs/PROTOCOL.md D.12,
// docs/CLI.md "device"): the real `fastchat` binary and real relay processes.
//  - The relay is stopped for a few seconds while the new device waits: `device link` says so on
//    stderr once (what failed, until when it keeps asking), once more when the relay is back, and
//    still links; stdout stays JSON lines, and neither stream holds the code.
//  - An older relay refuses the `session` field of a ticket redeem with bad_request (its body
//    schema is strict): the new device asks once more with `{ticket}` alone, and links.
//  - The relay refuses an approver's answer for now (503): `device approve` says so on stderr
//    once, sends it again, says the relay answers again, and the link completes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines, makeHome, makeTempRoot, setUpUser, startUsers } from './util/fastchat-cli.js';
import { startHttpFront } from './util/http-front.js';
import { linkIn } from './util/linking.js';
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
import { RELAY_TEST_ARGS } from './util/fault.js';
import { until } from './util/until.js';

const NOT_ANSWERING = /^the relay is not answering \(([^)]*)\); still trying until \d\d:\d\d — Ctrl-C to give up$/;
const ANSWERING = 'the relay is answering again';

test('a new device whose relay stops for a few seconds while it waits says so on stderr, once, says when the relay is back, and links', { timeout: 120_000 }, async (t) => {
  const { tmp, relay: first, dbPath, homes } = await startUsers(['alice'] as const, { relayArgs: RELAY_TEST_ARGS, prefix: 'fastchat-link-down-' });
  let relay: RelayProcess = first;
  t.after(async () => {
    await relay.stop();
    tmp.cleanup();
  });
  const link = linkIn(t, makeHome(tmp.root, 'laptop'), relay.url, 'alice');
  const { code, fingerprint } = await link.waiting;

  await relay.stop();
  await until(() => link.stderr().includes('the relay is not answering'), 'the not-answering notice', { everyMs: 50 });
  await new Promise((r) => setTimeout(r, 3000));
  relay = await startRelayProcess({ db: dbPath, port: first.port, args: RELAY_TEST_ARGS });
  await until(() => link.stderr().includes(ANSWERING), 'the answering-again notice', { everyMs: 50 });

  const approved = JSON.parse((await homes.alice.ok(['device', 'approve', code, '--yes', '--json'])).stdout);
  assert.equal(approved.device, 2);
  const end = await link.done;
  assert.equal(end.code, 0, `the link failed: ${end.stderr}`);
  // stdout: JSON lines only, the waiting line and the linked one.
  assert.deepEqual(jsonLines(end.stdout).map((l) => l.state), ['waiting', 'linked']);
  assert.deepEqual([jsonLines(end.stdout)[1].device, jsonLines(end.stdout)[1].fingerprint], [2, fingerprint]);
  // stderr: the two notices, once each (several takes failed while the relay was down), the first
  // naming the failure; neither the code nor a part of it anywhere.
  const lines = end.stderr.split('\n').filter((l) => l.startsWith('the relay '));
  assert.equal(lines.length, 2, end.stderr);
  assert.match(lines[0]!, NOT_ANSWERING);
  // Refused once it is gone; reset, or 503 from a relay shutting down, if a take meets its stop.
  assert.match(NOT_ANSWERING.exec(lines[0]!)![1]!, /^(connection refused|connection reset|HTTP 503 [a-z_]+)$/);
  assert.equal(lines[1], ANSWERING);
  for (const part of [code, code.replaceAll('-', ''), ...code.split('-')]) assert.ok(!end.stderr.includes(part), `stderr holds ${part}`);
  assert.deepEqual(jsonLines((await homes.alice.ok(['device', 'list', '--json'])).stdout).map((r) => r.device), [1, 2]);
});

type Refusal = { status: number; code: string; message: string };

/**
 * A relay as a client behind it sees it: each request is shown to `refuse` first, and refused with
 * what it returns (never passed on), else forwarded to `upstream` as it is.
 */
function startFront(upstream: string, refuse: (method: string, url: string, body: Buffer) => Refusal | undefined): Promise<{ url: string; close(): Promise<void> }> {
  return startHttpFront(upstream, {
    before: (req) => {
      const r = refuse(req.method, req.url, req.body);
      return r && { status: r.status, json: { error: { code: r.code, message: r.message } } };
    },
  });
}

test('a new device linking through a relay that refuses the session field of a ticket redeem (an older relay) redeems the ticket without it once and links', { timeout: 120_000 }, async (t) => {
  const { tmp, relay, homes } = await startUsers(['alice'] as const, { relayArgs: RELAY_TEST_ARGS, prefix: 'fastchat-link-old-' });
  // What a relay from before the client-drawn session answers: a redeem with a `session` field is
  // refused as its strict body schema refused it, before it looked at the ticket.
  let refused = 0;
  let redeems = 0;
  const front = await startFront(relay.url, (method, url, body) => {
    if (method !== 'POST' || url !== '/v1/sessions/ticket') return undefined;
    redeems++;
    if (!('session' in JSON.parse(body.toString('utf8')))) return undefined;
    refused++;
    return { status: 400, code: 'bad_request', message: "body: unrecognized key(s) in object: 'session'" };
  });
  t.after(async () => {
    await front.close();
    await relay.stop();
    tmp.cleanup();
  });
  const laptop = makeHome(tmp.root, 'laptop');
  const link = linkIn(t, laptop, front.url, 'alice');
  const { code, fingerprint } = await link.waiting;
  await homes.alice.ok(['device', 'approve', code, '--yes', '--json']);
  const end = await link.done;
  assert.equal(end.code, 0, `the link failed: ${end.stderr}`);
  assert.deepEqual(jsonLines(end.stdout).at(-1), { ...jsonLines(end.stdout).at(-1), state: 'linked', user: 'alice', device: 2, fingerprint });
  assert.deepEqual([refused, redeems], [1, 2], 'one redeem with session refused, one without it');
  assert.deepEqual(jsonLines((await homes.alice.ok(['device', 'list', '--json'])).stdout).map((r) => r.device), [1, 2]);
  // Logged in with the token the relay drew: the laptop reads its account's list with it.
  assert.deepEqual(jsonLines((await laptop.ok(['device', 'list', '--json'])).stdout).map((r) => [r.device, r.this]), [[1, false], [2, true]]);
});

test('an approver whose answer the relay refuses for now (503) says so on stderr, sends it again, says the relay answers again, and the link completes', { timeout: 120_000 }, async (t) => {
  const tmp = makeTempRoot('fastchat-link-approve-');
  const relay = await startRelayProcess({ args: RELAY_TEST_ARGS });
  let answers = 0;
  // Only alice's home goes through the front: her first answer of the channel is refused for now.
  const front = await startFront(relay.url, (method, url) => {
    if (method !== 'PUT' || !/^\/v1\/link\/[^/]+$/.test(url) || ++answers > 1) return undefined;
    return { status: 503, code: 'unavailable', message: 'the relay cannot reach its database right now' };
  });
  t.after(async () => {
    await front.close();
    await relay.stop();
    tmp.cleanup();
  });
  const alice = makeHome(tmp.root, 'alice');
  await setUpUser(alice, front.url);
  const link = linkIn(t, makeHome(tmp.root, 'laptop'), relay.url, 'alice');
  const { code } = await link.waiting;
  const r = await alice.run(['device', 'approve', code, '--yes', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([JSON.parse(r.stdout).approved, JSON.parse(r.stdout).device], [true, 2], 'stdout is the JSON result alone');
  assert.equal(answers, 2, 'the answer was sent twice');
  const notices = r.stderr.split('\n').filter((l) => l.startsWith('the relay '));
  assert.equal(notices.length, 2, r.stderr);
  assert.deepEqual(NOT_ANSWERING.exec(notices[0]!)?.[1], 'HTTP 503 unavailable');
  assert.equal(notices[1], ANSWERING);
  assert.ok(!r.stderr.includes(code), 'stderr holds the code');
  assert.equal((await link.done).code, 0);
});
