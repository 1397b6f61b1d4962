// Issue 16: what a membership change of a group costs, and groups through a relay process at its
// default limits up to the largest size. Counts are uploads to the relay (a pairwise message is
// one, a group message one however many it fans out to). The counts' baseline is what a create
// cost before issue 16, N² − 1 (every member sent its new sender key to every other; measured 99
// at N = 10 and 2,499 at N = 50): computed here, not rerun, since that code is gone.
import type { Params } from '../lib/params.js';
import { startWorker } from '../lib/procs.js';
import type { Row } from '../lib/stats.js';
import type { changeCosts } from '../../test/util/group-cost.js';
import type { GroupRunResult } from '../../test/util/relay-group-run.js';

type Costs = Awaited<ReturnType<typeof changeCosts>>;

const BEFORE = 'create before issue 16 (N² − 1)';
/** A change is compared with the create before issue 16; a first message has no baseline (its keys went with the change then). */
const count = (n: number, id: string, figure: string, uploads: number, target: 'N' | '2N'): Row => ({
  id, figure, unit: 'msgs', fastchat: uploads, ...(target === '2N' ? { baseline: n * n - 1, baselineName: BEFORE } : { baseline: Number.NaN, baselineName: 'none' }), better: 'lower',
  target: `≤ ${target} (${target === 'N' ? n : 2 * n})`, met: uploads <= (target === 'N' ? n : 2 * n),
});

function costRows(n: number, c: Costs): Row[] {
  const change = Math.max(...[c.create, c.add, c.rename, c.remove].map((x) => x.pairwise + x.group));
  return [
    count(n, `group_change_${n}`, `group of ${n}, client cores: uploads per change (most of create/add/rename/remove)`, change, '2N'),
    count(n, `group_first_message_${n}`, `group of ${n}, client cores: uploads for a member's first message after a change`, c.firstMessage.pairwise + c.firstMessage.group, 'N'),
  ];
}

function relayRows(r: GroupRunResult, inMemory: Costs | undefined): Row[] {
  const n = r.n;
  const at = `group of ${n} through a relay at default limits`;
  const commandS = (r.create.commandMs + r.firstMessage.commandMs + r.removal.commandMs + r.afterRemoval.commandMs) / 1000;
  return [
    count(n, `group_relay_${n}_create`, `${at}: uploads for the create`, r.create.uploads, '2N'),
    count(n, `group_relay_${n}_first`, `${at}: uploads for the first message`, r.firstMessage.uploads, 'N'),
    count(n, `group_relay_${n}_removal`, `${at}: uploads for a removal`, r.removal.uploads, '2N'),
    {
      id: `group_relay_${n}_read`, figure: `${at}: a member's receive pass reading the first message after a removal (slowest of ${n - 2})`, unit: 'ms',
      fastchat: r.afterRemoval.receive.max, baseline: inMemory?.readMs.max ?? Number.NaN, baselineName: 'client work alone, in-memory relay (slowest)', better: 'lower',
      target: '≤ 500 ms each', met: r.afterRemoval.receive.max <= 500, note: `median ${r.afterRemoval.receive.median} ms`,
    },
    {
      id: `group_relay_${n}_commands`, figure: `${at}: create, message, removal, message (the four commands)`, unit: 's', fastchat: commandS,
      baseline: Number.NaN, baselineName: 'none', better: 'lower', target: 'completes, read by all, not by the removed', met: true,
      note: `${r.rateLimited} rate_limited answers waited out; ${n} accounts set up in ${(r.setupMs / 1000).toFixed(0)} s`,
    },
  ];
}

export async function groupsSuite(p: Params, log: (s: string) => void): Promise<{ rows: Row[]; details: unknown }> {
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const inMemory = new Map<number, Costs>();
  for (const n of p.groupCostSizes) {
    log(`  groups: change costs at N=${n} (client cores, in-memory relay)`);
    const costs = await startWorker<Costs>('group-worker', { kind: 'costs', n }, 600_000).result;
    inMemory.set(n, costs);
    details[`costs_${n}`] = costs;
    rows.push(...costRows(n, costs));
  }
  for (const n of p.groupRelaySizes) {
    log(`  groups: N=${n} through a relay at its default limits`);
    // The run stops itself at its deadline (a throw, so no row); the worker's timeout is a backstop.
    const deadlineMs = n >= 500 ? 15 * 60_000 : 5 * 60_000;
    const run = await startWorker<GroupRunResult>('group-worker', { kind: 'relay', n, deadlineMs }, deadlineMs + 60_000).result;
    details[`relay_${n}`] = run;
    rows.push(...relayRows(run, inMemory.get(n)));
  }
  return { rows, details };
}
