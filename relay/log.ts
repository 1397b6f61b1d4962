// Structured logs (pino, JSON lines). Logs are metadata only: never a body, token, password or
// key. Handlers log fields by name; the redact list is the second line of defence for a field that
// slips in by accident (e.g. a whole request object).
import pino, { type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'password', '*.password', 'token', '*.token', 'body', '*.body', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', 'req.headers.cookie', '*.publicKey', '*.signature',
];

/** Logs go to stderr (fd 2) so stdout carries only the one "listening" line scripts wait for. */
export function createLogger(level: string, destination: number | NodeJS.WritableStream = 2): Logger {
  const dest = typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination;
  return pino({ level, base: { svc: 'fastchat-relay' }, redact: { paths: REDACT, censor: '[redacted]' } }, dest);
}
