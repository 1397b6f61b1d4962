// bench/results.json: a full run writes it whole; an `--only` run replaces only the entries of the
// suites it ran (their rows, details, errors and run information) and keeps every other suite's
// from the file, so profiling one suite does not wipe the last full run.
import { existsSync, readFileSync } from 'node:fs';
import type { Row } from './stats.js';

export interface SuiteRun {
  date: string;
  mode: 'quick' | 'full';
  seconds: number;
  loadavgAtStart: number[];
  loadavgAtEnd: number[];
}

export interface Results {
  date: string;
  mode: 'quick' | 'full';
  seconds: number;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; platform: string; loadavgAtStart: number[]; loadavgAtEnd: number[] };
  /** The suites the run that last wrote the file ran; null: all of them. */
  only: string[] | null;
  /** When and how each suite's entries were measured (they may come from different runs). */
  suites: Record<string, SuiteRun>;
  rows: (Row & { suite?: string; ratio: number })[];
  errors: Record<string, string>;
  details: Record<string, unknown>;
}

/**
 * `fresh` (a run of the suites `ran`) merged over `previous`: every entry of a suite in `ran` comes
 * from `fresh`, every other one from `previous`. A row written before rows named their suite is
 * replaced when this run wrote a row with its id.
 */
export function mergeResults(previous: Results, fresh: Results, ran: ReadonlySet<string>): Results {
  const freshIds = new Set(fresh.rows.map((r) => r.id));
  const keep = <V>(rec: Record<string, V> | undefined): Record<string, V> => Object.fromEntries(Object.entries(rec ?? {}).filter(([k]) => !ran.has(k)));
  return {
    ...fresh,
    suites: { ...keep(previous.suites), ...fresh.suites },
    rows: [...(previous.rows ?? []).filter((r) => (r.suite !== undefined ? !ran.has(r.suite) : !freshIds.has(r.id))), ...fresh.rows],
    errors: { ...keep(previous.errors), ...fresh.errors },
    details: { ...keep(previous.details), ...fresh.details },
  };
}

/** The results file as last written, or null when there is none or it is not a results file. */
export function readResults(file: string): Results | null {
  if (!existsSync(file)) return null;
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as Results;
    return Array.isArray(r.rows) && typeof r.details === 'object' && r.details !== null ? r : null;
  } catch {
    return null;
  }
}
