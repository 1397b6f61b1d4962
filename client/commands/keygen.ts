// `fastchat keygen [--force [--yes]]`
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('keygen')
    .description('create the identity key, prekeys and the encrypted keystore of this home')
    .option('--force', 'replace existing keys: says what it deletes (sessions, contacts, history), then asks you to type the username')
    .option('--yes', 'with --force: do not ask (for scripts)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nThe passphrase comes from FASTCHAT_PASSPHRASE or a hidden prompt.\n--force without --yes needs a terminal to confirm on.\n--force on a logged-in home publishes the new keys as `login --replace-keys` does: the account\npassword comes from FASTCHAT_PASSWORD or a prompt.\nExamples:\n  FASTCHAT_HOME=/tmp/alice fastchat keygen\n  fastchat keygen --force',
    )
    .action(async (opts: { force?: boolean; yes?: boolean; json?: boolean }) => {
      const { keygen, ownFingerprint } = await import('../core/keygen.js');
      const { loadConfig, loadToken } = await import('../core/config.js');
      const { hasKeys, homePaths } = await import('../core/home.js');
      const { print, printJson, warn } = await import('../format.js');
      const home = homePaths();
      if (opts.force && hasKeys(home)) await confirmReplace(home, loadConfig(home).username, opts.yes === true);
      const c = await keygen({ force: opts.force === true, warn });
      if (opts.force) {
        // An unlock agent holds the keys just replaced: end it.
        const { lockAgent } = await import('../core/passphrase.js');
        await lockAgent(c.home);
      }
      try {
        let published = false;
        // After --force on a registered home, the relay still has the old bundle: replace it now.
        // That is `login --replace-keys`: the relay takes a new device list under the new account
        // key (which cuts the account's other devices off) only just after a password login.
        if (opts.force && c.config.username && c.config.relay && loadToken(c.home)) {
          const { login } = await import('../core/account.js');
          try {
            await login(c, c.config.username, undefined, undefined, true);
            published = true;
          } catch (e) {
            warn(`new keys not published: ${e instanceof Error ? e.message : String(e)}; run \`fastchat login ${c.config.username} --replace-keys\``);
          }
        }
        const fp = ownFingerprint(c);
        if (opts.json) printJson({ home: c.home.dir, fingerprint: fp, published });
        else {
          print(`created keys in ${c.home.dir}`);
          print(`fingerprint: ${fp}`);
          if (published) print(`published the new keys to ${c.config.relay} as @${c.config.username}`);
          else if (!c.config.username) print('next: fastchat register <username> --relay URL');
        }
      } finally {
        c.close();
      }
    });
}

/**
 * Says exactly what `keygen --force` deletes, then asks for the username to be typed (the home's
 * folder name when it has no account): a replaced identity cannot be undone, and every contact
 * sees a changed key. `--yes` skips the question; without a terminal it is required.
 */
async function confirmReplace(home: { dir: string }, username: string | undefined, yes: boolean): Promise<void> {
  const { inventory } = await import('../core/home-inventory.js');
  const { homePaths } = await import('../core/home.js');
  const { CliError } = await import('../errors.js');
  const { basename } = await import('node:path');
  const inv = inventory(homePaths(home.dir));
  const n = (k: number, one: string, many = `${one}s`): string => `${k} ${k === 1 ? one : many}`;
  const lines = [
    `keygen --force replaces the keys of ${home.dir}${username ? ` (@${username})` : ''} and deletes:`,
    `  the identity key: contacts see a changed key and must verify you again`,
    `  ${n(inv.contacts, 'contact')} with their verification, ${n(inv.sessions, 'session')}`,
    `  ${n(inv.messages, 'message')} of history${inv.unsent > 0 ? `, of them ${n(inv.unsent, 'message')} not sent yet` : ''}`,
    `  ${n(inv.groups, 'group')} (you stop receiving their messages until an admin adds you again)`,
    `kept: the relay account and login, and the ${n(inv.files, 'received file')} in ${home.dir}/files`,
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
  if (yes) return;
  const word = username ?? basename(home.dir);
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new CliError('confirmation_needed', 'keygen --force needs a confirmation; nothing was changed', { hint: 'run it in a terminal, or add --yes' });
  }
  const readline = await import('node:readline/promises');
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const typed = (await rl.question(`type ${username ? 'the username' : 'the folder name'} (${word}) to go on: `)).trim().replace(/^@/, '');
    if (typed !== word) throw new CliError('not_confirmed', 'not confirmed; nothing was changed');
  } finally {
    rl.close();
  }
}
