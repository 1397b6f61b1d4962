// Issue 16's group run through a real relay process at its default group-traffic limits: a group of
// n real client cores is created, a member speaks, one member is removed, the member speaks again
// (test/util/relay-group-run.ts). `npm run build && node dist/scripts/group-run.js 1000` prints
// what each step cost as JSON; `npm run bench` runs it as the groups suite.
import { relayGroupRun } from '../test/util/relay-group-run.js';

const arg = process.argv[2] ?? '100';
const n = Number(arg);
if (!Number.isInteger(n) || n < 3 || n > 1000) throw new Error(`not a group size (3..1000): ${arg}`);
const result = await relayGroupRun(n, { deadlineMs: 30 * 60_000, log: (s) => process.stderr.write(`${s}\n`) });
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
