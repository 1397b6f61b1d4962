// A node --test reporter (scripts/run-tests.mjs adds it beside `spec`): keeps each test file's
// wall time, from the `test:complete` event node emits for the file itself, writes them all to
// test-times.json (the runner reads it to start the slowest files first next time) and prints the
// slowest ten at the end of the run, so a CI log shows where the time goes.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';

export const TIMES_FILE = 'test-times.json';
const SHOWN = 10;

/** { "dist/test/x.test.js": seconds } from an earlier run, or {} when there is none or it is unreadable. */
export function readTimes(path = TIMES_FILE) {
  try {
    const t = JSON.parse(readFileSync(path, 'utf8'));
    return t && typeof t === 'object' && !Array.isArray(t) ? t : {};
  } catch {
    return {};
  }
}

/** Merges `times` into test-times.json: a partial run (run-tests.mjs <substring>) keeps the others' times. */
function save(times) {
  const merged = { ...readTimes(), ...times };
  const sorted = Object.fromEntries(Object.keys(merged).sort().map((f) => [f, merged[f]]));
  writeFileSync(TIMES_FILE, `${JSON.stringify(sorted, null, 2)}\n`);
}

export default async function* testTimes(source) {
  const started = Date.now();
  const times = {};
  for await (const event of source) {
    if (event.type !== 'test:complete') continue;
    const { file, name, nesting, details } = event.data;
    // The file's own event: node names the test after the file's path.
    if (!file || nesting !== 0 || name !== file) continue;
    const f = relative(process.cwd(), file);
    times[f] = Math.round((details?.duration_ms ?? 0) / 100) / 10;
    // Saved as each file ends, so a run stopped midway (CI's own time limit) still leaves them.
    save({ [f]: times[f] });
  }
  const files = Object.entries(times).sort((a, b) => b[1] - a[1]);
  if (files.length === 0) return;
  const sum = files.reduce((s, [, t]) => s + t, 0);
  let out = `\ntest files: ${files.length}, wall ${((Date.now() - started) / 1000).toFixed(0)} s, sum of file times ${sum.toFixed(0)} s; slowest ${Math.min(SHOWN, files.length)}:\n`;
  for (const [f, t] of files.slice(0, SHOWN)) out += `${t.toFixed(1).padStart(8)} s  ${f}\n`;
  yield out;
}
