// The benchmark's pure parts only: no timing is asserted here (the bench is its own command).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMarkdown, formatTable, median, percentile, ratio, summarize, type Row } from './stats.js';

test('percentile uses the nearest rank, so p50 of 1..100 is 50 and p99.9 of 1..1000 is 999', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(percentile(hundred, 50), 50);
  assert.equal(percentile(hundred, 99), 99);
  assert.equal(percentile(hundred, 100), 100);
  assert.equal(percentile(hundred, 0), 1);
  const thousand = Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(percentile(thousand, 99.9), 999);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile([1], 101), RangeError);
});

test('median averages the two middle values of an even sample', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('summarize reports count, p50, p99, p999 and max of a latency sample', () => {
  const s = summarize([5, 1, 4, 2, 3]);
  assert.deepEqual(s, { count: 5, p50: 3, p99: 5, p999: 5, max: 5 });
});

test('ratio is NaN when the baseline is missing or zero instead of Infinity', () => {
  assert.equal(ratio(50, 100), 0.5);
  assert.ok(Number.isNaN(ratio(1, 0)));
  assert.ok(Number.isNaN(ratio(Number.NaN, 1)));
});

test('the table shows each figure with its baseline, the ratio and whether the target was met', () => {
  const rows: Row[] = [
    { id: 'a', figure: 'relay 1:1', unit: 'msg/s', fastchat: 12_345, baseline: 24_690, baselineName: 'ws forwarder', better: 'higher', target: '≥ 0.50×', met: true },
    { id: 'b', figure: 'missing', unit: 'ms', fastchat: Number.NaN, baseline: 2, baselineName: 'x', better: 'lower' },
  ];
  const t = formatTable(rows).split('\n');
  assert.equal(t.length, 4);
  assert.match(t[0]!, /^figure\s+fastchat\s+baseline\s+ratio\s+target$/);
  assert.match(t[2]!, /relay 1:1\s+12,345 msg\/s\s+24,690 msg\/s \(ws forwarder\)\s+0\.50×\s+≥ 0\.50× met/);
  assert.match(t[3]!, /— ms .*—/);
  const md = formatMarkdown(rows).split('\n');
  assert.equal(md.length, 4);
  assert.match(md[2]!, /^\| relay 1:1 \| 12,345 msg\/s \| 24,690 msg\/s \(ws forwarder\) \| 0\.50× \| ≥ 0\.50× — met \|$/);
});
