import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeResults, type Results } from './results.js';

const row = (id: string, suite?: string) => ({ id, figure: id, unit: 'x', fastchat: 1, baseline: 1, baselineName: 'b', better: 'lower' as const, ratio: 1, ...(suite ? { suite } : {}) });
const run = (over: Partial<Results>): Results => ({ date: 'd', mode: 'full', seconds: 1, machine: { cpu: 'c', cores: 2, memoryGiB: 1, node: 'v20', platform: 'p', loadavgAtStart: [], loadavgAtEnd: [] }, only: null, suites: {}, rows: [], errors: {}, details: {}, ...over });

test('an --only run replaces its suites in results.json and keeps the others', () => {
  const previous = run({
    date: 'full-run',
    suites: { relay: { date: 'full-run', mode: 'full', seconds: 9, loadavgAtStart: [1], loadavgAtEnd: [1] } },
    // relay_a: untagged (written before rows named their suite); pop_old: a step this run did not reach.
    rows: [row('relay_a'), row('crypto_a', 'crypto'), row('pop_old', 'population')],
    errors: { population: 'timed out', crypto: 'was broken' },
    details: { relay: { old: true }, crypto: { kept: true }, population: { old: true } },
  });
  const fresh = run({
    date: 'only-run',
    mode: 'quick',
    only: ['population', 'relay'],
    suites: { population: { date: 'only-run', mode: 'quick', seconds: 2, loadavgAtStart: [2], loadavgAtEnd: [2] } },
    rows: [row('relay_a', 'relay'), row('pop_new', 'population')],
    details: { relay: { old: false }, population: { old: false } },
  });
  const m = mergeResults(previous, fresh, new Set(['population', 'relay']));
  assert.equal(m.date, 'only-run');
  assert.deepEqual(m.only, ['population', 'relay']);
  assert.deepEqual(m.rows.map((r) => r.id), ['crypto_a', 'relay_a', 'pop_new']);
  assert.equal(m.rows.find((r) => r.id === 'relay_a')!.suite, 'relay');
  assert.deepEqual(m.errors, { crypto: 'was broken' });
  assert.deepEqual(m.details, { crypto: { kept: true }, relay: { old: false }, population: { old: false } });
  assert.deepEqual(Object.keys(m.suites).sort(), ['population']);
});
