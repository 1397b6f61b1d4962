// Shell completion and the man page, with the real binary: both come from the command definitions,
// so they name every command --help lists; bash's script parses and completes; docs/fastchat.1 is
// exactly what `fastchat man` prints (regenerate it with `node bin/fastchat.cjs man > docs/fastchat.1`).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FASTCHAT_BIN, ROOT } from './util/paths.js';

function fastchat(args: string[]): string {
  const r = spawnSync(process.execPath, [FASTCHAT_BIN, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `fastchat ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Every command path, found by walking `--help` (as a user would), not from the definitions. */
function commandPaths(path: string[] = []): string[][] {
  // The section ends at its first blank line (help text after it may hold indented examples).
  const section = (fastchat([...path, '--help']).split(/^Commands:$/m)[1] ?? '').split(/\n\s*\n/)[0]!;
  const subs = [...section.matchAll(/^  ([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  return subs.flatMap((s) => [[...path, s], ...commandPaths([...path, s])]);
}

describe('shell completion and the man page', () => {
  const paths = commandPaths();

  it('finds the whole command tree in --help', () => {
    const names = paths.map((p) => p.join(' '));
    for (const p of ['send', 'unlock', 'lock', 'completion', 'man', 'group rename', 'relay users ban']) assert.ok(names.includes(p), p);
  });

  it('names every command in the bash, zsh and fish scripts', () => {
    for (const shell of ['bash', 'zsh', 'fish']) {
      const script = fastchat(['completion', shell]);
      const missing = paths.filter((p) => !script.includes(`'${p.join(' ')}'`) && !script.includes(`'${p.at(-1)}`));
      assert.deepEqual(missing, [], shell);
      // Each command's own path is a case the script knows (not only a word somewhere in it).
      const quotedPaths = paths.filter((p) => p.length > 1).filter((p) => !script.includes(p.join(' ')));
      assert.deepEqual(quotedPaths, [], `${shell}: nested command paths`);
    }
  });

  it('gives bash a script that parses and completes commands, subcommands and options', () => {
    const file = join(tmpdir(), `fastchat-completion-${process.pid}.bash`);
    writeFileSync(file, fastchat(['completion', 'bash']));
    assert.equal(spawnSync('bash', ['-n', file]).status, 0, 'bash -n');
    const complete = (words: string[]): string[] => {
      const script = `source ${JSON.stringify(file)}; COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}; _fastchat; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(complete(['fastchat', 'se']), ['send', 'send-file']);
    assert.deepEqual(complete(['fastchat', 'relay', 'users', 'b']), ['ban']);
    assert.deepEqual(complete(['fastchat', 'unlock', '--f']), ['--for']);
    assert.deepEqual(complete(['fastchat', 'send', '@bob', '--j']), ['--json']);
    assert.deepEqual(complete(['fastchat', 'group', 'info', '--json', '-']), ['--help', '--json', '-h']);
  });

  it('refuses a shell it does not know, with a usage error', () => {
    const r = spawnSync(process.execPath, [FASTCHAT_BIN, 'completion', 'powershell'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^fastchat: error: .*powershell.*/m);
  });

  it('ships docs/fastchat.1 exactly as `fastchat man` prints it, naming every command', () => {
    const man = fastchat(['man']);
    assert.equal(readFileSync(join(ROOT, 'docs/fastchat.1'), 'utf8'), man, 'regenerate: node bin/fastchat.cjs man > docs/fastchat.1');
    const missing = paths.filter((p) => !man.includes(`.SS "fastchat ${p.join(' ').replace(/-/g, '\\-')} `));
    assert.deepEqual(missing, []);
    assert.match(man, /^\.TH FASTCHAT 1 /);
  });
});
