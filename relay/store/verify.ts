// What the relay checks before it serves a database file, and what `fastchat relay check` reports.
// Everything here reads the file through a read-only connection: a read-only connection never
// checkpoints or deletes the -wal on close, so a damaged -wal stays on disk for an expert (or a
// later `relay check`) to look at, and a refused start changes nothing.
//
// What is checked, and what it catches:
//  - PRAGMA quick_check (at start; `--integrity-check full` or `relay check` run integrity_check):
//    a damaged main file — b-tree pages, free list, cell and record structure. quick_check skips
//    matching index entries against their rows (integrity_check does that too). Neither sees a
//    byte flipped inside a value (a body, a hash): ciphertext bodies are authenticated end to end,
//    so the receiving client refuses such a message.
//  - the commit counter inside the database against the high-water mark beside it (mark.ts): a
//    -wal that was truncated, emptied or failed its checksums (SQLite silently drops every frame
//    from the first bad one), or a database restored from an older backup.
//  - the relay id inside the database against the one in the mark: another relay's database, or
//    a fresh one, put where this relay's was.
//  - no database but a mark: the database file was deleted or moved; starting would make a new,
//    empty relay that every client would meet as a stranger.
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { readMeta, type DatabaseMeta } from './meta.js';
import { markPath, readMark, type Mark } from './mark.js';
import { DatabaseRefused } from './refused.js';

export interface DatabaseReport {
  path: string;
  /** false: no database file yet (a new relay). */
  exists: boolean;
  integrity: { mode: 'quick' | 'full'; ok: boolean; problems: string[]; ms: number } | null;
  meta: DatabaseMeta | null;
  mark: Mark | null | 'unreadable';
  /** Committed write transactions the mark remembers and the database no longer has. */
  missingCommits: number;
  walBytes: number;
  /** Why the relay must not serve this file (null: it may). */
  refusal: DatabaseRefused | null;
  warnings: string[];
}

const PROBLEMS_SHOWN = 5;

/** Reads and checks `path` without writing to it. Never throws for a bad file: see `refusal`. */
export function inspectDatabase(path: string, mode: 'quick' | 'full'): DatabaseReport {
  const mark = readMark(path);
  const report: DatabaseReport = {
    path,
    exists: existsSync(path),
    integrity: null,
    meta: null,
    mark,
    missingCommits: 0,
    walBytes: existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0,
    refusal: null,
    warnings: [],
  };
  if (mark === 'unreadable') report.warnings.push(`${markPath(path)} is not a high-water mark file; it is written afresh`);
  if (!report.exists) {
    if (mark && mark !== 'unreadable') {
      report.refusal = new DatabaseRefused(
        'database_missing',
        `there is no database at ${path}, but ${markPath(path)} shows relay ${mark.relayId} ran on it (${mark.commits} commits)`,
        `restore the database from a backup (docs/RELAY.md "Operations"); to start a new, empty relay here instead (every account and queued message is gone, and clients will say it is not the relay they registered on), delete ${markPath(path)}`,
      );
    }
    return report;
  }
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    report.refusal = corrupt(path, [(e as Error).message]);
    return report;
  }
  try {
    const started = performance.now();
    const rows = db.pragma(mode === 'full' ? 'integrity_check(100)' : 'quick_check(100)') as Record<string, string>[];
    const problems = rows.map((r) => Object.values(r)[0]!).filter((v) => v !== 'ok');
    report.integrity = { mode, ok: problems.length === 0, problems, ms: Math.round(performance.now() - started) };
    if (problems.length > 0) {
      report.refusal = corrupt(path, problems);
      return report;
    }
    report.meta = readMeta(db);
  } catch (e) {
    // SQLITE_CORRUPT / SQLITE_NOTADB from the first read of a damaged file.
    report.refusal = corrupt(path, [(e as Error).message]);
    return report;
  } finally {
    db.close();
  }
  const meta = report.meta;
  if (!mark || mark === 'unreadable') return report; // the first start of this relay version, or a lost mark
  if (!meta) {
    // A mark says a relay ran here, but the file has not even its relay id: everything since the
    // last checkpoint is gone (an emptied -wal of a young database), or it is another file.
    report.missingCommits = mark.commits;
    report.refusal = rolledBack(path, 'none', mark);
    return report;
  }
  if (meta.relayId !== mark.relayId) {
    report.refusal = new DatabaseRefused(
      'database_replaced',
      `the database at ${path} is relay ${meta.relayId}, but ${markPath(path)} was written by relay ${mark.relayId}: this is not the database this relay ran on`,
      `put the right database back; if this one is meant to replace it, run \`fastchat relay check --db ${path} --accept-loss\` first`,
    );
    return report;
  }
  if (meta.commits < mark.commits) {
    report.missingCommits = mark.commits - meta.commits;
    report.refusal = rolledBack(path, String(meta.commits), mark);
  }
  return report;
}

function rolledBack(path: string, counter: string, mark: Mark): DatabaseRefused {
  return new DatabaseRefused(
    'database_rolled_back',
    `the database at ${path} is missing committed write transactions (its commit counter is ${counter}, the high-water mark in ${markPath(path)} says ${mark.commits}): acknowledged messages or accounts are gone — its -wal was truncated, emptied or damaged, or an older copy was put in its place`,
    `keep every file of it (${path}, ${path}-wal); restore the last backup (docs/RELAY.md "Operations"), or to serve what is left, run \`fastchat relay check --db ${path} --accept-loss\``,
  );
}

function corrupt(path: string, problems: string[]): DatabaseRefused {
  const shown = problems.slice(0, PROBLEMS_SHOWN).join('; ');
  const more = problems.length > PROBLEMS_SHOWN ? ` (and ${problems.length - PROBLEMS_SHOWN} more)` : '';
  return new DatabaseRefused(
    'database_corrupt',
    `the database at ${path} failed its integrity check: ${shown}${more}`,
    `stop using it; restore the last backup (docs/RELAY.md "Operations"); \`fastchat relay check --db ${path}\` runs the full check`,
  );
}

/** The refusal as an exception (relay start), or nothing. */
export function assertServable(path: string, mode: 'quick' | 'full'): DatabaseReport {
  const r = inspectDatabase(path, mode);
  if (r.refusal) throw r.refusal;
  return r;
}
