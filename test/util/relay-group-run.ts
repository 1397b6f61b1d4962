// A group of `n` real client cores (one home, store and key set each, all in this process) through a
// real relay process: the admin creates the group with everyone, a member speaks first, the admin
// removes a member, and the same member speaks again. Every step goes through the code the CLI
// runs (createGroupCmd, sendGroupText, changeGroupCmd, syncInbox over the relay's WebSocket), and
// every member runs a whole receive pass after each step. For issue 16's 1,000-member run
// (bench/suites/groups.ts) and its smaller form in CI (test/relay-group-run.test.ts).
//
// Accounts: registering and logging in n accounts from one address is what the relay's login
// limits and argon2 cost exist to slow down, so the relay is started with those lifted
// (RELAY_GROUP_RUN_ARGS); every limit group traffic meets stays at its default (bundle fetches,
// sends per device and account, recipients per send, queue quotas).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateAccountKey } from '../../crypto/account.js';
import { toBase64url } from '../../crypto/encoding.js';
import { encodePublicIdentity, generateIdentity, publicIdentity } from '../../crypto/identity.js';
import { sodiumReady, systemRandom } from '../../crypto/sodium.js';
import { register } from '../../client/core/account.js';
import { assembleClient } from '../../client/core/assemble.js';
import { saveConfig } from '../../client/core/config.js';
import type { Client } from '../../client/core/context.js';
import { openDb } from '../../client/node/sqlite.js';
import { changeGroupCmd, createGroupCmd, sendGroupText, syncOverSocket } from '../../client/core/groups.js';
import { ensureHome, homePaths } from '../../client/core/home.js';
import type { Incoming } from '../../client/core/incoming.js';
import { createInitialPreKeys } from '../../client/core/prekeys.js';
import { closeAgents } from '../../client/core/relay-http.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';

/** Only what guards passwords is lifted (see the top of this file). */
export const RELAY_GROUP_RUN_ARGS: readonly string[] = ['--rate-limit-address', '100000000', '--rate-limit-account', '100000000', '--log-level', 'warn'];
/** Cheap argon2 for the relay's password hashes (documented options; test relays use it too). */
const RELAY_ENV = { FASTCHAT_RELAY_ARGON2_MEMORY_KIB: '256', FASTCHAT_RELAY_ARGON2_TIME: '1', FASTCHAT_RELAY_LOG_LEVEL: 'warn' };
const PASSWORD = 'group run password';

export interface Timing {
  median: number;
  max: number;
}

export interface StepResult {
  /** Relay uploads the step caused (fastchat_messages_stored_total: one per send, whatever its fan-out). */
  uploads: number;
  /** The acting member's command, ms (wall clock, including any rate-limit waits). */
  commandMs: number;
  /** Each member's receive pass after the step, ms (client work plus its round trips to the relay). */
  receive: Timing;
}

export interface GroupRunResult {
  n: number;
  setupMs: number;
  create: StepResult;
  firstMessage: StepResult & { readBy: number };
  removal: StepResult;
  afterRemoval: StepResult & { readBy: number; readByRemoved: boolean };
  /** rate_limited answers the relay gave during the run (from its metrics; the client waited them out). */
  rateLimited: number;
  totalMs: number;
}

function timing(ms: number[]): Timing {
  const s = [...ms].sort((a, b) => a - b);
  return { median: +(s[Math.floor(s.length / 2)] ?? 0).toFixed(1), max: +(s.at(-1) ?? 0).toFixed(1) };
}

/** A counter of the relay's /metrics; `label` picks one series (e.g. `code="rate_limited"`). */
async function metric(relay: RelayProcess, name: string, label?: string): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(label ? `${name}{${label}} ` : `${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** keygen without a keystore (the run keeps secrets in memory), then `register` as the CLI does. */
async function makeMember(dir: string, name: string, relayUrl: string): Promise<Client> {
  const random = systemRandom();
  const home = homePaths(join(dir, name));
  ensureHome(home);
  const secrets = { identity: generateIdentity(random), storageKey: random(32), account: generateAccountKey(random) };
  const config = { identity: toBase64url(encodePublicIdentity(publicIdentity(secrets.identity))) };
  saveConfig(home, config);
  const c = assembleClient({ home, config, secrets, db: openDb(home.store), random, keystoreWasCurrent: false });
  try {
    createInitialPreKeys(c);
    await register(c, name, relayUrl, undefined);
  } catch (e) {
    c.close();
    throw e;
  }
  return c;
}

/**
 * Runs the group of `n` (the admin and n - 1 members) and returns what each step cost. Throws if a
 * member did not read what it should have, if the removed member read the message after its
 * removal, or past `deadlineMs` (checked between members, so every loop ends).
 */
export async function relayGroupRun(n: number, opts: { deadlineMs: number; log?: (s: string) => void }): Promise<GroupRunResult> {
  const log = opts.log ?? (() => {});
  const started = performance.now();
  const deadline = Date.now() + opts.deadlineMs;
  const inTime = (what: string): void => {
    if (Date.now() > deadline) throw new Error(`group run of ${n}: past its ${opts.deadlineMs} ms deadline during ${what}`);
  };
  await sodiumReady();
  const dir = mkdtempSync(join(tmpdir(), 'fastchat-group-run-'));
  const relay = await startRelayProcess({ args: [...RELAY_GROUP_RUN_ARGS], env: RELAY_ENV });
  const clients: Client[] = [];
  const savedPassword = process.env.FASTCHAT_PASSWORD;
  process.env.FASTCHAT_PASSWORD = PASSWORD;
  try {
    const names = Array.from({ length: n }, (_, i) => (i === 0 ? 'admin' : `member${String(i).padStart(4, '0')}`));
    for (let i = 0; i < names.length; i += 8) {
      inTime('setup');
      clients.push(...(await Promise.all(names.slice(i, i + 8).map((name) => makeMember(dir, name, relay.url)))));
    }
    const setupMs = performance.now() - started;
    log(`  group run n=${n}: ${n} accounts in ${(setupMs / 1000).toFixed(1)} s`);
    const [admin, speaker] = [clients[0]!, clients[1]!];
    const removed = clients[n - 1]!;
    const removedName = names[n - 1]!;

    /** Every member in `who` runs a receive pass; returns each one's time and what it received. */
    const receiveAll = async (who: Client[], what: string): Promise<{ ms: number[]; got: Incoming[][] }> => {
      const ms: number[] = [];
      const got: Incoming[][] = [];
      for (const c of who) {
        inTime(what);
        const t0 = performance.now();
        const r = await syncOverSocket(c);
        ms.push(performance.now() - t0);
        got.push(r.incoming);
      }
      return { ms, got };
    };
    const step = async (what: string, command: () => Promise<unknown>, receivers: Client[]): Promise<StepResult & { got: Incoming[][] }> => {
      const before = await metric(relay, 'fastchat_messages_stored_total');
      const t0 = performance.now();
      await command();
      const commandMs = performance.now() - t0;
      const uploads = (await metric(relay, 'fastchat_messages_stored_total')) - before;
      const { ms, got } = await receiveAll(receivers, what);
      log(`  group run n=${n}: ${what}: ${uploads} uploads, command ${(commandMs / 1000).toFixed(1)} s, receive median ${timing(ms).median} ms`);
      return { uploads, commandMs: +commandMs.toFixed(0), receive: timing(ms), got };
    };
    const readBy = (got: Incoming[][], text: string): number => got.filter((list) => list.some((m) => m.kind === 'text' && m.group !== undefined && m.text === text)).length;

    const { got: _c, ...create } = await step('create', () => createGroupCmd(admin, 'big', names.slice(1)), clients.slice(1));
    const first = await step('first message', async () => assert.equal((await sendGroupText(speaker, '#big', 'first message')).status, 'sent'), [admin, ...clients.slice(2)]);
    const firstReadBy = readBy(first.got, 'first message');
    assert.equal(firstReadBy, n - 1, `members who read the first message: ${firstReadBy} of ${n - 1}`);
    const { got: _r, ...removal } = await step('removal', () => changeGroupCmd(admin, '#big', { op: 'remove', users: [removedName] }), clients.slice(1));
    const after = await step('first message after the removal', async () => assert.equal((await sendGroupText(speaker, '#big', 'after the removal')).status, 'sent'), [admin, ...clients.slice(2, n - 1)]);
    const afterReadBy = readBy(after.got, 'after the removal');
    assert.equal(afterReadBy, n - 2, `members who read the message after the removal: ${afterReadBy} of ${n - 2}`);
    const removedPass = await receiveAll([removed], 'the removed member');
    const readByRemoved = readBy(removedPass.got, 'after the removal') > 0;
    assert.equal(readByRemoved, false, 'the removed member read a message sent after its removal');
    const { got: _f, ...firstMessage } = first;
    const { got: _a, ...afterRemoval } = after;
    return {
      n,
      setupMs: +setupMs.toFixed(0),
      create,
      firstMessage: { ...firstMessage, readBy: firstReadBy },
      removal,
      afterRemoval: { ...afterRemoval, readBy: afterReadBy, readByRemoved },
      rateLimited: await metric(relay, 'fastchat_rejects_total', 'code="rate_limited"'),
      totalMs: +(performance.now() - started).toFixed(0),
    };
  } finally {
    if (savedPassword === undefined) delete process.env.FASTCHAT_PASSWORD;
    else process.env.FASTCHAT_PASSWORD = savedPassword;
    for (const c of clients) c.close();
    closeAgents();
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
