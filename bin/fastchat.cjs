#!/usr/bin/env node
// The `fastchat` binary: runs dist/fastchat.cjs, the whole program in one file, compiled from
// V8's code cache dist/fastchat.cjs.cache when that cache was made for this very bundle (both are
// made by scripts/build-cli.mjs in `npm run build`, which `npm ci` runs through `prepare`). A
// missing, stale or refused cache (another Node version) costs only start-up time: the bundle
// is compiled from its source as usual.
'use strict';
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const vm = require('node:vm');

const BUNDLE = join(__dirname, '..', 'dist', 'fastchat.cjs');
const CACHE = `${BUNDLE}.cache`;

/** The cache's V8 data when its first 32 bytes are the bundle's SHA-256 (V8 itself checks only the length). */
function cachedDataFor(source) {
  let cache;
  try {
    cache = readFileSync(CACHE);
  } catch {
    return undefined;
  }
  const digest = createHash('sha256').update(source).digest();
  return cache.length > 32 && digest.equals(cache.subarray(0, 32)) ? cache.subarray(32) : undefined;
}

/**
 * Compiles and runs the bundle as a CommonJS module of dist/ (its require finds node_modules as an
 * ordinary module there would) with `args` as the command line; `compiled` sees the script first.
 */
function run(args, compiled = () => {}) {
  const source = readFileSync(BUNDLE);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source.toString('utf8')}\n})`, {
    filename: BUNDLE,
    cachedData: cachedDataFor(source),
  });
  compiled(script);
  process.argv = [process.argv[0], __filename, ...args];
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
}

if (require.main === module) run(process.argv.slice(2));

module.exports = { run, BUNDLE, CACHE };
