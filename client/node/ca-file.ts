// The --ca option names a PEM file on this machine; it is checked, and made absolute, before a
// home remembers it (a browser has no such option: it checks the relay certificate itself).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { usageError } from '../errors.js';

export function checkCaFile(ca: string | undefined): string | undefined {
  if (ca === undefined) return undefined;
  const p = resolve(ca);
  if (!existsSync(p)) throw usageError(`CA file not found: ${ca}`);
  return p;
}
