// CPU time of processes, from /proc (Linux): what a figure cost each component (relay nodes,
// PostgreSQL with its backends, nats-server), to turn throughput into per-core capacity.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime/stime (USER_HZ: 100 on Linux). */
const HZ = 100;

/** User + system CPU seconds of `pids` so far (a vanished process counts 0). */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      // gone
    }
  }
  return ticks / HZ;
}
