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
import { startRelayProcess, type RelayProcess } from './util/relay-process.js';
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
  });
});

/**
 * Runs the real program (dist/client/program.js, what bin/fastchat.js runs) with one extra command
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
  it('exits 1 with an internal error when a command\'s promise can never settle, instead of 0 in silence', () => {
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
