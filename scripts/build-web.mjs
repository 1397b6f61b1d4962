// Builds the web client (web/) into dist/web/, the static files the relay serves at `/`, and the
// test-only bundle dist/web-test/hooks.js. Run by `npm run build` (so by `npm ci` through
// `prepare`). Everything the page loads comes from this origin: no CDN, no third-party URL.
//
// Prints each script's size, raw and gzipped, and fails when one is over its budget: a page that
// grows past it is a decision to make, not an accident.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';

const OUT = 'dist/web';
const TEST_OUT = 'dist/web-test';

/**
 * Budgets in bytes (raw, gzip). libsodium itself is a large part of both scripts: the standard
 * build with its WebAssembly inlined as base64 is ~430 KB of app.js, the sumo build (for
 * crypto_pwhash only) ~410 KB of kdf-worker.js. Since the page chats through the client core,
 * app.js also holds the core (~140 KB, linking included), sql.js's loader (~60 KB), the `buffer`
 * package (~20 KB) and zod/mini for the core's schemas (~31 KB); SQLite itself is
 * sql-wasm-browser.wasm, loaded once the vault is unlocked. What the page adds on top is what these
 * budgets watch. app.js was 1,185,010 B (gzip 337,870) with full zod (~455 KB of it, all its
 * locales: it does not tree-shake) and 758,945 B (gzip 254,065) once the core took zod/mini. The
 * page's parts of session 9 (live updates, files, trust and requests, groups, the look) added
 * ~53 KB (gzip ~17 KB): 811,567 B (gzip 271,521); the budget is that plus ~10 %.
 */
const BUDGETS = {
  'app.js': { raw: 900_000, gzip: 300_000 },
  'kdf-worker.js': { raw: 580_000, gzip: 210_000 },
  'sql-wasm-browser.wasm': { raw: 700_000, gzip: 345_000 },
  // The look (light and dark colours, the phone layout, the emoji picker, search and notification
  // markup) took these to ~5 KB raw / 1.8 KB gzip and ~4.6 / 1.5 KB; the other parts add theirs.
  // The two panes, the menu and the Leave question (session 10) took them from 7,471 / 2,499 and
  // 9,889 / 2,654 B to 10,109 / 3,086 and 12,501 / 3,304 B; raised to leave ~10 % for what comes.
  'style.css': { raw: 12_000, gzip: 3_500 },
  'index.html': { raw: 14_000, gzip: 3_700 },
};

const common = {
  bundle: true,
  minify: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  legalComments: 'eof',
  logLevel: 'warning',
  // libsodium's loader falls back to Node's `require("crypto")` where Web Crypto is missing;
  // browsers have Web Crypto, so that branch never runs and nothing is bundled for it.
  external: ['crypto'],
};

/**
 * package.json "imports" (#home-files, #http-transport, #ws-transport) resolve to their browser
 * side as source, as web/tsconfig.json maps them. Through package.json esbuild took the compiled
 * file in dist/: a second copy of a module the page imports from source too. With memory-files
 * twice, the core wrote the home's files (config.json, token.json, store.counter) into one copy and
 * the page saved the other, empty, into its vault, so after a reload the page had no account.
 */
const imports = JSON.parse(readFileSync('package.json', 'utf8')).imports;
const browserSources = {
  name: 'browser-sources',
  setup(b) {
    b.onResolve({ filter: /^#/ }, (args) => {
      const to = imports[args.path]?.browser;
      if (to === undefined) return { errors: [{ text: `${args.path} has no "browser" side in package.json "imports"` }] };
      return { path: resolve(to.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')) };
    });
  },
};

/** The page's bundle: the client core still reads Buffer and process (web/src/node-globals.ts). */
const page = { ...common, inject: ['web/src/node-globals.ts'], plugins: [browserSources], metafile: true };

rmSync(OUT, { recursive: true, force: true });
rmSync(TEST_OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const app = await build({ ...page, entryPoints: { app: 'web/src/main.ts' }, outdir: OUT });
// One copy of each module: the page is built from sources only, never from compiled files.
const compiled = Object.keys(app.metafile.inputs).filter((f) => f.startsWith('dist/'));
if (compiled.length > 0) {
  console.error(`build-web: app.js bundles compiled files next to their sources (two copies of a module): ${compiled.join(', ')}`);
  process.exit(1);
}
await build({ ...common, entryPoints: { 'kdf-worker': 'web/src/vault/kdf-worker.ts' }, outdir: OUT });
for (const f of ['index.html', 'style.css']) copyFileSync(join('web', f), join(OUT, f));
// SQLite for the page's store (sql.js's browser build asks for it by this name, next to the page).
copyFileSync('node_modules/sql.js/dist/sql-wasm-browser.wasm', join(OUT, 'sql-wasm-browser.wasm'));
await build({ ...common, plugins: [browserSources], entryPoints: { hooks: 'web/test/hooks-entry.ts' }, outdir: TEST_OUT });

let over = false;
const rows = [];
for (const [name, budget] of Object.entries(BUDGETS)) {
  const bytes = readFileSync(join(OUT, name));
  const raw = bytes.length;
  const gzip = gzipSync(bytes, { level: 9 }).length;
  const ok = raw <= budget.raw && gzip <= budget.gzip;
  if (!ok) over = true;
  rows.push(`  ${name.padEnd(22)} ${String(raw).padStart(8)} B  gzip ${String(gzip).padStart(7)} B  budget ${budget.raw} / ${budget.gzip}${ok ? '' : '  OVER BUDGET'}`);
}
console.log(`web client built into ${OUT}/:\n${rows.join('\n')}`);
if (over) {
  console.error('build-web: a file of the web client is over its size budget (scripts/build-web.mjs BUDGETS)');
  process.exit(1);
}
