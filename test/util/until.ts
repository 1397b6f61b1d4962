// Polling for what a test cannot be told about: a status in another home, a line on a process's
// stderr, a process's state. One helper, so every wait is bounded and says what never came.
import assert from 'node:assert/strict';

export interface UntilOptions {
  /** Give up after this long (default 30 s: a CLI pass under load takes seconds). */
  timeoutMs?: number;
  /** Check again after this long (default 300 ms). */
  everyMs?: number;
}

/** Polls `check` until it holds; fails after `timeoutMs` saying `what` never came. */
export async function until(check: () => boolean | Promise<boolean>, what: string, { timeoutMs = 30_000, everyMs = 300 }: UntilOptions = {}): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
