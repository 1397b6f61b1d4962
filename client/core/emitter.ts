// A small typed event emitter for the core, which the browser runs too (node:events is Node's).
// Listeners run in the order they were added; one that throws stops the emit, as in Node.

type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<E extends { [K in keyof E]: unknown[] }> {
  private readonly listeners: { [K in keyof E]?: Listener<E[K]>[] } = {};

  on<K extends keyof E>(event: K, fn: Listener<E[K]>): this {
    (this.listeners[event] ??= []).push(fn);
    return this;
  }

  once<K extends keyof E>(event: K, fn: Listener<E[K]>): this {
    const wrapped = (...args: E[K]): void => {
      this.off(event, wrapped);
      fn(...args);
    };
    return this.on(event, wrapped);
  }

  off<K extends keyof E>(event: K, fn: Listener<E[K]>): this {
    const list = this.listeners[event];
    const i = list ? list.indexOf(fn) : -1;
    if (i >= 0) list!.splice(i, 1);
    return this;
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.listeners[event];
    if (!list || list.length === 0) return false;
    for (const fn of [...list]) fn(...args);
    return true;
  }
}
