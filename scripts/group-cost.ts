// Prints what a membership change costs in relay submissions for each group size given:
// `npm run build && node dist/scripts/group-cost.js 10 50` (client cores on an in-memory relay).
import { changeCosts } from '../test/util/group-cost.js';

for (const arg of process.argv.slice(2)) {
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 2 || n > 1000) throw new Error(`not a group size: ${arg}`);
  const started = Date.now();
  process.stdout.write(`n=${n}: ${JSON.stringify(await changeCosts(n))} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
