// A one-line progress bar on stderr (bytes, rate, ETA), drawn only when stderr is a terminal.
import { humanBytes } from './names.js';
import { NO_PROGRESS as NONE, type Progress } from './transfer.js';

export type { Progress };

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function progressBar(label: string, total: number, enabled: boolean, out: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled || !out.isTTY) return NONE;
  const started = Date.now();
  let last = 0;
  let current = 0;
  let drawn = false;
  let ended = false;
  const draw = (): void => {
    drawn = true;
    const secs = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = current / secs;
    const frac = total > 0 ? Math.min(current / total, 1) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const eta = rate > 0 ? (total - current) / rate : Infinity;
    const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${humanBytes(current)}/${humanBytes(total)} ${humanBytes(Math.round(rate))}/s ETA ${clock(eta)}`;
    out.write(`\r${line.slice(0, Math.max(20, (out.columns ?? 80) - 1))}\u001b[K`);
  };
  return {
    update(bytes) {
      if (ended) return;
      current = bytes;
      const now = Date.now();
      if (now - last >= 100) {
        last = now;
        draw();
      }
    },
    done() {
      if (ended) return;
      ended = true;
      draw();
      out.write('\n');
    },
    clear() {
      if (ended) return;
      ended = true;
      if (drawn) out.write('\r\u001b[K');
    },
  };
}
