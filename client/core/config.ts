// config.json remembers where this home talks to (relay URL, CA file) and as whom. The bearer
// token lives apart in token.json (0600) so the config can be shown and copied without a secret.
// Both are checked by hand, not with zod: importing zod alone takes longer than starting node,
// and `whoami` should cost little more than that (docs/PERFORMANCE.md, CLI cold start).
import { CliError } from '../errors.js';
import { readJsonFile, removeFile, writeSecretFile, type Home } from './home.js';

export interface Config {
  relay?: string;
  ca?: string;
  username?: string;
  deviceId?: number; // integer ≥ 1
  /** Our public identity (encodePublicIdentity, base64url): lets whoami/fingerprint run without the passphrase. */
  identity?: string;
  /** The relay database's id (its `Fastchat-Relay-Id` header) when we registered or logged in there. */
  relayId?: string;
  /**
   * Set by `device link` once its ticket logged this home in, cleared when the device is in the
   * account's list with its keys published: a link interrupted in between is finished by running
   * `device link` again (linking.ts resumeLink).
   */
  linking?: true;
}

export interface TokenFile {
  token: string; // non-empty
  expiresAt?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A present key must hold a string (null is not "absent"); unknown keys are dropped. */
function optionalString(o: Record<string, unknown>, key: string): string | undefined | false {
  if (!(key in o) || o[key] === undefined) return undefined;
  return typeof o[key] === 'string' ? o[key] : false;
}

/** The config as stored, or undefined when it does not have the shape of `Config`. */
export function parseConfig(raw: unknown): Config | undefined {
  if (!isRecord(raw)) return undefined;
  const out: Config = {};
  for (const key of ['relay', 'ca', 'username', 'identity', 'relayId'] as const) {
    const v = optionalString(raw, key);
    if (v === false) return undefined;
    if (v !== undefined) out[key] = v;
  }
  if ('deviceId' in raw && raw.deviceId !== undefined) {
    const d = raw.deviceId;
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1) return undefined;
    out.deviceId = d;
  }
  if ('linking' in raw && raw.linking !== undefined) {
    if (raw.linking !== true) return undefined;
    out.linking = true;
  }
  return out;
}

/** The token file, or undefined when it does not have the shape of `TokenFile`. */
export function parseToken(raw: unknown): TokenFile | undefined {
  if (!isRecord(raw) || typeof raw.token !== 'string' || raw.token.length === 0) return undefined;
  const expiresAt = optionalString(raw, 'expiresAt');
  if (expiresAt === false) return undefined;
  return expiresAt === undefined ? { token: raw.token } : { token: raw.token, expiresAt };
}

export function loadConfig(home: Home): Config {
  const raw = readJsonFile(home.config);
  if (raw === undefined) return {};
  const config = parseConfig(raw);
  if (!config) throw new CliError('corrupt_file', `invalid config file ${home.config}`);
  return config;
}

export function saveConfig(home: Home, config: Config): void {
  writeSecretFile(home.config, `${JSON.stringify(config, null, 2)}\n`);
}

export function loadToken(home: Home): TokenFile | undefined {
  const raw = readJsonFile(home.token);
  if (raw === undefined) return undefined;
  return parseToken(raw);
}

export function saveToken(home: Home, token: TokenFile): void {
  writeSecretFile(home.token, `${JSON.stringify(token)}\n`);
}

export function clearToken(home: Home): void {
  removeFile(home.token);
}
