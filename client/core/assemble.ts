// One place that puts an unlocked home together: openClient, keygen and the tests' openCore all
// hand it what they opened, so a Client is built (and closed) the same way everywhere, and every
// store is migrated and checked for a rollback (integrity/open.ts) before anything uses it.
import type { RandomBytes } from '../../crypto/sodium.js';
import { makeSealer } from './at-rest.js';
import type { Config } from './config.js';
import type { Client } from './context.js';
import type { DB } from './db.js';
import type { Home } from './home.js';
import { prepareStore } from './integrity/open.js';
import type { Secrets } from './keystore.js';

export interface ClientParts {
  home: Home;
  config: Config;
  secrets: Secrets;
  db: DB;
  random: RandomBytes;
  /** The keystore was already in the current format before this unlock (see integrity/open.ts). */
  keystoreWasCurrent: boolean;
}

/** `onClose` runs after the store is closed (e.g. to drop pooled relay connections). */
export function assembleClient(p: ClientParts, onClose?: () => void): Client {
  const sealer = makeSealer(p.secrets.storageKey, p.random);
  const now = (): number => Date.now();
  let opened;
  try {
    opened = prepareStore({ db: p.db, sealer }, { counterPath: p.home.counter, storageKey: p.secrets.storageKey, keystoreWasCurrent: p.keystoreWasCurrent, now: now() });
  } catch (e) {
    p.db.close();
    throw e;
  }
  const { keystoreWasCurrent: _, ...parts } = p;
  return {
    ...parts,
    sealer,
    now,
    alarm: opened.alarm,
    close() {
      p.db.close();
      opened.close();
      onClose?.();
    },
  };
}
