// Periodic work over every open socket (the keep-alive ping, the auth re-check), spread over its
// period instead of done for all sockets in one turn of the event loop: at 10,000 sockets one
// turn stalled every other socket for 150–650 ms (docs/PERFORMANCE.md "Capacity").
//
// The period is cut into slots, one tick each (about TICK_MS, at most MAX_SLOTS per period). Each
// member sits in one slot, the emptiest when it joined, and each tick visits one slot. So every
// member is visited exactly once per period (its first visit within one period of joining), and a
// tick visits about members / slots of them.
const TICK_MS = 100;
const MAX_SLOTS = 1000;

export class Rotation<T> {
  private readonly slots: Set<T>[];
  private readonly slotOf = new Map<T, number>();
  private next = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Time between two ticks: the period over the number of slots. */
  readonly tickMs: number;

  constructor(
    readonly periodMs: number,
    opts: { tickMs?: number; maxSlots?: number } = {},
  ) {
    if (!Number.isFinite(periodMs) || periodMs <= 0) throw new Error(`a rotation needs a period > 0 ms, got ${periodMs}`);
    const n = Math.min(opts.maxSlots ?? MAX_SLOTS, Math.max(1, Math.round(periodMs / (opts.tickMs ?? TICK_MS))));
    this.slots = Array.from({ length: n }, () => new Set<T>());
    this.tickMs = periodMs / n;
  }

  get size(): number {
    return this.slotOf.size;
  }

  get slotCount(): number {
    return this.slots.length;
  }

  add(item: T): void {
    if (this.slotOf.has(item)) return;
    // The emptiest slot, searched from the next one to visit so that ties spread evenly.
    let best = this.next;
    for (let i = 1; i < this.slots.length; i++) {
      const s = (this.next + i) % this.slots.length;
      if (this.slots[s]!.size < this.slots[best]!.size) best = s;
    }
    this.slots[best]!.add(item);
    this.slotOf.set(item, best);
  }

  delete(item: T): void {
    const s = this.slotOf.get(item);
    if (s === undefined) return;
    this.slots[s]!.delete(item);
    this.slotOf.delete(item);
  }

  /** The members to visit at this tick (a copy: visiting may delete them). */
  tick(): T[] {
    const slot = this.slots[this.next]!;
    this.next = (this.next + 1) % this.slots.length;
    return [...slot];
  }

  /** Calls `visit` with one slot every tickMs until stop(); the timer does not hold the process. */
  start(visit: (items: T[]) => void): void {
    if (this.timer) throw new Error('rotation already started');
    this.timer = setInterval(() => {
      const items = this.tick();
      if (items.length > 0) visit(items);
    }, this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
