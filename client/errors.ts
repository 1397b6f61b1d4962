// Errors the CLI turns into an exit code and a message on stderr (see cli.ts).
import { FastchatError } from '../crypto/errors.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, untrusted: 4 } as const;

export class CliError extends FastchatError {
  readonly exitCode: number;
  readonly hint: string | undefined;
  constructor(code: string, message: string, opts: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(code, message, { cause: opts.cause });
    this.name = 'CliError';
    this.exitCode = opts.exitCode ?? EXIT.failure;
    this.hint = opts.hint;
  }
}

export function usageError(message: string, hint?: string): CliError {
  return new CliError('usage', message, { exitCode: EXIT.usage, ...(hint ? { hint } : {}) });
}
