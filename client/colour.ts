// Colours for the terminal: only when the stream is a terminal, TERM is not "dumb" and NO_COLOR is
// not set (https://no-color.org). Only fastchat's own parts of a line are painted — times, names,
// marks, warnings — never a peer's text, which reaches the screen through safeText and so can hold
// no escape of its own: every escape sequence on a line is one of ours.
export type Paint = 'dim' | 'name' | 'you' | 'warn' | 'alert' | 'ok';

const CODES: Record<Paint, [string, string]> = {
  dim: ['\u001b[2m', '\u001b[22m'],
  name: ['\u001b[36m', '\u001b[39m'],
  you: ['\u001b[32m', '\u001b[39m'],
  warn: ['\u001b[33m', '\u001b[39m'],
  alert: ['\u001b[1;31m', '\u001b[22;39m'],
  ok: ['\u001b[32m', '\u001b[39m'],
};

/** Whether output to `stream` gets colours. */
export function colourOn(stream: { isTTY?: boolean }): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

export type Painter = (kind: Paint, s: string) => string;

export const NO_PAINT: Painter = (_k, s) => s;

export function painter(on: boolean): Painter {
  return on ? (kind, s) => (s === '' ? s : `${CODES[kind][0]}${s}${CODES[kind][1]}`) : NO_PAINT;
}

/** Our escape sequences (SGR): zero width on the screen. */
const SGR = /\u001b\[[0-9;]*m/g;

export function stripColour(s: string): string {
  return s.replace(SGR, '');
}
