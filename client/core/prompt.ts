// Secrets come from the environment (scripts, tests) or from a hidden prompt on a terminal. Never
// from an argument: argv is visible to every user of the machine in `ps`.
import { CliError, usageError } from '../errors.js';

/** Reads one line from the terminal without echoing it. Ctrl-C aborts, Ctrl-D ends the input. */
export function readHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolvePromise, reject) => {
    process.stderr.write(question);
    let value = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error): void => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolvePromise(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new CliError('interrupted', 'interrupted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Tries at a prompt before giving up, as ssh allows: one typo should not cost the command. */
export const PROMPT_TRIES = 3;

/** Where a secret came from: hints name the environment variable only to those who used it. */
export type SecretSource = 'env' | 'prompt';

/**
 * Runs `use` with the keystore passphrase: FASTCHAT_PASSPHRASE when set (one try), else a hidden
 * prompt with up to PROMPT_TRIES tries; `isWrong` tells a wrong passphrase from other failures.
 * A wrong one is `bad_passphrase` with a hint worded by where it came from.
 */
export async function withPassphrase<T>(use: (passphrase: string, source: SecretSource) => Promise<T>, isWrong: (e: unknown) => boolean): Promise<T> {
  const env = process.env.FASTCHAT_PASSPHRASE;
  if (env !== undefined && env.length > 0) {
    try {
      return await use(env, 'env');
    } catch (e) {
      if (!isWrong(e)) throw e;
      throw new CliError('bad_passphrase', 'wrong passphrase: FASTCHAT_PASSPHRASE does not open the keystore of this home', {
        hint: 'check FASTCHAT_PASSPHRASE, or FASTCHAT_HOME if this is not the home you meant',
      });
    }
  }
  if (!canPrompt()) {
    throw new CliError('no_passphrase', 'no passphrase: not a terminal and FASTCHAT_PASSPHRASE is not set', {
      hint: 'set FASTCHAT_PASSPHRASE, run `fastchat unlock` once in a terminal (the keys then stay unlocked for a while), or run the command in a terminal',
    });
  }
  for (let attempt = 1; ; attempt++) {
    const typed = await readHidden('passphrase: ');
    if (typed.length > 0) {
      try {
        return await use(typed, 'prompt');
      } catch (e) {
        if (!isWrong(e)) throw e;
      }
    }
    if (attempt >= PROMPT_TRIES) break;
    process.stderr.write(typed.length === 0 ? 'the passphrase is empty; try again\n' : 'wrong passphrase; try again\n');
  }
  throw new CliError('bad_passphrase', `wrong passphrase (${PROMPT_TRIES} tries); nothing was changed`, {
    hint: 'check FASTCHAT_HOME if this is not the home you meant',
  });
}

/** A new keystore passphrase (keygen): FASTCHAT_PASSPHRASE, else asked twice. */
export async function getPassphrase(opts: { confirm?: boolean } = {}): Promise<string> {
  const env = process.env.FASTCHAT_PASSPHRASE;
  if (env !== undefined && env.length > 0) return env;
  if (!canPrompt()) {
    throw new CliError('no_passphrase', 'no passphrase: not a terminal and FASTCHAT_PASSPHRASE is not set', {
      hint: 'set FASTCHAT_PASSPHRASE or run the command in a terminal',
    });
  }
  const first = await readHidden('passphrase: ');
  if (first.length === 0) throw new CliError('empty_passphrase', 'the passphrase must not be empty');
  if (opts.confirm) {
    const again = await readHidden('passphrase (again): ');
    if (again !== first) throw new CliError('passphrase_mismatch', 'the two passphrases differ; nothing was changed');
  }
  return first;
}

/**
 * The relay's rule for a new account password (relay/http/accounts.ts MIN_PASSWORD and
 * relay/schemas.ts): told before it is typed, checked before it is asked again.
 */
export const PASSWORD_MIN_CHARS = 8;
export const PASSWORD_MAX_CHARS = 1024;

export function passwordProblem(p: string): string | undefined {
  if (p.length < PASSWORD_MIN_CHARS) return `too short: at least ${PASSWORD_MIN_CHARS} characters`;
  if (p.length > PASSWORD_MAX_CHARS) return `too long: at most ${PASSWORD_MAX_CHARS} characters`;
  return undefined;
}

/**
 * A relay account password: from the environment variable `env` (FASTCHAT_PASSWORD unless said),
 * else asked on the terminal. A `fresh` password (a new account, a new password) must follow the
 * relay's length rule, which the prompt states up front and checks after the first entry (up to
 * PROMPT_TRIES tries); then it is asked again to confirm.
 */
export async function getPassword(opts: { fresh?: boolean; env?: string; what?: string } = {}): Promise<string> {
  const name = opts.env ?? 'FASTCHAT_PASSWORD';
  const what = opts.what ?? 'relay password';
  const env = process.env[name];
  if (env !== undefined && env.length > 0) {
    const problem = opts.fresh ? passwordProblem(env) : undefined;
    if (problem) throw usageError(`the ${what} in ${name} is ${problem}`);
    return env;
  }
  if (!canPrompt()) {
    throw new CliError('no_password', `no ${what}: not a terminal and ${name} is not set`, {
      hint: `set ${name} or run the command in a terminal`,
    });
  }
  if (!opts.fresh) return readHidden(`${what}: `);
  for (let attempt = 1; ; attempt++) {
    const first = await readHidden(`${what} (${PASSWORD_MIN_CHARS} to ${PASSWORD_MAX_CHARS} characters): `);
    const problem = passwordProblem(first);
    if (!problem) {
      const again = await readHidden(`${what} (again): `);
      if (again !== first) throw new CliError('password_mismatch', 'the two passwords differ; nothing was changed');
      return first;
    }
    if (attempt >= PROMPT_TRIES) throw usageError(`the ${what} is ${problem}`);
    process.stderr.write(`the ${what} is ${problem}; try again\n`);
  }
}

/** A hint for a refused password, worded by where it came from (the variable only to who set it). */
export function passwordHint(env = 'FASTCHAT_PASSWORD'): string {
  const v = process.env[env];
  return v !== undefined && v.length > 0 ? `check ${env}` : 'check the username and the password you typed (repeated failures are rate-limited by the relay)';
}

/** The new password of `passwd`: FASTCHAT_NEW_PASSWORD, else asked twice. */
export function getNewPassword(): Promise<string> {
  return getPassword({ fresh: true, env: 'FASTCHAT_NEW_PASSWORD', what: 'new relay password' });
}
