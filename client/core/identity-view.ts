// Our public identity. The keystore holds the truth; keygen also writes it to config.json (it is
// public) so `whoami` can show a fingerprint without the passphrase. That copy is not
// authenticated: every command that unlocks the keystore checks it and repairs it, and safety
// numbers are computed from the keystore, never from the copy.
import { fromBase64url, toBase64url } from '../../crypto/encoding.js';
import { encodePublicIdentity, parsePublicIdentity, publicIdentity, type IdentityKeyPair, type PublicIdentity } from '../../crypto/identity.js';
import { CliError } from '../errors.js';
import { saveConfig, type Config } from './config.js';
import type { Home } from './home.js';

/** The identity config.json names (unauthenticated: for `whoami` only). */
export function ownPublicIdentity(config: Config): PublicIdentity {
  if (!config.identity) throw new CliError('no_keys', 'this home has no public identity recorded', { hint: 'run `fastchat keygen`' });
  return parsePublicIdentity(fromBase64url(config.identity));
}

/** The config with config.identity equal to the keystore's identity, repaired (with a warning) when not. */
export function checkConfigIdentity(home: Home, config: Config, identity: IdentityKeyPair, warn: (m: string) => void): Config {
  const ours = toBase64url(encodePublicIdentity(publicIdentity(identity)));
  if (config.identity === ours) return config;
  if (config.identity !== undefined) warn(`config.json named another identity key than the keystore holds (changed outside fastchat); repaired from the keystore`);
  const repaired = { ...config, identity: ours };
  saveConfig(home, repaired);
  return repaired;
}
