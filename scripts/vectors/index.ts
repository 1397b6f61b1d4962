// The registry of vector areas. `npm run vectors` writes docs/vectors/<name>.json for each entry;
// test/vectors.test.ts regenerates each and compares byte for byte. To add an area, write
// scripts/vectors/<name>.ts exporting `description` and `generate()` and append one line below.
import { PROTOCOL_VERSION } from '../../crypto/consts.js';
import { toHex } from '../../crypto/encoding.js';
import * as kdf from './kdf.js';
import * as identity from './identity.js';
import * as x3dh from './x3dh.js';
import * as ratchet from './ratchet.js';
import * as session from './session.js';
import * as group from './group.js';
import * as attachment from './attachment.js';
import * as devices from './devices.js';
import * as provision from './provision.js';

export interface VectorArea {
  name: string;
  /** One sentence for the file header: what these vectors pin down. */
  description: string;
  /** Deterministic: fixed seeds only (see seeded.ts). Uint8Array values are written as hex. */
  generate: () => unknown;
}

export const AREAS: VectorArea[] = [
  { name: 'kdf', description: kdf.description, generate: kdf.generate },
  { name: 'identity', description: identity.description, generate: identity.generate },
  { name: 'x3dh', description: x3dh.description, generate: x3dh.generate },
  { name: 'ratchet', description: ratchet.description, generate: ratchet.generate },
  { name: 'session', description: session.description, generate: session.generate },
  { name: 'group', description: group.description, generate: group.generate },
  { name: 'attachment', description: attachment.description, generate: attachment.generate },
  { name: 'devices', description: devices.description, generate: devices.generate },
  { name: 'provision', description: provision.description, generate: provision.generate },
];

/** Uint8Array → lowercase hex, recursively; everything else as JSON has it. */
function hexify(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(hexify);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, hexify(x)]));
  }
  return v;
}

/** The exact text of docs/vectors/<name>.json: header, then the vectors, 2-space JSON, final newline. */
export function render(area: VectorArea): string {
  const doc = { description: area.description, version: PROTOCOL_VERSION, generator: `scripts/vectors/${area.name}.ts`, vectors: hexify(area.generate()) };
  return JSON.stringify(doc, null, 2) + '\n';
}
