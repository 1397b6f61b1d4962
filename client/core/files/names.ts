// File names from a peer are untrusted: they decide where bytes land on our disk and are printed
// in a terminal. A name is reduced to one harmless path component before it is used, and a file
// never replaces one that exists.
import type { FileRef } from '../payload.js';

/** Longest name kept, in UTF-8 bytes (most file systems allow 255). */
const MAX_NAME_BYTES = 200;

/**
 * One path component: no directory parts (`../`, `/abs`, `C:\`), no control or bidi-override
 * characters (terminal escapes, names that display reversed), no leading dots (hidden files,
 * `.` and `..`), not empty.
 */
export function safeFileName(raw: string): string {
  let name = raw.split(/[/\\]/).pop() ?? '';
  name = name.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f\ufeff]/g, '');
  name = name.replace(/^[\s.]+/, '').replace(/[\s.]+$/, '');
  name = name.replace(/[:*?"<>|]/g, '_'); // reserved on Windows file systems
  if (new TextEncoder().encode(name).length > MAX_NAME_BYTES) {
    const ext = extension(name).slice(0, 16);
    let stem = name.slice(0, name.length - ext.length);
    while (new TextEncoder().encode(stem + ext).length > MAX_NAME_BYTES) stem = [...stem].slice(0, -1).join('');
    name = stem + ext;
  }
  return name.length > 0 ? name : 'file';
}

/** node:path's extname (POSIX): the last component's last dot on, unless that dot leads it. */
function extension(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 && name !== '..' ? name.slice(dot) : '';
}

/** `name`, then `name (1).ext`, `name (2).ext`, ... */
export function candidateNames(name: string): Generator<string> {
  const ext = extension(name);
  const stem = ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name;
  const e = stem === name ? '' : ext;
  return (function* () {
    yield name;
    for (let i = 1; ; i++) yield `${stem} (${i})${e}`;
  })();
}

const MIME: Record<string, string> = {
  '.txt': 'text/plain', '.md': 'text/markdown', '.csv': 'text/csv', '.html': 'text/html', '.json': 'application/json',
  '.pdf': 'application/pdf', '.zip': 'application/zip', '.gz': 'application/gzip', '.tar': 'application/x-tar',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.svg': 'image/svg+xml', '.heic': 'image/heic', '.mp3': 'audio/mpeg', '.m4a': 'audio/mp4', '.ogg': 'audio/ogg',
  '.opus': 'audio/opus', '.wav': 'audio/wav', '.mp4': 'video/mp4', '.mov': 'video/quicktime', '.webm': 'video/webm',
  '.doc': 'application/msword', '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.odt': 'application/vnd.oasis.opendocument.text',
};

/** MIME type from the extension; unknown → application/octet-stream. */
export function guessMime(name: string): string {
  return MIME[extension(name).toLowerCase()] ?? 'application/octet-stream';
}

export function humanBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** The history line of a file message: `[file] name (size) — caption`. */
export function fileLine(f: Pick<FileRef, 'name' | 'size'>, caption: string): string {
  return `[file] ${safeFileName(f.name)} (${humanBytes(f.size)})${caption ? ` — ${caption}` : ''}`;
}

/**
 * The image type of a file by its first bytes (PNG, JPEG, GIF, WebP), or null. A page shows a file
 * inline only when its bytes say it is one of these: a peer's name or MIME type (an `.png` that is
 * HTML, an SVG with script) decides nothing.
 */
export function imageTypeOf(bytes: Uint8Array): 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp' | null {
  const starts = (sig: number[], at = 0): boolean => bytes.length >= at + sig.length && sig.every((b, i) => bytes[at + i] === b);
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (starts([0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (starts([0x47, 0x49, 0x46, 0x38, 0x37, 0x61]) || starts([0x47, 0x49, 0x46, 0x38, 0x39, 0x61])) return 'image/gif'; // GIF87a, GIF89a
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'image/webp'; // RIFF....WEBP
  return null;
}
