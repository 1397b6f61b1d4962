// The client core still uses Node globals in some files (client/core/seam.test.ts lists them, a
// list that may only shrink): Buffer for bytes and hex, process for a few environment switches and
// the terminal, setImmediate to yield to the event loop. Until each is rewritten, esbuild injects
// these into the page's bundle wherever they are used: Buffer from the `buffer` package, a process
// with an empty environment and no terminal (the prompts that would read one are never called
// from the page), and setImmediate as a zero-delay timer.
export { Buffer } from 'buffer';

const noTerminal = { isTTY: false, columns: 80, write: (): boolean => true };

export const process = { env: {} as Record<string, string | undefined>, stdin: { isTTY: false }, stdout: noTerminal, stderr: noTerminal };

export function setImmediate<A extends unknown[]>(fn: (...args: A) => void, ...args: A): ReturnType<typeof setTimeout> {
  return setTimeout(fn, 0, ...args);
}
