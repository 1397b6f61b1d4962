// Where the CLI keeps the account key a link brought (`device link`, client/core/linking.ts): in the
// keystore file, sealed again under the passphrase that opened (or made) it. The page keeps it in
// its vault instead (web/src/chat.ts).
import { encodeAccountKeyPair } from '../../crypto/account.js';
import type { Client } from '../core/context.js';
import { importAccountKey, kdfParamsFromEnv } from '../core/keystore.js';
import type { KeepAccountKey } from '../core/linking.js';

export function keepInKeystore(c: Client, passphrase: string): KeepAccountKey {
  return (account) => importAccountKey(c.home.keystore, passphrase, c.secrets, encodeAccountKeyPair(account), c.random, kdfParamsFromEnv());
}
