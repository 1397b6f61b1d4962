// `npm run conformance`: regenerates docs/conformance/<area>.json from scripts/conformance/.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sodiumReady } from '../crypto/sodium.js';
import { ROOT } from '../test/util/paths.js';
import { CONFORMANCE, renderConformance } from './conformance/index.js';

await sodiumReady();
for (const area of CONFORMANCE) {
  writeFileSync(join(ROOT, 'docs/conformance', `${area.name}.json`), renderConformance(area));
  console.log(`wrote docs/conformance/${area.name}.json`);
}
