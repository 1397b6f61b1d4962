// Output helpers shared by the commands: peers on the command line, timestamps, JSON lines.
import { usageError } from './errors.js';
import { isValidUsername } from '../crypto/types.js';

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

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function warn(line: string): void {
  process.stderr.write(`fastchat: warning: ${line}\n`);
}

/** Terminal control characters in a peer's text could rewrite the screen: show them escaped. */
export function safeText(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function parsePositiveInt(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw usageError(`${what} must be a non-negative integer, got "${v}"`);
  return n;
}
