// Many accounts without an argon2 run each: the population suite needs 15,000 logged-in users, and
// registering and logging each in over HTTP costs two argon2 runs and two requests (about 8 minutes
// for 15,000 on this machine under load). Here one account is registered and logged in through a
// real set-up relay (so the database, its relay id and its high-water mark are the relay's own);
// the rest are written through the relay's Store interface on the stopped relay's file, as
// `fastchat relay users` does: the same password hash (a real argon2id hash of PASSWORD) and a
// fresh token per account, stored as the relay stores one (its hash). Only for a bench database.
import { openSqliteStore } from '../../relay/store/index.js';
import { hashToken, newToken } from '../../relay/tokens.js';
import { startRelayProcess } from '../../test/util/relay-process.js';
import { track } from './procs.js';
import { ACCOUNT_SETUP_ARGS, login, registerUser } from './setup.js';

/** Accounts `names` on a new database at `db`, each logged in as device 1: their tokens, in order. */
export async function seedAccounts(db: string, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const setup = await startRelayProcess({ db, args: [...ACCOUNT_SETUP_ARGS], env: { FASTCHAT_RELAY_LOG_LEVEL: 'warn' } });
  track(setup.proc);
  let first: string;
  try {
    await registerUser(setup.url, names[0]!);
    first = await login(setup.url, names[0]!);
  } finally {
    await setup.stop();
  }
  const store = openSqliteStore(db, { synchronous: 'NORMAL' });
  try {
    const user = await store.getUser(names[0]!);
    if (!user) throw new Error(`seed: ${names[0]} was registered but is not in ${db}`);
    const now = Date.now();
    const expiresAt = now + 7 * 24 * 3600_000;
    const tokens = [first];
    for (const name of names.slice(1)) {
      if (!(await store.createUser(name, user.passwordHash, now))) throw new Error(`seed: ${name} exists already`);
      await store.touchDevice(name, 1, now);
      const token = newToken();
      if (!(await store.createSession(hashToken(token), name, 1, now, expiresAt, user.passwordHash))) throw new Error(`seed: no session for ${name}`);
      tokens.push(token);
    }
    return tokens;
  } finally {
    await store.close();
  }
}
