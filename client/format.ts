// Output helpers shared by the commands: peers on the command line, timestamps, JSON lines.
import { usageError } from './errors.js';
import { isValidUsername } from '../crypto/types.js';
import { colourOn, painter, stripColour } from './colour.js';

/**
 * A username as typed → as the relay knows it: without the `@`, case-folded like the relay folds
 * it (relay/schemas.ts), so `@Bob` is @bob everywhere. Undefined when it is not a valid name.
 */
export function foldUsername(arg: string): string | undefined {
  const u = (arg.startsWith('@') ? arg.slice(1) : arg).toLowerCase();
  return isValidUsername(u) ? u : undefined;
}

/** `@bob`, `@Bob` (or `bob`) → "bob". `#team` is a group: commands that take one check isGroupArg first. */
export function parsePeer(arg: string): string {
  if (isGroupArg(arg)) throw usageError(`"${arg}" is a group; this takes a @username`);
  const u = foldUsername(arg);
  if (u === undefined) throw usageError(`invalid user "${arg}"`, 'write a user as @username (3 to 32 characters: a-z, 0-9, _)');
  return u;
}

/** `#team` (or `#team~3fa2`): a group, resolved by the client core (client/core/groups.ts). */
export function isGroupArg(arg: string): boolean {
  return arg.startsWith('#') && arg.length > 1;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** Local time, minutes precision: "2025-01-31 14:05". */
export function shortTime(iso: string | number): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '????-??-?? ??:??';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * A JSON line with the same characters as JSON text escapes (`\u202e`, `\u2028`): the value a
 * program parses is the peer's text unchanged, but a JSON line read in a terminal cannot be
 * reordered or broken by it.
 */
export function jsonLine(v: unknown): string {
  return JSON.stringify(v).replace(UNSAFE, (ch) => {
    let out = '';
    for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return out;
  });
}

export function printJson(v: unknown): void {
  process.stdout.write(`${jsonLine(v)}\n`);
}

export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function warn(line: string): void {
  process.stderr.write(`fastchat: ${painter(colourOn(process.stderr))('warn', 'warning:')} ${line}\n`);
}

/**
 * Characters that must never reach a terminal raw from a peer's text: C0/C1 controls (escape
 * sequences, carriage return, tab, backspace…), format characters (Cf: the bidi embeddings,
 * overrides and isolates U+202A–U+202E and U+2066–U+2069, the marks U+061C, U+200E, U+200F, and
 * invisible ones like U+200B, U+FEFF and the tag block), lone surrogates and the Unicode line and
 * paragraph separators. Bidi controls can reorder what is displayed after them, carriage return and
 * friends can move the cursor over what we printed: either lets a peer draw a line that looks like
 * someone else's. ZWJ and ZWNJ (U+200D, U+200C) stay: emoji sequences and Persian or Indic text
 * need them, and they neither move the cursor nor reorder text.
 */
const UNSAFE = /(?![\u200c\u200d])[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

/** Line breaks in a message: each starts a continuation line (never a raw newline). */
const LINE_BREAK = /\r\n|[\n\r\u0085\u2028\u2029]/;

/** One character made visible: `\x1b` for a C0/C1 control, `\u202e` (or `\u{e0041}`) otherwise. */
function visible(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`;
  return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
}

/**
 * A peer's text as ONE line that cannot rewrite the screen: every character in UNSAFE (newlines
 * and tabs included) is shown escaped. For names, labels and other short fields; message bodies go
 * through messageLines.
 */
export function safeText(s: string): string {
  return s.replace(UNSAFE, visible);
}

/**
 * A message as a visibly delimited block: the first line is `head` + the first line of the text,
 * every further line of the text is indented by `head`'s width (so no line of a message can start
 * like a sender line, which never starts with a space), each line passed through safeText.
 * `tail` (a status mark) ends the last line. With `columns` (a terminal), long lines are wrapped.
 */
export function messageLines(head: string, text: string, tail = '', columns?: number): string[] {
  // head and tail are ours and may carry colour (client/colour.ts): measured without it.
  const indent = ' '.repeat(Math.max(2, Math.min(stripColour(head).length, MAX_INDENT, columns === undefined ? MAX_INDENT : Math.floor(columns / 3))));
  const lines = text.split(LINE_BREAK).map(safeText);
  lines[lines.length - 1] += tail;
  const out = lines.map((l, i) => (i === 0 ? head + l : indent + l));
  return columns === undefined ? out : out.flatMap((l) => wrap(l, indent, columns));
}

/**
 * On a terminal, a line longer than the screen is wrapped by the terminal itself, and its second
 * row starts at column 0: a peer could pad a message so that a fake sender line starts a row. So
 * lines are wrapped here, before the terminal would, each further row indented. Widths are
 * over-estimated (every character outside printable ASCII counts 2, the most a terminal gives one),
 * so the terminal never wraps on its own; a wide script just wraps a little early.
 */
function wrap(line: string, indent: string, columns: number): string[] {
  const max = Math.max(columns - 1, indent.length + 8);
  const rows: string[] = [];
  let row = '';
  let width = 0;
  let inEscape = false; // one of our colour sequences: zero width (a peer's text holds no ESC)
  for (const ch of line) {
    if (ch === '\u001b') inEscape = true;
    if (inEscape) {
      row += ch;
      if (ch === 'm') inEscape = false;
      continue;
    }
    const w = ch >= ' ' && ch <= '~' ? 1 : 2;
    if (width + w > max) {
      rows.push(row);
      row = indent;
      width = indent.length;
    }
    row += ch;
    width += w;
  }
  rows.push(row);
  return rows;
}

/** Columns of the terminal stdout is, or undefined when it is not one (no wrapping for pipes). */
export function terminalColumns(): number | undefined {
  return process.stdout.isTTY ? process.stdout.columns : undefined;
}

/** A group label or a long header should not push continuation lines off a narrow terminal. */
const MAX_INDENT = 40;

export function parsePositiveInt(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw usageError(`${what} must be a non-negative integer, got "${v}"`);
  return n;
}
