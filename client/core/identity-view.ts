// Our public identity without the passphrase: keygen stores it in config.json (it is public).
import { fromBase64url } from '../../crypto/encoding.js';
import { parsePublicIdentity, type PublicIdentity } from '../../crypto/identity.js';
import { CliError } from '../errors.js';
import type { Config } from './config.js';

export function ownPublicIdentity(config: Config): PublicIdentity {
  if (!config.identity) throw new CliError('no_keys', 'this home has no public identity recorded', { hint: 'run `fastchat keygen`' });
  return parsePublicIdentity(fromBase64url(config.identity));
}
