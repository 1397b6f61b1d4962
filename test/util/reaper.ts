// Every process a test starts is stopped by the test, even when the test runner kills the test
// file on its timeout (SIGTERM) before the test's own cleanup runs: relays (relay-process.ts)
// register here and are killed when this process exits. Browsers need not (browser.ts says why).
import type { ChildProcess } from 'node:child_process';

const live = new Map<ChildProcess, (p: ChildProcess) => void>();
let installed = false;

/** Runs `kill(proc)` when this process exits while `proc` still runs. */
export function killOnExit(proc: ChildProcess, kill: (p: ChildProcess) => void = (p) => p.kill('SIGKILL')): void {
  live.set(proc, kill);
  proc.once('exit', () => live.delete(proc));
  if (installed) return;
  installed = true;
  const killAll = (): void => {
    for (const [p, k] of live) k(p);
  };
  process.once('exit', killAll);
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(code);
    });
  }
}
