// `fastchat relay cert`: a self-signed certificate for running the relay with TLS on a private
// host. Node has no X.509 writer, so this runs the system `openssl` (present on Debian/Ubuntu/
// macOS). The key is written 0600 and never overwritten unless asked.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { FastchatError } from '../crypto/errors.js';

/** Codes: invalid_argument, exists, no_openssl, openssl_failed. The CLI adds hints. */
export class CertError extends FastchatError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'CertError';
  }
}

export interface CertResult {
  cert: string;
  key: string;
  fingerprint: string;
  notAfter: string;
}

export async function makeSelfSignedCert(o: { host: string; out: string; days: number; force?: boolean }): Promise<CertResult> {
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(o.host)) throw new CertError('invalid_argument', `invalid --host: ${JSON.stringify(o.host)}`);
  if (o.days < 1 || o.days > 3650) throw new CertError('invalid_argument', '--days must be 1..3650');
  const dir = resolve(o.out);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  if (!o.force && (existsSync(key) || existsSync(cert))) {
    throw new CertError('exists', `${existsSync(key) ? key : cert} already exists`);
  }
  const san = isIP(o.host) ? `IP:${o.host}` : `DNS:${o.host}`;
  const args = [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', String(o.days), '-subj', `/CN=${o.host}`,
    '-addext', `subjectAltName=${san}`, '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'extendedKeyUsage=serverAuth',
  ];
  await new Promise<void>((ok, fail) => {
    // umask-independent: the key is chmod'ed right after, and the directory is 0700 meanwhile.
    execFile('openssl', args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return ok();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        fail(new CertError('no_openssl', 'openssl was not found on PATH'));
      } else fail(new CertError('openssl_failed', `openssl failed: ${String(stderr).trim().split('\n').pop() ?? err.message}`));
    });
  });
  chmodSync(key, 0o600);
  chmodSync(cert, 0o644);
  const x = new X509Certificate(readFileSync(cert));
  return { cert, key, fingerprint: x.fingerprint256, notAfter: new Date(x.validTo).toISOString() };
}
