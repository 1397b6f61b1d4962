// `npm run schemas`: regenerates docs/schemas/<type>.json from the client's payload validators.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test/util/paths.js';
import { renderSchema, SCHEMA_TYPES } from './schemas/index.js';

const dir = join(ROOT, 'docs/schemas');
mkdirSync(dir, { recursive: true });
for (const type of SCHEMA_TYPES) {
  writeFileSync(join(dir, `${type}.json`), renderSchema(type));
  console.log(`wrote docs/schemas/${type}.json`);
}
