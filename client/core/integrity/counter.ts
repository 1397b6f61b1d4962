// The store counter: the store's generation, sealed under the storage key, in a file of its own
// beside store.db (`store.counter`). store.db says which generation it is at; the counter file says
// the highest generation this home has committed. A store.db put back from a backup or an older
// copy is behind its counter, and open.ts refuses to send with it. The file is written after each
// commit (never before, or a failed transaction would read as a rollback).
//
// What it cannot see: the counter file rolled back together with store.db (a whole-home or VM
// snapshot restore). Nothing local can; docs/THREAT_MODEL.md says so.
import { homeFiles } from '#home-files';
import { Reader, u64, u8 } from '../../../crypto/encoding.js';
import type { Sealer } from '../at-rest.js';
import { writeSecretFile } from '../home.js';
import type { Overwriter } from '../platform/files.js';

const COUNTER_FORMAT = 1;
const ROW: readonly string[] = ['store'];

export type CounterRead = { kind: 'missing' } | { kind: 'unreadable' } | { kind: 'ok'; generation: number };

export function readCounter(path: string, sealer: Sealer): CounterRead {
  const bytes = homeFiles.read(path);
  if (bytes === undefined) return { kind: 'missing' };
  try {
    const r = new Reader(sealer.open('counter', ROW, bytes));
    if (r.u8() !== COUNTER_FORMAT) return { kind: 'unreadable' };
    const generation = r.u64();
    r.end();
    return { kind: 'ok', generation };
  } catch {
    return { kind: 'unreadable' };
  }
}

function sealCounter(sealer: Sealer, generation: number): Uint8Array {
  return sealer.seal('counter', ROW, Uint8Array.from([...u8(COUNTER_FORMAT), ...u64(generation)]));
}

/** Write-then-rename (0600): for the first write, and wherever a whole new file is wanted. */
export function writeCounter(path: string, sealer: Sealer, generation: number): void {
  writeSecretFile(path, sealCounter(sealer, generation));
}

/**
 * A sink for manifest.onGenerationCommitted: writes the counter after each commit. It never writes
 * a generation lower than one this process wrote. Two processes sharing a home can still finish in
 * the opposite order of their commits and leave the file a step behind the store until the next
 * commit; that only narrows what a rollback check can see, never raises a false alarm (the file is
 * never ahead of the store).
 */
export interface CounterSink {
  (generation: number): void;
  close(): void;
}

/**
 * Writes overwrite the file's 57 bytes in place through a descriptor kept open, one pwrite per
 * commit: a write that small lands within one disk sector, and every sealed value has the same
 * length, so the file always holds one whole value. Only a missing file is created (write, then
 * rename); it is never replaced while it exists, so every process sharing the home writes the same
 * file rather than one another process has renamed away.
 */
export function counterSink(path: string, sealer: Sealer): CounterSink {
  let written = -1;
  let file: Overwriter | undefined;
  const sink = ((generation: number) => {
    if (generation <= written) return;
    try {
      if (file === undefined) {
        if (!homeFiles.exists(path)) writeCounter(path, sealer, generation);
        file = homeFiles.overwriter(path);
      }
      file.write(sealCounter(sealer, generation));
      written = generation;
    } catch {
      // A full disk must not fail a message that is already committed; the next commit retries.
    }
  }) as CounterSink;
  sink.close = () => {
    file?.close();
    file = undefined;
  };
  return sink;
}
