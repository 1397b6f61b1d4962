// Bundles the compiled CLI (dist/client/cli.js and everything it imports, the relay included) into
// one file, dist/fastchat.cjs, and makes V8's code cache for it, dist/fastchat.cjs.cache; the
// `fastchat` binary (bin/fastchat.cjs) runs the two. Run by `npm run build` (so by `npm ci`,
// through `prepare`), after tsc.
//
// Why: every command is a new process, and most of a short command's start was Node's ESM loader
// finding, reading and compiling ~240 module files (zod alone is 95 of them). One CommonJS file,
// compiled from the code cache, takes a send or an inbox from ~0.8 s of CPU to ~0.5 s. Modules
// loaded lazily stay lazy: esbuild wraps each one in an init function that runs on its first
// import, so the one file costs only its parse, and the code cache saves most of that.
//
// Left outside the bundle, loaded from node_modules as before: native addons (better-sqlite3,
// argon2), optional native helpers that are looked up at run time (pg-native, bufferutil,
// utf-8-validate), and sql.js, which reads its .wasm file from beside its own.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import vm from 'node:vm';
import { trainCodeCache } from './train-cli-cache.mjs';

const OUT = 'dist/fastchat.cjs';
const CACHE = `${OUT}.cache`;
const OUT_DIR = resolve(dirname(OUT));

/**
 * Two things an ES module has that one CommonJS file run as a vm.Script (bin/fastchat.cjs) has not:
 * - `import.meta.url` stands for the module's own file, as it did unbundled: the relay finds
 *   dist/web/ from dist/relay/web/files.js, the unlock agent starts dist/client/agent/serve.js
 *   from beside client.js, and libsodium asks for its own path. Each use becomes the URL of the
 *   original file, worked out from where the bundle is at run time.
 * - A dynamic import() of a Node built-in (esbuild keeps those as they are) needs a module loader
 *   that a vm.Script lacks: it becomes a require, whose exports are the same functions.
 */
const asCommonJs = {
  name: 'as-commonjs',
  setup(b) {
    b.onLoad({ filter: /\.(c|m)?js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url') && !/\bimport\((['"])node:/.test(text)) return undefined;
      const own = JSON.stringify(relative(OUT_DIR, args.path));
      const contents = text
        .replaceAll('import.meta.url', `__fastchatModuleUrl(${own})`)
        .replace(/\bimport\((['"])(node:[^'"]+)\1\)/g, 'Promise.resolve(require($1$2$1))');
      return { contents, loader: 'js' };
    });
  },
};

await build({
  entryPoints: ['dist/client/cli.js'],
  outfile: OUT,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax only: names stay as written, so a FASTCHAT_DEBUG stack still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  external: ['better-sqlite3', 'argon2', 'pg-native', 'bufferutil', 'utf-8-validate', 'sql.js'],
  plugins: [asCommonJs],
  banner: {
    js: "'use strict';const __fastchatModuleUrl=(p)=>require('node:url').pathToFileURL(require('node:path').join(__dirname,p)).href;",
  },
});

const source = readFileSync(OUT);
// bin/fastchat.cjs runs the bundle as a vm.Script, which has no loader for a dynamic import():
// every import must have become a require.
if (source.includes('import(')) {
  console.error(`build-cli: ${OUT} still has a dynamic import(); mark its target external or bundle it`);
  process.exit(1);
}

// The code cache: V8's compiled code for the bundle, made by running the binary through a small
// real session (scripts/train-cli-cache.mjs). It starts with the bundle's SHA-256, because V8 checks
// only the source's length before trusting a cache. A cache made for this very bundle by this Node
// is kept: npm test builds again right after npm ci did, and the session takes some seconds.
const digest = createHash('sha256').update(source).digest();
if (cacheFits(digest)) {
  console.log(`cli bundled into ${OUT}: ${source.length} B, code cache kept (made for this bundle)`);
  process.exit(0);
}
rmSync(CACHE, { force: true });
const { steps, error } = await trainCodeCache();
if (steps === 0) {
  console.error(`build-cli: making the code cache failed: ${error}`);
  process.exit(1);
}
if (error) console.log(`build-cli: the code cache holds only its first ${steps} steps (${error})`);
console.log(`cli bundled into ${OUT}: ${source.length} B, code cache ${statSync(CACHE).size - 32} B`);

/** The cache on disk starts with `digest` and V8 takes it for the bundle (same V8 version and flags). */
function cacheFits(digest) {
  let cache;
  try {
    cache = readFileSync(CACHE);
  } catch {
    return false;
  }
  if (cache.length <= 32 || !digest.equals(cache.subarray(0, 32))) return false;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source.toString('utf8')}\n})`, {
    filename: resolve(OUT),
    cachedData: cache.subarray(32),
  });
  return script.cachedDataRejected === false;
}
