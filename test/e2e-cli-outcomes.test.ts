// No command ends without saying what happened (issue 15, bug 1): every command of the real binary
// is run with the relay down, with the relay refusing the account, and with bad input, and each
// must either succeed and print what it did, or fail with a non-zero exit and an error on stderr
// (one JSON object under --json).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ROOT } from './util/paths.js';
import { startRelayProcess, waitForSockets, type RelayProcess } from './util/relay-process.js';
import { makeHome, makeTempRoot, type RunResult, type TestHome, startUsers } from './util/fastchat-cli.js';

/** A result that tells the user nothing: exit 0 and no output at all. */
function assertSaid(what: string, r: RunResult): void {
  assert.ok(r.code !== 0 || r.stdout.trim().length > 0 || r.stderr.trim().length > 0, `${what}: exit 0 and nothing printed`);
  if (r.code !== 0) assert.match(r.stderr, /^fastchat: error: \S/m, `${what}: exit ${r.code} without an error line\n${r.stderr}`);
}

/** Under --json a failure is exactly one JSON object on stderr: {"error":{"code","message","hint"?}}. */
function jsonError(what: string, r: RunResult): { code: string; message: string; hint?: string } {
  assert.notEqual(r.code, 0, `${what}: should fail\n${r.stdout}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim().length > 0);
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${r.stderr}`);
  const e = JSON.parse(lines[0]!).error;
  assert.equal(typeof e.code, 'string', what);
  assert.equal(typeof e.message, 'string', what);
  return e;
}

describe('every command says what happened', () => {
  let relay: RelayProcess;
  let tmp: ReturnType<typeof makeTempRoot>;
  let alice: TestHome;
  let file: string;

  before(async () => {
    ({ relay, tmp, homes: { alice } } = await startUsers(['alice', 'bob'], { prefix: 'fastchat-outcomes-' }));
    await alice.ok(['group', 'create', '#team', '@bob']);
    file = join(tmp.root, 'note.txt');
    writeFileSync(file, 'a small file\n');
  });
  after(async () => {
    await relay?.stop();
    tmp?.cleanup();
  });

  describe('with the relay down', () => {
    before(async () => {
      await relay.stop();
    });
    after(async () => {
      relay = await startRelayProcess({ db: relay.db, port: relay.port });
      await alice.ok(['login', 'alice']);
    });

    it('send-file exits 1 with relay_unreachable, as text and as JSON, to a user and to a group', async () => {
      const plain = await alice.run(['send-file', '@bob', file]);
      assert.equal(plain.code, 1, `stdout: ${plain.stdout}\nstderr: ${plain.stderr}`);
      assert.match(plain.stderr, /^fastchat: error: cannot reach the relay/m);
      const json = await alice.run(['send-file', '@bob', file, '--json']);
      assert.equal(jsonError('send-file --json', json).code, 'relay_unreachable');
      const group = await alice.run(['send-file', '#team', file]);
      assert.equal(group.code, 1, `stdout: ${group.stdout}\nstderr: ${group.stderr}`);
      assert.match(group.stderr, /cannot reach the relay/);
    });

    it('fails every one-shot command that needs the relay with exit 1 and relay_unreachable, and says what send queued', async () => {
      const fails: string[][] = [
        ['inbox'],
        ['who'],
        ['fingerprint', '@carol'],
        ['group', 'create', '#other', '@bob'],
        ['group', 'add', '#team', '@carol'],
        ['login', 'alice'],
        ['passwd'],
        ['logout', '--all'],
      ];
      for (const args of fails) {
        const r = await alice.run(args, { env: { FASTCHAT_NEW_PASSWORD: 'a new password here' } });
        assertSaid(args.join(' '), r);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /cannot reach the relay/, args.join(' '));
        const json = await alice.run([...args, '--json'], { env: { FASTCHAT_NEW_PASSWORD: 'a new password here' } });
        assert.equal(jsonError(`${args.join(' ')} --json`, json).code, 'relay_unreachable');
      }
      const dave = makeHome(tmp.root, 'dave');
      await dave.ok(['keygen']);
      const reg = await dave.run(['register', 'dave', '--relay', relay.url, '--json']);
      assert.equal(jsonError('register --json', reg).code, 'relay_unreachable');
      const queued: [string[], RegExp][] = [
        [['send', '@bob', 'while the relay is down'], /^queued locally for @bob \(relay unreachable\)/m],
        [['send', '#team', 'to the group, relay down'], /^queued locally for #team/m],
        [['group', 'rename', '#team', 'crew'], /renamed to #crew[\s\S]*relay is unreachable: the change is queued/],
      ];
      for (const [args, said] of queued) {
        const r = await alice.run(args);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stdout + r.stderr, said, args.join(' '));
      }
      const local: string[][] = [['whoami'], ['contacts'], ['history', '@bob'], ['history', '#crew'], ['group', 'list'], ['group', 'info', '#crew'], ['verify', '@bob'], ['fingerprint']];
      for (const args of local) {
        const r = await alice.run(args);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        assertSaid(args.join(' '), r);
        assert.ok(r.stdout.trim().length > 0, `${args.join(' ')} printed nothing`);
      }
    });

    it('logs out locally and says the relay was not told', async () => {
      const out = await alice.run(['logout']);
      assert.equal(out.code, 0);
      assert.match(out.stdout, /logged out locally \(the relay could not be told\)/);
    });

  });

  it('inbox --wait whose connection drops says so in words (no bare close code) and exits 1', async () => {
    const waiting = alice.run(['inbox', '--wait', '60']);
    await waitForSockets(relay.url, 1);
    await relay.kill(); // no close frame: the client sees 1006
    const r = await waiting;
    relay = await startRelayProcess({ db: relay.db, port: relay.port });
    assert.equal(r.code, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /^fastchat: error: cannot reach the relay at \S+ \(the connection dropped \(the relay stopped, or the network is down\), while waiting for messages\)/m);
    assert.doesNotMatch(r.stderr, /1006|no new messages/);
  });

  describe('with the relay refusing the account (banned by the operator)', () => {
    let bob: TestHome;
    before(async () => {
      bob = makeHome(tmp.root, 'bob');
      await bob.ok(['relay', 'users', 'ban', 'bob', '--db', relay.db]);
    });
    after(async () => {
      await bob.ok(['relay', 'users', 'unban', 'bob', '--db', relay.db]);
    });

    it('fails every command that reaches the relay with exit 1 and the relay\'s reason, not as unreachable', async () => {
      const cmds: string[][] = [['send', '@alice', 'hi'], ['send-file', '@alice', file], ['inbox'], ['who'], ['group', 'create', '#b', '@alice'], ['login', 'bob']];
      for (const args of cmds) {
        const r = await bob.run(args);
        assertSaid(args.join(' '), r);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.doesNotMatch(r.stderr, /cannot reach the relay/, args.join(' '));
        assert.match(r.stderr, /banned/, args.join(' '));
        const json = await bob.run([...args, '--json']);
        assert.equal(jsonError(`${args.join(' ')} --json`, json).code, 'banned');
      }
    });
  });

  describe('with bad input', () => {
    it('exits 2 with a usage error, as text and as one JSON object under --json, before touching anything', async () => {
      const bad: string[][] = [
        ['send', '@no', 'x'],
        ['send', '@bob', ' '],
        ['send-file', '@bob', join(tmp.root, 'missing.bin')],
        ['send-file', '@bob', tmp.root],
        ['inbox', '--wait', 'soon'],
        ['history', '@bob', '-n', 'many'],
        ['fingerprint', '@Bad-Name!'],
        ['verify', '#team'],
        ['register', 'x', '--relay', 'http://127.0.0.1:1'],
        ['register', 'someone', '--relay', 'ftp://relay'],
        ['login', 'a'],
        ['group', 'create'],
        ['group', 'rename', '#team', ''],
        ['relay', 'cert', '--out', tmp.root],
        ['send'],
        ['no-such-command'],
        ['send', '@bob', 'hi', '--no-such-option'],
      ];
      for (const args of bad) {
        const r = await alice.run(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /^fastchat: error: \S/m, args.join(' '));
        assert.equal(r.stdout, '', args.join(' '));
        const json = await alice.run([...args, '--json']);
        assert.equal(json.code, 2, `${args.join(' ')} --json: ${json.stderr}`);
        assert.equal(jsonError(`${args.join(' ')} --json`, json).code, 'usage');
      }
    });
  });
});

/**
 * Runs the real program (dist/client/program.js, what bin/fastchat.cjs runs, bundled) with one extra command
 * whose action is `body`, so a broken command can be simulated without shipping one.
 */
function runWithCommand(body: string, args: string[]): RunResult {
  const program = pathToFileURL(join(ROOT, 'dist/client/program.js')).href;
  const script = `const { run } = await import(${JSON.stringify(program)});
run(['node', 'fastchat', ...${JSON.stringify(args)}], [(p) => p.command('broken').option('--json').action(async () => { ${body} })]);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the program itself', () => {
  it("exits 1 with an internal error when a command's promise can never settle, instead of 0 in silence", () => {
    // What send-file did: an await on a promise only an unref'd timer would have settled.
    const hang = 'await new Promise((resolve) => setTimeout(resolve, 60_000).unref());';
    const r = runWithCommand(hang, ['broken']);
    assert.equal(r.code, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /^fastchat: error: internal error: the command stopped before it finished/m);
    const json = runWithCommand(hang, ['broken', '--json']);
    assert.equal(jsonError('a hanging command under --json', json).code, 'internal');
  });

  it('reports an error that escaped every await in the same form and exits 1', () => {
    const r = runWithCommand("Promise.reject(new Error('lost on the way'));", ['broken']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^fastchat: error: internal error: lost on the way$/m);
    const json = runWithCommand("setImmediate(() => { throw new Error('thrown later'); }); await new Promise((r) => setTimeout(r, 1000));", ['broken', '--json']);
    assert.equal(jsonError('an uncaught exception under --json', json).message, 'internal error: thrown later');
  });
});
