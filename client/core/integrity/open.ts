// Opening an unlocked store: migrate a format-1 store, then compare the store's generation with the
// counter file beside it. A store behind its counter (a backup restored, an older copy put back),
// a counter deleted or unreadable, a manifest gone, or a pre-upgrade store under an upgraded
// keystore sets the alarm: sending is refused until `fastchat reset-sessions` (send-guard.ts), so
// no ratchet or sender-chain state is used a second time. The alarm lives in the sealed manifest,
// so rolling the store back again only raises it again.
import { getMeta, setMeta, tx } from '../db.js';
import { counterSink, readCounter, type CounterRead } from './counter.js';
import { hasManifest, loadManifest, ManifestUnreadable, onGenerationCommitted, saveManifest, type Alarm, type AlarmReason, type Store } from './manifest.js';
import { migrateFormat1, rebuildManifest } from './migrate.js';

export const STORE_FORMAT = 2;

export interface OpenedStore {
  alarm: Alarm | null;
  /** A format-1 store was migrated just now. */
  migrated: boolean;
  /** Releases the counter file (call when the store is closed). */
  close(): void;
}

export interface PrepareOptions {
  counterPath: string;
  storageKey: Uint8Array;
  /** The keystore was already in its current format before this unlock: the store must be too. */
  keystoreWasCurrent: boolean;
  now: number;
}

function counterProblem(c: CounterRead, storeGeneration: number): { reason: AlarmReason; counterGeneration: number } | null {
  if (c.kind === 'missing') return { reason: 'counter_missing', counterGeneration: 0 };
  if (c.kind === 'unreadable') return { reason: 'counter_unreadable', counterGeneration: 0 };
  if (c.generation > storeGeneration) return { reason: 'rolled_back', counterGeneration: c.generation };
  return null;
}

export function prepareStore(s: Store, o: PrepareOptions): OpenedStore {
  const sink = counterSink(o.counterPath, s.sealer);
  onGenerationCommitted(s.db, sink);
  const opened = tx(s.db, (): { alarm: Alarm | null; migrated: boolean; generation: number } => {
    let migrated = false;
    let problem: { reason: AlarmReason; counterGeneration: number } | null = null;
    const format = Number(getMeta(s.db, 'store_format') ?? '1');
    if (format < STORE_FORMAT || !hasManifest(s.db)) {
      if (o.keystoreWasCurrent) {
        // An upgraded home always has a format-2 store: this one was replaced by an older or empty file.
        const c = readCounter(o.counterPath, s.sealer);
        rebuildManifest(s, c.kind === 'ok' ? c.generation : 0);
        problem = { reason: 'store_replaced', counterGeneration: c.kind === 'ok' ? c.generation : 0 };
      } else {
        migrateFormat1(s, o.storageKey);
        migrated = true;
      }
      setMeta(s.db, 'store_format', String(STORE_FORMAT));
    }
    let m;
    try {
      m = loadManifest(s);
    } catch (e) {
      if (!(e instanceof ManifestUnreadable)) throw e;
      const c = readCounter(o.counterPath, s.sealer);
      rebuildManifest(s, c.kind === 'ok' ? c.generation : 0);
      problem ??= { reason: 'manifest_unreadable', counterGeneration: c.kind === 'ok' ? c.generation : 0 };
      m = loadManifest(s);
    }
    if (!migrated) problem ??= counterProblem(readCounter(o.counterPath, s.sealer), m.generation);
    if (problem && !m.alarm) {
      m.alarm = { reason: problem.reason, at: o.now, storeGeneration: m.generation, counterGeneration: problem.counterGeneration };
    }
    if (problem || migrated) {
      // Ahead of the counter again, so the next open compares against this state; the alarm stays.
      m.generation = Math.max(m.generation, problem?.counterGeneration ?? 0);
      saveManifest(s, m);
    }
    return { alarm: m.alarm, migrated, generation: m.generation };
  });
  // A counter behind the store (a crash between a commit and its counter write) catches up here.
  sink(opened.generation);
  return { alarm: opened.alarm, migrated: opened.migrated, close: () => sink.close() };
}

/** Clears the alarm (reset-sessions, after the sessions were dropped). Call inside its transaction. */
export function clearAlarm(s: Store): void {
  const m = loadManifest(s);
  if (!m.alarm) return;
  m.alarm = null;
  saveManifest(s, m);
}
