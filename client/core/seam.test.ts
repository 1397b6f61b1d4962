// The client core is the code the browser runs too (issue 18): it reaches storage and the network
// only through what it is handed (platform/), never through Node. This walks the compiled imports
// of client/core (what a bundler follows: `import type` is gone) and fails naming the file that
// imports Node, a Node-only package, the CLI around the core, or one of the files below. Those still
// do, until their part is behind the platform seam too; the list may only shrink.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

/** Core files still tied to Node, with what ties them. */
const NODE_BOUND: Record<string, string> = {
  'client/core/keygen.ts': 'makes a new home on disk (client/node/sqlite.ts)',
  'client/core/home-inventory.ts': 'counts what a home holds on disk (better-sqlite3, node:fs)',
  'client/core/keystore.ts': 'argon2 (a native addon) and keystore.json on disk',
  'client/core/unlock.ts': 'reads the keystore file and asks the unlock agent (a Unix socket)',
  'client/core/passphrase.ts': 'the unlock agent (a Unix socket)',
  'client/core/files/send.ts': 'the CLI\'s face of files: paths on disk, streamed over node:http(s) (client/node/file-transfer.ts)',
};

/**
 * Files that use Node's globals, which a page does not have: Buffer (hex and byte helpers, to move
 * to crypto/encoding.ts), process (environment switches, the terminal) and setImmediate. Until each
 * is rewritten the browser bundle needs them defined (web/src/node-globals.ts); the list may only
 * shrink.
 */
const NODE_GLOBALS = new Set([
  'client/colour.ts',
  'client/format.ts',
  'client/core/contacts.ts',
  'client/core/conversations.ts',
  'client/core/files/progress.ts',
  'client/core/files/store.ts',
  'client/core/gaps.ts',
  'client/core/group-outbox.ts',
  'client/core/group-receive.ts',
  'client/core/group-store.ts',
  'client/core/groups.ts',
  'client/core/incoming.ts',
  'client/core/integrity/manifest.ts',
  'client/core/integrity/migrate.ts',
  'client/core/outbox.ts',
  'client/core/prekey-store.ts',
  'client/core/prompt.ts',
  'client/core/requests.ts',
  'client/core/sessions.ts',
  'client/core/unread.ts',
]);

const usesNodeGlobals = (js: string): boolean => /\bBuffer\b|\bprocess\.(env|std|pid|exit|platform|argv)|\bsetImmediate\b/.test(js);

/**
 * npm packages that run in a browser as they are. zod only as zod/mini, its tree-shakable API:
 * full `zod` cannot be tree-shaken (all its locales came along) and was ~455 KB of the page's
 * 1.2 MB script; zod/mini, as the core uses it, is ~31 KB.
 */
const BROWSER_PACKAGES = new Set(['libsodium-wrappers', 'sql.js', 'zod/mini']);

/** Folders around the core that it must not reach into: the CLI, its Node adapters, the relay. */
const OUTSIDE = ['client/commands/', 'client/node/', 'client/chat/', 'client/agent/', 'relay/'];

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * package.json "imports" (`#http-transport`): where a browser bundle resolves each, which is what
 * the walk follows. The Node target is the CLI's adapter and is not walked.
 */
const pkg = JSON.parse(readFileSync(resolve(dist, '../package.json'), 'utf8')) as { imports?: Record<string, { browser?: string; default?: string }> };
const browserImports = new Map(Object.entries(pkg.imports ?? {}).map(([name, to]) => [name, to.browser === undefined ? undefined : resolve(dist, '..', to.browser)]));
const coreDir = join(dist, 'client/core');

/** dist/x/y.js → x/y.ts, the name a person looks for. */
const sourceName = (file: string): string => relative(dist, file).replace(/\.js$/, '.ts');

function specifiers(js: string): string[] {
  const found: string[] = [];
  for (const re of [/^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm, /^\s*import\s*['"]([^'"]+)['"]/gm, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g]) {
    for (const m of js.matchAll(re)) found.push(m[1]!);
  }
  return found;
}

function coreFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) coreFiles(p, out);
    // A compiled file whose source is gone (a stale dist) is not part of the core.
    else if (name.endsWith('.js') && !name.endsWith('.test.js') && existsSync(resolve(dist, '..', sourceName(p)))) out.push(p);
  }
  return out;
}

/** What `file` imports that the browser cannot have, as "file imports x" lines. */
function problems(file: string): { leaks: string[]; next: string[] } {
  const leaks: string[] = [];
  const next: string[] = [];
  for (const spec of specifiers(readFileSync(file, 'utf8'))) {
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec);
      const name = sourceName(target);
      if (OUTSIDE.some((o) => name.startsWith(o))) leaks.push(`${sourceName(file)} imports ${name}`);
      // Through a listed file the browser reaches Node all the same (linking.ts did, by keystore.ts).
      else if (name in NODE_BOUND) leaks.push(`${sourceName(file)} imports ${name}, which is Node-bound`);
      else next.push(target);
    } else if (spec.startsWith('#')) {
      const target = browserImports.get(spec);
      if (target === undefined) leaks.push(`${sourceName(file)} imports ${spec}, which has no "browser" target in package.json "imports"`);
      else next.push(target);
    } else if (!BROWSER_PACKAGES.has(spec)) {
      leaks.push(`${sourceName(file)} imports ${spec}`);
    }
  }
  return { leaks, next };
}

/** Every file the core reaches (crypto/ and the client's shared helpers too), leaks of each. */
function walk(): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = coreFiles(coreDir);
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    const { leaks, next } = problems(f);
    seen.set(f, leaks);
    todo.push(...next);
  }
  return seen;
}

describe('the client core seam', () => {
  const files = walk();

  it('reaches Node, a Node-only package, the CLI or a Node-bound file only from the files still listed as Node-bound', () => {
    const leaks = [...files].filter(([f]) => !(sourceName(f) in NODE_BOUND)).flatMap(([, l]) => l);
    assert.deepEqual(leaks, [], `the core must get storage and transport from client/core/platform, not import them:\n${leaks.join('\n')}`);
  });

  it('lists as Node-bound only files that still are: one that no longer imports Node comes off the list', () => {
    const free = Object.keys(NODE_BOUND).filter((name) => {
      const f = [...files.keys()].find((k) => sourceName(k) === name);
      return f === undefined || files.get(f)!.length === 0;
    });
    assert.deepEqual(free, []);
  });

  it('uses Buffer or process only in the files still listed as using them, and lists only files that do', () => {
    const using = [...files.keys()].filter((f) => !(sourceName(f) in NODE_BOUND) && usesNodeGlobals(readFileSync(f, 'utf8'))).map(sourceName);
    assert.deepEqual(using.filter((n) => !NODE_GLOBALS.has(n)), [], 'new uses of Node globals in the core');
    assert.deepEqual([...NODE_GLOBALS].filter((n) => !using.includes(n)), [], 'listed but no longer using Node globals: take them off the list');
  });

  it('walks the whole core and what it imports, the browser side of package.json "imports" included', () => {
    const names = [...files.keys()].map(sourceName);
    for (const expected of ['client/core/incoming.ts', 'client/core/db.ts', 'client/core/platform/sqljs.ts', 'client/core/platform/fetch-http.ts', 'client/core/platform/browser-ws.ts', 'client/core/platform/memory-files.ts', 'crypto/session.ts', 'client/errors.ts']) {
      assert.ok(names.includes(expected), `${expected} walked`);
    }
  });

  it('gives each package.json import a Node and a browser side that both exist', () => {
    for (const [name, to] of Object.entries(pkg.imports ?? {})) {
      for (const side of [to.browser, to.default]) assert.ok(side !== undefined && existsSync(resolve(dist, '..', side)), `${name}: ${side} exists`);
    }
  });
});
