// The store counter: the store's generation, sealed under the storage key, in a file of its own
// beside store.db (`store.counter`). store.db says which generation it is at; the counter file says
// the highest generation this home has committed. A store.db put back from a backup or an older
// copy is behind its counter, and open.ts refuses to send with it. The file is written after each
// commit (never before, or a failed transaction would read as a rollback).
//
// What it cannot see: the counter file rolled back together with store.db (a whole-home or VM
// snapshot restore). Nothing local can; docs/THREAT_MODEL.md says so.
import { existsSync, readFileSync } from 'node:fs';
import { Reader, u64, u8 } from '../../../crypto/encoding.js';
import type { Sealer } from '../at-rest.js';
import { writeSecretFile } from '../home.js';

const COUNTER_FORMAT = 1;
const ROW: readonly string[] = ['store'];

export type CounterRead = { kind: 'missing' } | { kind: 'unreadable' } | { kind: 'ok'; generation: number };

export function readCounter(path: string, sealer: Sealer): CounterRead {
  if (!existsSync(path)) return { kind: 'missing' };
  try {
    const r = new Reader(sealer.open('counter', ROW, new Uint8Array(readFileSync(path))));
    if (r.u8() !== COUNTER_FORMAT) return { kind: 'unreadable' };
    const generation = r.u64();
    r.end();
    return { kind: 'ok', generation };
  } catch {
    return { kind: 'unreadable' };
  }
}

export function writeCounter(path: string, sealer: Sealer, generation: number): void {
  const sealed = sealer.seal('counter', ROW, Uint8Array.from([...u8(COUNTER_FORMAT), ...u64(generation)]));
  writeSecretFile(path, sealed);
}

/**
 * A sink for manifest.onGenerationCommitted: writes the counter, never lowering it. Two processes
 * sharing the home can finish their commits in either order; the later writer may hold the lower
 * generation, so the file is read back first. (A race between the read and the rename can still
 * leave it one step low, which only weakens detection until the next commit.)
 */
export function counterSink(path: string, sealer: Sealer): (generation: number) => void {
  return (generation) => {
    try {
      const now = readCounter(path, sealer);
      if (now.kind === 'ok' && now.generation >= generation) return;
      writeCounter(path, sealer, generation);
    } catch {
      // A full disk must not fail a message that is already committed; the next commit retries.
    }
  };
}
