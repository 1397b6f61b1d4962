// The CLI's side of `#signature-verifier` (client/core/platform/signatures.ts): group message
// signatures verified on a worker thread (signature-worker.ts), so the receiving main thread stores
// one page while the second core checks the next (docs/PERFORMANCE.md "Group backlog, round ten").
// The worker starts with the first batch (a pass without group messages never starts it), never
// keeps the process alive, and once it fails it stays failed: every batch out and after is answered
// null, which the caller takes as "verify in line".
import { Worker } from 'node:worker_threads';
import type { SignatureJob, SignatureVerifier } from '../core/platform/signatures.js';

export interface SignatureVerifierOptions {
  /** Makes the worker (tests: one that dies, or answers wrong); the default runs signature-worker.js. */
  worker?: () => Worker;
}

export function openSignatureVerifier(opts: SignatureVerifierOptions = {}): SignatureVerifier {
  return new WorkerVerifier(opts.worker ?? (() => new Worker(new URL('./signature-worker.js', import.meta.url))));
}

class WorkerVerifier implements SignatureVerifier {
  private worker: Worker | undefined;
  private failed = false;
  private next = 0;
  private readonly out = new Map<number, { count: number; done: (valid: boolean[] | null) => void }>();

  constructor(private readonly make: () => Worker) {}

  verify(jobs: SignatureJob[], done: (valid: boolean[] | null) => void): void {
    const w = this.failed ? undefined : this.started();
    if (!w) {
      queueMicrotask(() => done(null));
      return;
    }
    const id = this.next++;
    this.out.set(id, { count: jobs.length, done });
    w.postMessage({ id, jobs });
  }

  close(): void {
    const w = this.worker;
    this.fail();
    void w?.terminate();
  }

  private started(): Worker | undefined {
    if (this.worker) return this.worker;
    try {
      const w = this.make();
      w.on('message', (m: { id: number; valid: unknown }) => this.answer(m));
      w.on('error', () => this.fail());
      w.on('exit', () => this.fail());
      // After the listeners: adding a 'message' listener refs the worker's port again.
      w.unref();
      this.worker = w;
      return w;
    } catch {
      this.fail();
      return undefined;
    }
  }

  private answer(m: { id: number; valid: unknown }): void {
    const o = this.out.get(m.id);
    if (!o) return;
    this.out.delete(m.id);
    // An answer of another shape is no answer: those are verified in line.
    const ok = Array.isArray(m.valid) && m.valid.length === o.count && m.valid.every((v) => typeof v === 'boolean');
    o.done(ok ? (m.valid as boolean[]) : null);
  }

  private fail(): void {
    this.failed = true;
    this.worker = undefined;
    const out = [...this.out.values()];
    this.out.clear();
    for (const o of out) o.done(null);
  }
}
