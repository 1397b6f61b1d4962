// argon2id password hashing behind the concurrency cap (semaphore.ts). The cost comes from the
// config: strong by default (64 MiB, t=3), lowered only by tests and small hosts on purpose.
import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import type { RelayConfig } from './config.js';
import { Semaphore } from './semaphore.js';

export class Passwords {
  private readonly sem: Semaphore;
  /** A hash of a random password, verified when the user does not exist, so timing is alike. */
  private dummy: Promise<string> | null = null;

  constructor(private readonly cfg: Pick<RelayConfig, 'argon2MemoryKiB' | 'argon2Time' | 'argon2Parallelism' | 'argon2Concurrency' | 'argon2QueueMax'>) {
    this.sem = new Semaphore(cfg.argon2Concurrency, cfg.argon2QueueMax);
  }

  hash(password: string): Promise<string> {
    return this.sem.run(() =>
      argon2.hash(password, {
        type: argon2.argon2id,
        memoryCost: this.cfg.argon2MemoryKiB,
        timeCost: this.cfg.argon2Time,
        parallelism: this.cfg.argon2Parallelism,
      }),
    );
  }

  async verify(hash: string | undefined, password: string): Promise<boolean> {
    if (hash === undefined) {
      this.dummy ??= this.hash(randomBytes(16).toString('hex'));
      const h = await this.dummy;
      await this.sem.run(() => argon2.verify(h, password));
      return false;
    }
    return this.sem.run(() => argon2.verify(hash, password));
  }

  get inUse(): number {
    return this.sem.inUse;
  }
}
