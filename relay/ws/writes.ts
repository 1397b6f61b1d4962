// Coalesces the frames written in one stretch of synchronous work into one write per socket.
// `ws` writes every frame with its own writev syscall; after a commit the relay writes dozens to
// hundreds of frames (`sent` acks, pushed messages, a page of backlog), and the syscalls were ~14 %
// of its CPU. Inside run(), each socket written to is corked once and uncorked at the end, so
// Node hands the kernel all of its frames in one writev. Nothing is delayed past the end of the
// current synchronous run. ws.bufferedAmount counts corked bytes too, so before judging
// backpressure the pump releases the socket (release()): only what the kernel refused counts.
import type WebSocket from 'ws';

interface Corkable {
  cork(): void;
  uncork(): void;
}

export class WriteBatch {
  private corked: Set<Corkable> | null = null;

  /** Runs fn with writes coalesced; reentrant (an inner run joins the outer one). */
  run<T>(fn: () => T): T {
    if (this.corked) return fn();
    const corked = new Set<Corkable>();
    this.corked = corked;
    try {
      return fn();
    } finally {
      this.corked = null;
      for (const s of corked) s.uncork();
    }
  }

  /**
   * Hands what is corked for `ws` to the kernel now. The pump calls it before judging
   * backpressure, so only bytes the kernel refused count against the high-water mark.
   */
  release(ws: WebSocket): void {
    const s = socketOf(ws);
    if (!s || !this.corked?.delete(s)) return;
    s.uncork();
  }

  /** Called before writing to `ws`: corks its socket when a run is active. */
  join(ws: WebSocket): void {
    if (!this.corked) return;
    const s = socketOf(ws);
    if (!s || this.corked.has(s)) return;
    s.cork();
    this.corked.add(s);
  }
}

// ws keeps its net.Socket in `_socket` (ws 8; no public accessor). Without one, writes simply go
// out one by one.
function socketOf(ws: WebSocket): Corkable | undefined {
  const s = (ws as unknown as { _socket?: Partial<Corkable> | null })._socket;
  return s && typeof s.cork === 'function' && typeof s.uncork === 'function' ? (s as Corkable) : undefined;
}
