// The conformance kit (docs/conformance/): language-neutral cases an implementation must pass,
// each with its inputs and the expected output or error code. `npm run conformance` writes one
// file per area; test/conformance.test.ts regenerates them byte for byte and runs every case
// against the TypeScript implementation. Whether a case is accepted or refused, and with which
// code, is decided here by the case's design (what PROTOCOL.md says must happen); outputs of
// accepted cases (keys, parsed fields, end states) are computed with the implementation.
import { attachmentCases } from './attachments.js';
import { bundleCases } from './bundles.js';
import { envelopeCases } from './envelopes.js';
import { groupCases } from './groups.js';
import { payloadCases } from './payloads.js';
import { sessionCases } from './sessions.js';

/**
 * One case: `expect` is "accept" with an `output`, "refuse" with an `error` code, or "sequence"
 * (sessions): the input lists steps, each with its own expect, and `output` is the end state.
 */
export interface Case {
  name: string;
  /** What the case checks, in one sentence, with the PROTOCOL.md section. */
  about: string;
  input: unknown;
  expect: 'accept' | 'refuse' | 'sequence';
  output?: unknown;
  error?: string;
}

export interface ConformanceArea {
  name: string;
  kind: string;
  description: string;
  generate: () => { shared?: Record<string, unknown>; cases: Case[] };
}

export const CONFORMANCE: ConformanceArea[] = [
  { name: 'payloads', kind: 'payload', description: 'Application payloads (PROTOCOL.md §12): parse the UTF-8 bytes as a payload.', generate: payloadCases },
  { name: 'envelopes', kind: 'envelope', description: 'Envelopes (PROTOCOL.md §10.1, §8.3, §7.4): parse the bytes, before any cryptography.', generate: envelopeCases },
  { name: 'bundles', kind: 'bundle', description: 'Prekey bundles and X3DH (PROTOCOL.md §6.3, §7.2): parse the JSON bundle, verify it and run the initiator.', generate: bundleCases },
  { name: 'sessions', kind: 'session', description: 'The ratchet through sessions (PROTOCOL.md §8.6, §10.2): decrypt envelopes in order with a stored session.', generate: sessionCases },
  {
    name: 'groups',
    kind: 'group',
    description: 'Groups (PROTOCOL.md G.3-G.6): one member applies change records, accepts sender-key distributions and decrypts group messages, in order.',
    generate: groupCases,
  },
  { name: 'attachments', kind: 'attachment', description: 'Attachments (PROTOCOL.md "Attachments" A.3): open a blob with the reference from its message.', generate: attachmentCases },
];

/** Uint8Array → lowercase hex, recursively. */
function hexify(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(hexify);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, hexify(x)]));
  return v;
}

export function renderConformance(area: ConformanceArea): string {
  const { shared, cases } = area.generate();
  const doc = { description: area.description, kind: area.kind, generator: `scripts/conformance/${area.name}.ts`, ...(shared ? { shared: hexify(shared) } : {}), cases: hexify(cases) };
  return JSON.stringify(doc, null, 2) + '\n';
}
