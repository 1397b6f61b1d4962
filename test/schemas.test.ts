// docs/schemas/ is generated from the client's payload validators; this test regenerates every
// file and fails on any difference, so the published schemas and the client never disagree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './util/paths.js';
import { renderSchema, SCHEMA_TYPES } from '../scripts/schemas/index.js';

for (const type of SCHEMA_TYPES) {
  test(`regenerating the ${type} payload schema reproduces docs/schemas/${type}.json byte for byte`, () => {
    assert.equal(renderSchema(type), readFileSync(join(ROOT, 'docs/schemas', `${type}.json`), 'utf8'), 'run `npm run schemas` and review the diff');
  });
}

test('docs/schemas holds exactly one schema per payload type the client accepts', () => {
  const files = readdirSync(join(ROOT, 'docs/schemas')).filter((f) => f.endsWith('.json')).sort();
  assert.deepEqual(files, SCHEMA_TYPES.map((t) => `${t}.json`).sort());
});
