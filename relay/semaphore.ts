// A counting semaphore with a bounded wait queue. It keeps argon2 (CPU- and memory-heavy) from
// taking every libuv thread: a login flood queues here, message traffic keeps its threads, and a
// queue that is already long is refused at once (rate_limited) instead of growing without bound.
import { RelayError } from './errors.js';

export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number, private readonly queueMax: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) {
      if (this.waiting.length >= this.queueMax) throw new RelayError('rate_limited', 'server busy, try again', { retryAfter: 1 });
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // hand the slot over without releasing it
      else this.active--;
    }
  }

  get inUse(): number {
    return this.active;
  }
}
