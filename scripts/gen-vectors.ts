// `npm run vectors`: regenerates every file in docs/vectors/ from the registry. Deterministic, so
// running it twice changes nothing; a diff after a code change is a protocol change to review.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sodiumReady } from '../crypto/sodium.js';
import { ROOT } from '../test/util/paths.js';
import { AREAS, render } from './vectors/index.js';

await sodiumReady();
const dir = join(ROOT, 'docs/vectors');
mkdirSync(dir, { recursive: true });
for (const area of AREAS) {
  const file = join(dir, `${area.name}.json`);
  writeFileSync(file, render(area));
  console.log(`wrote docs/vectors/${area.name}.json`);
}
