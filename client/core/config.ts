// config.json remembers where this home talks to (relay URL, CA file) and as whom. The bearer
// token lives apart in token.json (0600) so the config can be shown and copied without a secret.
import { z } from 'zod';
import { CliError } from '../errors.js';
import { readJsonFile, removeFile, writeSecretFile, type Home } from './home.js';

const ConfigSchema = z.object({
  relay: z.string().optional(),
  ca: z.string().optional(),
  username: z.string().optional(),
  deviceId: z.number().int().min(1).optional(),
  /** Our public identity (encodePublicIdentity, base64url): lets whoami/fingerprint run without the passphrase. */
  identity: z.string().optional(),
});
export type Config = z.infer<typeof ConfigSchema>;

const TokenSchema = z.object({ token: z.string().min(1), expiresAt: z.string().optional() });
export type TokenFile = z.infer<typeof TokenSchema>;

export function loadConfig(home: Home): Config {
  const raw = readJsonFile(home.config);
  if (raw === undefined) return {};
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw new CliError('corrupt_file', `invalid config file ${home.config}`);
  return parsed.data;
}

export function saveConfig(home: Home, config: Config): void {
  writeSecretFile(home.config, `${JSON.stringify(config, null, 2)}\n`);
}

export function loadToken(home: Home): TokenFile | undefined {
  const raw = readJsonFile(home.token);
  if (raw === undefined) return undefined;
  const parsed = TokenSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

export function saveToken(home: Home, token: TokenFile): void {
  writeSecretFile(home.token, `${JSON.stringify(token)}\n`);
}

export function clearToken(home: Home): void {
  removeFile(home.token);
}
