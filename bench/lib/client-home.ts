// Inside a client-core worker: a home made, registered with the relay and opened, from the
// environment the parent set (clientEnv in setup.ts: home, passphrase, password, cheap keystore KDF).
import { register } from '../../client/core/account.js';
import { openClient } from '../../client/node/open-home.js';
import { type Client } from '../../client/core/context.js';
import { keygen } from '../../client/core/keygen.js';

export async function registeredClient(username: string, relay: string): Promise<Client> {
  (await keygen({ force: false })).close();
  const fresh = await openClient();
  await register(fresh, username, relay, undefined);
  fresh.close();
  return openClient();
}
