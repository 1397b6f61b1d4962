// The docs are part of the API: an auditor reads them without the code. These checks fail when
// the code grows a name the docs do not mention — an error code, a KDF label, a command.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { LABELS } from '../crypto/consts.js';
import { CRYPTO_ERROR_CODES } from '../crypto/errors.js';
import { RELAY_ERROR_CODES } from '../relay/errors.js';
import { FASTCHAT_BIN, ROOT } from './util/paths.js';

const doc = (name: string): string => readFileSync(join(ROOT, 'docs', name), 'utf8');

function missing(names: readonly string[], text: string, wrap: (n: string) => string): string[] {
  return names.filter((n) => !text.includes(wrap(n)));
}

test('docs/errors.md lists every protocol and relay error code', () => {
  const errors = doc('errors.md');
  assert.deepEqual(missing(CRYPTO_ERROR_CODES, errors, (c) => `| \`${c}\` |`), []);
  assert.deepEqual(missing(RELAY_ERROR_CODES, errors, (c) => `| \`${c}\` |`), []);
});

/** Every .ts file under dir, tests included. */
function tsFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) tsFiles(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function sources(dir: string): string[] {
  return tsFiles(dir).filter((p) => !p.endsWith('.test.ts'));
}

test('docs/errors.md lists every error code the web client\'s vault raises', () => {
  const errors = doc('errors.md');
  const codes = new Set<string>();
  for (const file of sources(join(ROOT, 'web/src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/new VaultError\('([a-z_]+)'/g)) codes.add(m[1]!);
  }
  assert.ok(codes.size >= 8, `found only ${codes.size} vault codes: is the scan still matching?`);
  assert.deepEqual(missing([...codes].sort(), errors, (c) => `| \`${c}\` |`), []);
});

test('docs/errors.md lists every error code the client raises', () => {
  const errors = doc('errors.md');
  const codes = new Set<string>();
  for (const file of sources(join(ROOT, 'client'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:new CliError|super)\('([a-z_]+)'/g)) codes.add(m[1]!);
  }
  assert.ok(codes.size >= 20, `found only ${codes.size} client codes: is the scan still matching?`);
  assert.deepEqual(missing([...codes].sort(), errors, (c) => `| \`${c}\` |`), []);
});

test('docs/PROTOCOL.md names every KDF and signature label exactly', () => {
  const protocol = doc('PROTOCOL.md');
  assert.deepEqual(missing(Object.values(LABELS), protocol, (l) => l), []);
});

function helpCommands(args: string[]): string[] {
  const r = spawnSync(process.execPath, [FASTCHAT_BIN, ...args, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const section = r.stdout.split(/^Commands:$/m)[1] ?? '';
  return [...section.matchAll(/^  ([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
}

test('docs/CLI.md has a section for every command that --help lists', () => {
  const cli = doc('CLI.md');
  const headings = [...cli.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!);
  const top = helpCommands([]);
  assert.ok(top.length >= 10, `found only ${top.join(', ')} in --help`);
  const relay = helpCommands(['relay']).map((c) => `relay ${c}`);
  assert.ok(relay.length >= 3);
  const undocumented = [...top, ...relay].filter((cmd) => !headings.some((h) => h.split(/,\s*/).includes(cmd)));
  assert.deepEqual(undocumented, []);
});

test('the vendored third-party vectors are the upstream files named in test/vectors/README.md', async () => {
  const { createHash } = await import('node:crypto');
  const readme = readFileSync(join(ROOT, 'test/vectors/README.md'), 'utf8');
  const rows = [...readme.matchAll(/^\| ([\w-]+) \| ([\w.]+) \| .* \| ([0-9a-f]{64}) \|/gm)];
  assert.equal(rows.length, 5, 'one row per vendored vector file');
  for (const [, folder, file, expected] of rows) {
    const digest = createHash('sha256').update(readFileSync(join(ROOT, 'test/vectors', folder!, file!))).digest('hex');
    assert.equal(digest, expected, `${folder}/${file} differs from the upstream file`);
  }
});

test('no source file reads ../shared (a clone of the repository has nothing beside it)', () => {
  const offenders = ['crypto', 'relay', 'client', 'test', 'scripts', 'bench']
    .flatMap((d) => tsFiles(join(ROOT, d)))
        .filter((p) => readFileSync(p, 'utf8').includes(['..', 'shared', ''].join('/')));
  assert.deepEqual(offenders, []);
});


test('every claim of docs/THREAT_MODEL.md names a test that exists', () => {
  const model = doc('THREAT_MODEL.md');
  const table = model.slice(model.indexOf('## Claims and the tests that prove them'));
  const rows = [...table.matchAll(/^\| `([a-z0-9-]+)` (.+?) \| (\w[\w ,-]*) \| `([\w/.-]+\.test\.ts)` \| (.+) \|$/gm)];
  const problems: string[] = [];
  const slugs = new Set<string>();
  for (const [, slug, , , file, name] of rows) {
    if (slugs.has(slug!)) problems.push(`${slug}: claim listed twice`);
    slugs.add(slug!);
    let text = '';
    try {
      text = readFileSync(join(ROOT, file!), 'utf8');
    } catch {
      problems.push(`${slug}: ${file} does not exist`);
      continue;
    }
    if (!text.includes(`'${name}'`) && !text.includes(`"${name}"`) && !text.includes(`\`${name}\``)) problems.push(`${slug}: no test named "${name}" in ${file}`);
  }
  const bodyRows = table.split('\n').filter((l) => l.startsWith('| `'));
  assert.equal(rows.length, bodyRows.length, 'a claims row is not in the form | `slug` claim | adversary | `file.test.ts` | test name |');
  assert.deepEqual(problems, []);
});

/**
 * The text of THREAT_MODEL.md before its claims table, cut into blocks: a list item with its
 * continuation lines, a table row, or a paragraph.
 */
function threatModelBlocks(prose: string): string[] {
  const blocks: string[] = [];
  let cur: string[] = [];
  const flush = (): void => {
    if (cur.length > 0) blocks.push(cur.join(' '));
    cur = [];
  };
  for (const line of prose.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) flush();
    else if (line.startsWith('|')) {
      flush();
      blocks.push(line);
    } else if (line.startsWith('- ')) {
      flush();
      cur.push(line);
    } else cur.push(line.trim());
  }
  flush();
  return blocks;
}

test('every promise of docs/THREAT_MODEL.md cites a row of its claims table, and every row is cited', () => {
  const model = doc('THREAT_MODEL.md');
  const at = model.indexOf('## Claims and the tests that prove them');
  assert.ok(at > 0);
  const rows = new Set([...model.slice(at).matchAll(/^\| `([a-z0-9-]+)` /gm)].map((m) => m[1]!));
  const cited = new Set<string>();
  const problems: string[] = [];
  for (const block of threatModelBlocks(model.slice(0, at))) {
    const slugs = [...block.matchAll(/\[`([a-z0-9-]+)`\]/g)].map((m) => m[1]!);
    for (const s of slugs) {
      cited.add(s);
      if (!rows.has(s)) problems.push(`[${s}] is cited but has no row in the claims table`);
    }
    // A promise: "cannot"/"never" in any case, MUST/SHOULD as RFC 2119 words. A line ending in ':'
    // introduces a list whose items carry the slugs.
    const promise = /\b(cannot|never)\b/i.test(block) || /\b(MUST|SHOULD)\b/.test(block);
    if (promise && slugs.length === 0 && !block.trimEnd().endsWith(':')) problems.push(`a promise cites no claims row: "${block.slice(0, 100)}…"`);
  }
  for (const r of rows) if (!cited.has(r)) problems.push(`the row \`${r}\` is cited by no promise (add [\`${r}\`] to the text it proves)`);
  assert.deepEqual(problems, []);
});
