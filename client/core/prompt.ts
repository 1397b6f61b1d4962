// Secrets come from the environment (scripts, tests) or from a hidden prompt on a terminal. Never
// from an argument: argv is visible to every user of the machine in `ps`.
import { CliError } from '../errors.js';

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

function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** The keystore passphrase: FASTCHAT_PASSPHRASE, else asked (twice when it is a new one). */
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
 * A relay account password: from the environment variable `env` (FASTCHAT_PASSWORD unless said),
 * else asked on the terminal, twice with `confirm`.
 */
export async function getPassword(opts: { confirm?: boolean; env?: string; what?: string } = {}): Promise<string> {
  const name = opts.env ?? 'FASTCHAT_PASSWORD';
  const what = opts.what ?? 'relay password';
  const env = process.env[name];
  if (env !== undefined && env.length > 0) return env;
  if (!canPrompt()) {
    throw new CliError('no_password', `no ${what}: not a terminal and ${name} is not set`, {
      hint: `set ${name} or run the command in a terminal`,
    });
  }
  const first = await readHidden(`${what}: `);
  if (opts.confirm) {
    const again = await readHidden(`${what} (again): `);
    if (again !== first) throw new CliError('password_mismatch', 'the two passwords differ; nothing was changed');
  }
  return first;
}

/** The new password of `passwd`: FASTCHAT_NEW_PASSWORD, else asked twice. */
export function getNewPassword(): Promise<string> {
  return getPassword({ confirm: true, env: 'FASTCHAT_NEW_PASSWORD', what: 'new relay password' });
}
