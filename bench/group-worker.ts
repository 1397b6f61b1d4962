// Issue 16's group figures, one per worker process (a run of 1,000 client cores holds 1,000 open
// stores): `costs` counts what each membership change costs on client cores over an in-memory relay
// (test/util/group-cost.ts); `relay` runs a group through a real relay process at its default
// group-traffic limits (test/util/relay-group-run.ts). Both bound themselves by count, and `relay`
// by its deadline.
import { changeCosts } from '../test/util/group-cost.js';
import { relayGroupRun } from '../test/util/relay-group-run.js';
import { workerMain } from './lib/procs.js';

export type GroupJob = { kind: 'costs'; n: number } | { kind: 'relay'; n: number; deadlineMs: number };

workerMain<GroupJob, unknown>(async (job) => {
  if (job.kind === 'costs') return changeCosts(job.n);
  return relayGroupRun(job.n, { deadlineMs: job.deadlineMs, log: (s) => process.stderr.write(`${s}\n`) });
});
