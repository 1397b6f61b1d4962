// One place that puts an unlocked home together: openClient, keygen and the tests' openCore all
// hand it what they opened, so a Client is built (and closed) the same way everywhere.
import type { RandomBytes } from '../../crypto/sodium.js';
import { makeSealer } from './at-rest.js';
import type { Config } from './config.js';
import type { Client } from './context.js';
import type { DB } from './db.js';
import type { Home } from './home.js';
import type { Secrets } from './keystore.js';

export interface ClientParts {
  home: Home;
  config: Config;
  secrets: Secrets;
  db: DB;
  random: RandomBytes;
}

/** `onClose` runs after the store is closed (e.g. to drop pooled relay connections). */
export function assembleClient(p: ClientParts, onClose?: () => void): Client {
  return {
    ...p,
    sealer: makeSealer(p.secrets.storageKey, p.random),
    now: () => Date.now(),
    close() {
      p.db.close();
      onClose?.();
    },
  };
}
