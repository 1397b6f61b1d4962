// docs/schemas/<type>.json, one JSON Schema (draft 2020-12) per application payload type, made
// from the client's own validators (client/core/payload.ts PAYLOAD_SCHEMAS): the client and the
// schema files cannot disagree, and test/schemas.test.ts fails when a file is out of date.
import { z } from 'zod';
import { PAYLOAD_SCHEMAS, type PayloadType } from '../../client/core/payload.js';

export const SCHEMA_TYPES = Object.keys(PAYLOAD_SCHEMAS) as PayloadType[];

/** The exact text of docs/schemas/<type>.json. `io: 'input'`: what a receiver accepts. */
export function renderSchema(type: PayloadType): string {
  const generated = z.toJSONSchema(PAYLOAD_SCHEMAS[type], { io: 'input', unrepresentable: 'throw' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  const doc = {
    $schema,
    $id: `https://fastchat.invalid/schemas/${type}.json`,
    title: `fastchat payload: ${type}`,
    $comment: 'Generated from client/core/payload.ts by `npm run schemas`; docs/PROTOCOL.md §12 is the prose.',
    ...rest,
  };
  return JSON.stringify(doc, null, 2) + '\n';
}
