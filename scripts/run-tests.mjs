// Runs every compiled test file (unit tests beside the code, end-to-end tests in test/) with
// node's own test runner. Node 20's `node --test DIR` would also run helper files that sit in a
// test/ folder, so the list is built here: only files named *.test.js.
//
// Two files run at once. They start slowest first (times from the last run on this machine,
// test-times.json, over the committed scripts/test-times.json; a file in neither counts as slow),
// so no long file starts last while the other lane sits idle. scripts/test-times.mjs records the
// times and prints the slowest ten at the end. Refresh the committed list after a full run on a
// quiet machine: cp test-times.json scripts/test-times.json (only the order matters).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { readTimes, TIMES_FILE } from './test-times.mjs';

function find(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** A file with no recorded time (a new one) is taken to be as slow as the slowest known. */
export function slowestFirst(files, times) {
  const unknown = Math.max(0, ...Object.values(times).filter((t) => typeof t === 'number')) + 1;
  const time = (f) => (typeof times[f] === 'number' ? times[f] : unknown);
  return [...files].sort((a, b) => time(b) - time(a) || (a < b ? -1 : a > b ? 1 : 0));
}

const only = process.argv.slice(2);
let files = find('dist', []).sort();
if (only.length > 0) files = files.filter((f) => only.some((o) => f.includes(o)));
if (files.length === 0) {
  console.error('run-tests: no test files found under dist/ (did the build run?)');
  process.exit(1);
}
files = slowestFirst(files, { ...readTimes('scripts/test-times.json'), ...readTimes(TIMES_FILE) });
const r = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=2',
    '--test-timeout=300000',
    // Each test file's process ends by process.exit once its tests are done, not by a natural
    // exit: Node 20 can deadlock at a natural exit after loading a large wasm module
    // (nodejs/node#54918; gdb: the main thread in NodePlatform::DrainTasks, every worker idle),
    // seen as a file whose tests all passed and which then hung until the CI timed out.
    '--test-force-exit',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(dirname(fileURLToPath(import.meta.url)), 'test-times.mjs')}`,
    '--test-reporter-destination=stdout',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
